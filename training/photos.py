"""Find the photos under an images root and check each one before it goes into an LST file.

An images root holds one folder per breed (`<wnid>-<breed>/<file>.jpg`, the Stanford Dogs layout). A
photo is *bad* when it cannot be used for training: unreadable, empty, not a JPEG/PNG image, truncated or
corrupt, smaller than the training image shape, or a byte-for-byte duplicate of a photo earlier in
sorted path order. Bad photos are reported and left out; CMYK, grayscale and alpha photos are fine
(training converts them to RGB) but counted.

Checking is I/O plus a JPEG decode at 1/8 scale (`Image.draft`): libjpeg still walks the whole
entropy-coded stream, so truncation is caught, at a fraction of a full decode. Pillow and hashlib release
the GIL, so a small thread pool scales with the cores.
"""
from __future__ import annotations

import hashlib
import io
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from training import classmap
from training.errors import UserError

EXTENSIONS = (".jpg", ".jpeg", ".png")  # matched without regard to case
FORMATS = ("JPEG", "MPO", "PNG")  # what the training job reads (MPO: a JPEG with extra frames)
MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}  # how the file starts
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class PhotoError(UserError, ValueError):
    """The images root is unusable, or (with strict checking) holds bad photos."""


@dataclass(frozen=True)
class Photo:
    """One candidate photo and what checking it found."""
    path: str  # relative to the images root: '<breed folder>/<file>'
    folder: str
    problem: str | None = None  # why it is bad; None when usable
    kind: str | None = None  # missing, unreadable, empty, not-image, corrupt, too-small, duplicate, bad-name
    mode: str | None = None  # Pillow mode, e.g. RGB, L, CMYK
    size: tuple[int, int] | None = None  # (width, height)
    alpha: bool = False
    digest: str | None = None


@dataclass
class Scan:
    """What `scan` found: the usable photos in sorted path order, the bad ones and some counts."""
    root: Path
    folders: list[str]  # the selected breed folders, sorted
    good: list[Photo]
    bad: list[Photo]
    ignored: list[str] = field(default_factory=list)  # files that are not .jpg/.jpeg/.png
    min_size: tuple[int, int] = (224, 224)  # (height, width) a photo had to reach

    @property
    def modes(self) -> dict[str, int]:
        return dict(sorted(Counter(p.mode for p in self.good).items()))

    @property
    def grayscale(self) -> int:
        return sum(p.mode in GRAYSCALE_MODES for p in self.good)

    @property
    def cmyk(self) -> int:
        return sum(p.mode == "CMYK" for p in self.good)

    @property
    def alpha(self) -> int:
        return sum(p.alpha for p in self.good)

    def per_folder(self) -> dict[str, int]:
        counts = Counter(p.folder for p in self.good)
        return {f: counts.get(f, 0) for f in self.folders}

    def report(self) -> dict:
        """The scan report written beside the LST files (deterministic: no times, no absolute paths)."""
        bad_kinds = Counter(p.kind for p in self.bad)
        return {
            "root": str(self.root),
            "min_size": {"height": self.min_size[0], "width": self.min_size[1]},
            "scanned": len(self.good) + len(self.bad),
            "good": len(self.good),
            "bad": [{"path": p.path, "kind": p.kind, "reason": p.problem} for p in self.bad],
            "bad_counts": dict(sorted(bad_kinds.items())),
            "counts": {"grayscale": self.grayscale, "cmyk": self.cmyk, "alpha": self.alpha},
            "modes": self.modes,
            "per_class": self.per_folder(),
            "ignored": self.ignored,
        }


def breed_folders(root: str | Path) -> list[str]:
    """The breed folders under an images root, sorted by name (hidden folders skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise PhotoError(f"{root}: no such images folder")
    folders = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    images = root / "Images"
    if "Images" in folders and any(d.is_dir() for d in images.iterdir()):
        raise PhotoError(f"{root}: holds the dataset's Images folder, not breed folders; "
                         f"did you mean {images}?")
    if not folders:
        raise PhotoError(f"{root}: no breed folders (<wnid>-<breed>/) in it")
    return folders


def select_classes(folders: Sequence[str], classes: int | str | Iterable[str] | None) -> list[str]:
    """Pick breed folders: all (None), the first N (an int or a digit string), or by name.

    Names may be folder names (`n02099601-golden_retriever`), display names (`golden retriever`,
    case-insensitive, `_` or space) or WordNet ids (`n02099601`); a string is split on commas. The
    result is sorted by folder name, whatever the order asked for, so class ids follow folder order.
    """
    folders = sorted(folders)
    if classes is None or classes == "":
        return folders
    if isinstance(classes, str) and classes.strip().isdigit():
        classes = int(classes.strip())
    if isinstance(classes, int) and not isinstance(classes, bool):
        if not 1 <= classes <= len(folders):
            raise PhotoError(f"classes: {classes} is out of range; allowed: 1..{len(folders)} "
                             f"(the breed folders found)")
        return folders[:classes]
    names = classes.split(",") if isinstance(classes, str) else list(classes)
    lookup = _name_lookup(folders)
    chosen = set()
    for name in (n.strip() for n in names):
        if not name:
            continue
        folder = lookup.get(_name_key(name))
        if folder is None:
            raise PhotoError(f"classes: no breed folder matches {name!r}; "
                             f"known: {', '.join(classmap.display_name(f) for f in folders)}")
        chosen.add(folder)
    if not chosen:
        raise PhotoError("classes: no breed named; give a number or comma-separated breeds")
    return sorted(chosen)


def scan(root: str | Path, *, classes: int | str | Iterable[str] | None = None,
         min_size: tuple[int, int] = (224, 224), workers: int | None = None,
         progress: bool | None = None) -> Scan:
    """Check every photo of the selected breed folders; `min_size` is (height, width).

    `progress=None` shows a progress bar only on a terminal.
    """
    root = Path(root)
    folders = select_classes(breed_folders(root), classes)
    candidates, ignored = _candidates(root, folders)
    workers = workers or min(8, (os.cpu_count() or 1) + 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        checked = list(tqdm(pool.map(lambda rel: check_photo(root, rel, min_size), candidates),
                            total=len(candidates), desc="checking photos", unit="photo",
                            disable=None if progress is None else not progress, leave=False))
    good, bad = _drop_duplicates(checked)
    return Scan(root=root, folders=folders, good=good, bad=bad, ignored=ignored,
                min_size=tuple(min_size))


def check_photo(root: Path, rel: str, min_size: tuple[int, int] = (224, 224)) -> Photo:
    """Check one photo (a path relative to `root`); never raises for a bad file."""
    folder = rel.split("/", 1)[0]

    def bad(kind: str, problem: str, **extra) -> Photo:
        return Photo(rel, folder, problem=problem, kind=kind, **extra)

    if any(ch in rel for ch in "\t\r\n"):
        return bad("bad-name", "name holds a tab or line break (the LST format cannot list it)")
    try:
        data = (root / rel).read_bytes()
    except FileNotFoundError:  # listed (an LST line) but not there
        return bad("missing", "missing")
    except OSError as exc:
        return bad("unreadable", f"unreadable: {exc.strerror or exc}")
    if not data:
        return bad("empty", "empty file")
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, mode, size = image.format, image.mode, image.size
            alpha = mode in ALPHA_MODES or "transparency" in image.info
            if fmt not in FORMATS:
                return bad("not-image", f"not a JPEG or PNG image ({fmt})", mode=mode, size=size)
            if fmt in ("JPEG", "MPO"):
                image.draft(mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
            image.load()
    except UnidentifiedImageError:
        for magic, fmt in MAGIC.items():
            if data.startswith(magic):
                return bad("corrupt", f"truncated or corrupt: no readable {fmt} header")
        return bad("not-image", "not an image")
    except Image.DecompressionBombError as exc:
        return bad("corrupt", f"too many pixels to decode safely ({exc})")
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return bad("corrupt", f"truncated or corrupt: {exc}")
    height, width = min_size
    if size[0] < width or size[1] < height:
        return bad("too-small", f"too small: {size[0]}x{size[1]} < {width}x{height} (the training "
                                f"image shape)", mode=mode, size=size)
    return Photo(rel, folder, mode=mode, size=size, alpha=alpha, digest=digest)


def _candidates(root: Path, folders: Sequence[str]) -> tuple[list[str], list[str]]:
    """Photo paths (`folder/file`, sorted) and the other files found beside them."""
    photos, ignored = [], []
    for folder in folders:
        for entry in os.scandir(root / folder):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            rel = f"{folder}/{entry.name}"
            (photos if entry.name.lower().endswith(EXTENSIONS) else ignored).append(rel)
    return sorted(photos), sorted(ignored)


def _drop_duplicates(checked: Sequence[Photo]) -> tuple[list[Photo], list[Photo]]:
    """Split into good and bad; a duplicate is the second and later copy in sorted path order."""
    first_of: dict[str, str] = {}
    good, bad = [], []
    for photo in checked:
        if photo.problem is not None:
            bad.append(photo)
        elif photo.digest in first_of:
            original = first_of[photo.digest]
            labels = "" if original.split("/")[0] == photo.folder else " (another breed)"
            bad.append(Photo(photo.path, photo.folder, problem=f"duplicate of {original}{labels}",
                             kind="duplicate", mode=photo.mode, size=photo.size, alpha=photo.alpha,
                             digest=photo.digest))
        else:
            first_of[photo.digest] = photo.path
            good.append(photo)
    return good, bad


def _name_key(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


def _name_lookup(folders: Sequence[str]) -> dict[str, str]:
    lookup = {}
    for folder in folders:
        lookup[_name_key(folder)] = folder
        lookup[_name_key(classmap.display_name(folder))] = folder
        wnid = folder.partition("-")[0]
        if "-" in folder:
            lookup.setdefault(_name_key(wnid), folder)
    return lookup
