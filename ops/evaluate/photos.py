"""The photos of an LST file: read, hashed and checked before anything is predicted.

A photo that is missing, unreadable, not a decodable image or labelled with a class id outside the class
map is set aside with the reason (reported in metrics.json and on the console); the rest are evaluated.
"""
from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from training.lst import LstEntry, read_lst


@dataclass(frozen=True)
class Photo:
    index: int      # the LST line's image index
    class_id: int   # the given label
    path: str       # relative to the images root, as in the LST
    sha256: str     # of the file's bytes: the prediction cache key (with the model id)


@dataclass(frozen=True)
class Skipped:
    index: int
    path: str
    reason: str


def scan(lst: str | Path, data: str | Path, num_classes: int, workers: int = 4,
         progress: bool = True) -> tuple[list[Photo], list[Skipped]]:
    """Check every photo of an LST file: (usable photos in LST order, skipped ones with reasons)."""
    entries = read_lst(lst)
    root = Path(data)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        checks = pool.map(lambda e: _check(e, root, num_classes), entries)
        results = list(tqdm(checks, total=len(entries), unit="img", desc="check photos",
                            disable=not progress, leave=False))
    photos = [r for r in results if isinstance(r, Photo)]
    skipped = [r for r in results if isinstance(r, Skipped)]
    return photos, skipped


def read_bytes(data: str | Path, photo: Photo) -> bytes:
    return (Path(data) / photo.path).read_bytes()


def _check(entry: LstEntry, root: Path, num_classes: int) -> Photo | Skipped:
    if not 0 <= entry.class_id < num_classes:
        return Skipped(entry.index, entry.path,
                       f"class id {entry.class_id} is not in the class map (0..{num_classes - 1})")
    try:
        body = (root / entry.path).read_bytes()
    except FileNotFoundError:
        return Skipped(entry.index, entry.path, "missing")
    except OSError as exc:
        return Skipped(entry.index, entry.path, f"unreadable ({exc.strerror or exc})")
    try:
        with Image.open(io.BytesIO(body)) as img:
            img.load()
    except Exception as exc:  # Pillow raises many types for bad data; every one means "corrupt"
        return Skipped(entry.index, entry.path, f"corrupt ({type(exc).__name__}: {exc})"[:200])
    return Photo(entry.index, entry.class_id, entry.path, hashlib.sha256(body).hexdigest())
