"""Describing LST files: samples, classes, images per class, overlap between files (`invoke lst --describe`).

Its names are also reachable as `training.lst.X`.
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from training import classmap
from training.lst import LstEntry, LstError, read_lst


@dataclass(frozen=True)
class LstSummary:
    path: Path
    samples: int
    class_counts: dict[int, int]  # class id -> images, sorted by id
    index_range: tuple[int, int] | None
    duplicate_indexes: int
    duplicate_paths: int

    @property
    def role(self) -> str:
        name = self.path.name
        if name.endswith("_train.lst"):
            return "train"
        return "test" if name.endswith("_test.lst") else "?"

    @property
    def num_classes(self) -> int:
        return len(self.class_counts)

    @property
    def per_class(self) -> tuple[int, float, int]:
        """(min, mean, max) images per class present in the file."""
        values = list(self.class_counts.values()) or [0]
        return min(values), statistics.fmean(values), max(values)


@dataclass(frozen=True)
class LstInfo:
    files: list[LstSummary]
    entries: dict[Path, list[LstEntry]]
    shared_paths: int  # images listed in more than one of the files

    @property
    def num_classes(self) -> int:
        """Class ids are 0-based, so the number of classes is the highest id + 1."""
        ids = [c for f in self.files for c in f.class_counts]
        return max(ids) + 1 if ids else 0

    @property
    def num_training_samples(self) -> int:
        """Images in the (first) train file, else in the first file."""
        trains = [f for f in self.files if f.role == "train"] or self.files
        return trains[0].samples


def summarize(path: str | Path, entries: Sequence[LstEntry]) -> LstSummary:
    counts = Counter(e.class_id for e in entries)
    indexes = [e.index for e in entries]
    return LstSummary(path=Path(path), samples=len(entries),
                      class_counts=dict(sorted(counts.items())),
                      index_range=(min(indexes), max(indexes)) if indexes else None,
                      duplicate_indexes=len(indexes) - len(set(indexes)),
                      duplicate_paths=len(entries) - len({e.path for e in entries}))


def describe(paths: Iterable[str | Path]) -> LstInfo:
    """Read LST files and summarise them (samples, classes, images per class, overlap)."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise LstError("no LST file given")
    entries = {p: read_lst(p) for p in paths}
    seen: Counter[str] = Counter()
    for items in entries.values():
        seen.update({e.path for e in items})
    return LstInfo(files=[summarize(p, entries[p]) for p in paths], entries=entries,
                   shared_paths=sum(1 for n in seen.values() if n > 1))


def expand_paths(text: str | Iterable[str | Path]) -> list[Path]:
    """LST paths from a comma-separated string (or a list); a folder stands for its `*.lst` files,
    train files first."""
    items = [p.strip() for p in text.split(",")] if isinstance(text, str) else list(text)
    paths: list[Path] = []
    for item in (Path(i) for i in items if str(i)):
        if item.is_dir():
            found = sorted(item.glob("*.lst"),
                           key=lambda p: (not p.name.endswith("_train.lst"), p.name))
            if not found:
                raise LstError(f"{item}: no .lst files in this folder")
            paths.extend(found)
        else:
            paths.append(item)
    return paths


def class_names(path: str | Path) -> list[str]:
    """Class names by id from a `classes.json` or a text file of breed folders, one a line."""
    path = Path(path)
    if path.is_dir() or path.suffix == ".json":
        return [c.name for c in classmap.load(path)]
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (FileNotFoundError, IsADirectoryError):
        raise LstError(f"{path}: no such classes file") from None
    return [classmap.display_name(line) for line in lines if line]
