"""The photos an evaluation reads, checked before anything is predicted: an LST file's (labelled with
their breed) and an unknown-breed folder's (every photo under it, at any depth).

Each photo goes through the LST builder's own check (`training.photos.check_photo`, without its minimum
size: serving resizes any photo). A photo that is missing, unreadable, not a decodable JPEG/PNG image or
labelled with a class id outside the class map is set aside with the reason (reported in metrics.json and
on the console); the rest are evaluated.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from training.lst import LstEntry, read_lst
from training.photos import EXTENSIONS, check_photo

UNLABELLED = -1  # the class id of an unknown-breed folder's photos
ANY_SIZE = (0, 0)


@dataclass(frozen=True)
class EvaluationPhoto:
    index: int      # the LST line's image index (an unknown-breed folder: the photo's place in it)
    class_id: int   # the given label (UNLABELLED in an unknown-breed folder)
    path: str       # relative to the images root, as in the LST
    sha256: str     # of the file's bytes: the prediction cache key (with the model id)


@dataclass(frozen=True)
class Skipped:
    index: int
    path: str
    reason: str


def check_lst(lst: str | Path, data: str | Path, num_classes: int, workers: int = 4,
              progress: bool = True) -> tuple[list[EvaluationPhoto], list[Skipped]]:
    """Check every photo of an LST file: (usable photos in LST order, skipped ones with reasons)."""
    entries = read_lst(lst)
    return _check_all(entries, Path(data), num_classes, workers, progress)


def check_folder(folder: str | Path, workers: int = 4,
                 progress: bool = True) -> tuple[list[EvaluationPhoto], list[Skipped]]:
    """Check every JPEG/PNG photo under an unknown-breed folder (any depth, sorted by path)."""
    root = Path(folder)
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                   if p.is_file() and p.suffix.lower() in EXTENSIONS and not p.name.startswith("."))
    entries = [LstEntry(i, UNLABELLED, rel) for i, rel in enumerate(paths)]
    return _check_all(entries, root, None, workers, progress)


def read_bytes(data: str | Path, photo: EvaluationPhoto) -> bytes:
    return (Path(data) / photo.path).read_bytes()


def _check_all(entries: Sequence[LstEntry], root: Path, num_classes: int | None, workers: int,
               progress: bool) -> tuple[list[EvaluationPhoto], list[Skipped]]:
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        checks = pool.map(lambda e: _check(e, root, num_classes), entries)
        results = list(tqdm(checks, total=len(entries), unit="img", desc="check photos",
                            disable=not progress, leave=False))
    photos = [r for r in results if isinstance(r, EvaluationPhoto)]
    skipped = [r for r in results if isinstance(r, Skipped)]
    return photos, skipped


def _check(entry: LstEntry, root: Path, num_classes: int | None) -> EvaluationPhoto | Skipped:
    if num_classes is not None and not 0 <= entry.class_id < num_classes:
        return Skipped(entry.index, entry.path,
                       f"class id {entry.class_id} is not in the class map (0..{num_classes - 1})")
    checked = check_photo(root, entry.path, ANY_SIZE)
    if checked.problem is not None:
        return Skipped(entry.index, entry.path, checked.problem)
    return EvaluationPhoto(entry.index, entry.class_id, entry.path, checked.digest)
