"""The class map: class id → breed folder → display name, written beside the LST files.

Training, the Lambda and the evaluation all read the same `classes.json`:
`{"classes": [{"id": 0, "folder": "n02085620-Chihuahua", "wnid": "n02085620", "name": "Chihuahua"}, ...]}`
Class ids are 0-based over the breed folders sorted by name, as in the original project.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from training.errors import UserError

FILENAME = "classes.json"


class ClassMapError(UserError, ValueError):
    """A class map is missing or malformed."""


@dataclass(frozen=True)
class BreedClass:
    id: int
    folder: str
    wnid: str
    name: str


def display_name(folder: str) -> str:
    """`n02099601-golden_retriever` → `golden retriever`; `n02086240-Shih-Tzu` → `Shih-Tzu`."""
    _, sep, breed = folder.partition("-")
    return (breed if sep else folder).replace("_", " ")


def from_folders(folders: Iterable[str]) -> list[BreedClass]:
    """Class ids over the folder names sorted by name."""
    return [BreedClass(i, f, f.partition("-")[0] if "-" in f else "", display_name(f))
            for i, f in enumerate(sorted(folders))]


def to_json(classes: list[BreedClass]) -> str:
    return json.dumps({"classes": [asdict(c) for c in classes]}, indent=1) + "\n"


def from_json(text: str, source: str = "class map") -> list[BreedClass]:
    try:
        items = json.loads(text)["classes"]
        classes = [BreedClass(int(c["id"]), c["folder"], c.get("wnid", ""), c["name"])
                   for c in items]
    except (ValueError, KeyError, TypeError) as exc:
        raise ClassMapError(f"{source}: not a class map ({exc})") from None
    if [c.id for c in classes] != list(range(len(classes))):
        raise ClassMapError(f"{source}: class ids must run 0..{len(classes) - 1} in order")
    return classes


def load(path: str | Path) -> list[BreedClass]:
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    try:
        return from_json(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        raise ClassMapError(f"{path}: no class map; run `invoke lst` first") from None
