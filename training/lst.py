"""LST files: the image lists SageMaker's image-classification algorithm reads.

One image a line, tab-separated, no header, LF line ends: `<image index>\t<class id>\t<relative path>`.
Paths are relative to the images root (the folder holding one sub-folder per breed).

`render()` turns an images root into such files (what `invoke lst` runs): indexes 0..N-1 over the usable
photos in sorted path order, class ids 0-based over the sorted breed folders, a stratified split (or
stratified folds) decided by a seeded hash of each path, so the same photos and seed always give
byte-identical files, and adding a photo moves at most one other photo per breed between train and
test (only where a breed's test quota changes). Lines are written in index order.
Describing existing files (what `invoke lst.info` prints) is `training.lst_describe`.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

from training import classmap, photos
from training.errors import UserError
from training.files import write_text_atomic

REPORT = "scan_report.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class LstError(UserError, ValueError):
    """An LST file is missing or malformed."""


@dataclass(frozen=True, order=True)
class LstEntry:
    index: int
    class_id: int
    path: str  # relative to the images root, '/'-separated


def format_entry(entry: LstEntry) -> str:
    return f"{entry.index}\t{entry.class_id}\t{entry.path}\n"


def read_lst(path: str | Path) -> list[LstEntry]:
    """Read an LST file; a malformed line is an LstError naming the file and line number."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LstError(f"{path}: no such LST file") from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not fields[0].isdigit() or not _is_number(fields[1]):
            raise LstError(f"{path}:{number}: expected '<index>\\t<class id>\\t<path>', "
                           f"got {line[:80]!r}")
        entries.append(LstEntry(int(fields[0]), int(float(fields[1])), fields[2]))
    return entries


def write_lst(path: str | Path, entries: Iterable[LstEntry]) -> None:
    """Write an LST file atomically (temp file in the same folder, then rename)."""
    write_text_atomic(path, "".join(format_entry(e) for e in entries))


def find_split(lst_dir: str | Path, fold: int | None = None) -> tuple[Path, Path]:
    """The (train, test) LST files in a folder written by `invoke lst`.

    Without `fold` the folder must hold exactly one `*_train.lst` (and its `*_test.lst`); with it,
    the `*_fold_<fold>_train.lst` pair.
    """
    lst_dir = Path(lst_dir)
    pattern = f"*_fold_{fold}_train.lst" if fold is not None else "*_train.lst"
    trains = sorted(lst_dir.glob(pattern))
    if not trains:
        raise LstError(f"{lst_dir}: no {pattern} file; run `invoke lst` first")
    if len(trains) > 1:
        names = ", ".join(p.name for p in trains)
        raise LstError(f"{lst_dir}: several train LST files ({names}); choose one with --fold")
    test = trains[0].with_name(trains[0].name[: -len("_train.lst")] + "_test.lst")
    if not test.exists():
        raise LstError(f"{lst_dir}: {trains[0].name} has no matching {test.name}")
    return trains[0], test


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- splitting
def split_key(seed: int, path: str) -> bytes:
    """The seeded sort key that decides where a photo goes; stable across Python versions."""
    return hashlib.blake2b(f"{seed}\0{path}".encode(), digest_size=16).digest()


def stratified_split(entries: Sequence[LstEntry], test_fraction: float = 0.2,
                     seed: int = 0) -> tuple[list[LstEntry], list[LstEntry]]:
    """(train, test), both in index order; every class keeps `test_fraction` to within one image.

    The test set has round(test_fraction * N) images; each class gets the floor of its share and
    the leftover images go to the classes with the largest remainders (ties broken by the seed).
    Within a class, the photos with the smallest `split_key` are the test ones.
    """
    _check_fraction(test_fraction)
    fraction = Fraction(str(test_fraction))
    by_class = _by_class(entries, seed)
    quota = {c: math.floor(fraction * len(items)) for c, items in by_class.items()}
    leftover = math.floor(fraction * len(entries) + Fraction(1, 2)) - sum(quota.values())
    by_remainder = sorted(by_class, key=lambda c: (-(fraction * len(by_class[c]) - quota[c]),
                                                   split_key(seed, f"class {c}")))
    for c in by_remainder[:leftover]:
        quota[c] += 1
    test = [e for c, items in by_class.items() for e in items[:quota[c]]]
    test_ids = {e.index for e in test}
    return sorted(e for e in entries if e.index not in test_ids), sorted(test)


def stratified_folds(entries: Sequence[LstEntry], folds: int,
                     seed: int = 0) -> list[tuple[list[LstEntry], list[LstEntry]]]:
    """K (train, test) pairs whose test sets partition `entries`; each class is spread over the
    folds to within one image, and fold sizes differ by at most one."""
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise LstError(f"folds: {folds!r} is not allowed; allowed: an integer >= 2")
    fold_of: dict[int, int] = {}
    counter = 0
    for items in _by_class(entries, seed).values():
        for entry in items:
            fold_of[entry.index] = counter % folds
            counter += 1
    return [([e for e in entries if fold_of[e.index] != k],
             [e for e in entries if fold_of[e.index] == k]) for k in range(folds)]


def _by_class(entries: Sequence[LstEntry], seed: int) -> dict[int, list[LstEntry]]:
    groups: dict[int, list[LstEntry]] = defaultdict(list)
    for entry in entries:
        groups[entry.class_id].append(entry)
    return {c: sorted(groups[c], key=lambda e: split_key(seed, e.path)) for c in sorted(groups)}


def _check_fraction(test_fraction: float) -> None:
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) \
            or not 0 < test_fraction < 1:
        raise LstError(f"test fraction: {test_fraction!r} is not allowed; allowed: a number "
                       f"between 0 and 1 (exclusive), e.g. 0.2")


# ---------------------------------------------------------------- rendering
@dataclass(frozen=True)
class Split:
    """One written train/test pair; `fold` is None for a plain split."""
    fold: int | None
    train: Path
    test: Path
    train_count: int
    test_count: int


@dataclass
class RenderResult:
    out_dir: Path
    splits: list[Split]
    classes: list[classmap.BreedClass]
    class_counts: dict[int, tuple[int, int]]  # class id -> (train, test) of the first split
    scan: photos.Scan
    classes_path: Path
    report_path: Path
    removed: list[Path] = field(default_factory=list)  # stale LST files of the same name

    @property
    def files(self) -> list[Path]:
        lst_files = [p for s in self.splits for p in (s.train, s.test)]
        return lst_files + [self.classes_path, self.report_path]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_training_samples(self) -> int:
        return self.splits[0].train_count


def render(data_dir: str | Path, out_dir: str | Path, *, test_fraction: float = 0.2, seed: int = 0,
           folds: int | None = None, classes: int | str | Iterable[str] | None = None,
           name: str = "dogs", strict: bool = False, min_size: tuple[int, int] = (224, 224),
           progress: bool | None = None) -> RenderResult:
    """Scan `data_dir` and write the LST files, `classes.json` and `scan_report.json` into `out_dir`.

    With `folds` (K >= 2) it writes `<name>_fold_<k>_{train,test}.lst` for k = 1..K (the test sets
    partition the photos) instead of `<name>_{train,test}.lst`, and `test_fraction` is not used.
    Bad photos are left out and listed in the report; with `strict` they are a PhotoError (the
    report is still written). `min_size` is the training image (height, width).
    """
    _check_options(test_fraction, seed, folds, name)
    out_dir = Path(out_dir)
    scan = photos.scan(data_dir, classes=classes, min_size=min_size, progress=progress)
    report_path = out_dir / REPORT
    if strict and scan.bad:
        write_text_atomic(report_path, json.dumps(scan.report(), indent=1) + "\n")
        first = scan.bad[0]
        raise photos.PhotoError(f"{len(scan.bad)} bad photo(s) under {scan.root} (first: "
                                f"{first.path}: {first.problem}); see {report_path}, or run "
                                f"without --strict to leave them out")
    breed_classes = _classes_of(scan)
    class_of = {c.folder: c.id for c in breed_classes}
    entries = [LstEntry(i, class_of[p.folder], p.path) for i, p in enumerate(scan.good)]
    if folds is None:
        train, test = stratified_split(entries, test_fraction, seed)
        _check_split(train, test, breed_classes, test_fraction)
        planned = [(None, f"{name}_train.lst", train, f"{name}_test.lst", test)]
    else:
        _check_folds(folds, scan)
        planned = [(k, f"{name}_fold_{k}_train.lst", train, f"{name}_fold_{k}_test.lst", test)
                   for k, (train, test) in enumerate(stratified_folds(entries, folds, seed), 1)]
    splits = []
    for fold, train_name, train, test_name, test in planned:
        write_lst(out_dir / train_name, train)
        write_lst(out_dir / test_name, test)
        splits.append(Split(fold, out_dir / train_name, out_dir / test_name, len(train), len(test)))
    classes_path = write_text_atomic(out_dir / classmap.FILENAME, classmap.to_json(breed_classes))
    write_text_atomic(report_path, json.dumps(scan.report(), indent=1) + "\n")
    removed = _remove_stale(out_dir, name, {p for s in splits for p in (s.train, s.test)})
    _, _, first_train, _, first_test = planned[0]
    trained, tested = Counter(e.class_id for e in first_train), Counter(e.class_id for e in first_test)
    return RenderResult(out_dir=out_dir, splits=splits, classes=breed_classes,
                        class_counts={c.id: (trained[c.id], tested[c.id]) for c in breed_classes},
                        scan=scan, classes_path=classes_path, report_path=report_path,
                        removed=removed)


def _check_options(test_fraction: float, seed: int, folds: int | None, name: str) -> None:
    _check_fraction(test_fraction)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise LstError(f"seed: {seed!r} is not allowed; allowed: an integer >= 0")
    if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int) or folds < 2):
        raise LstError(f"folds: {folds!r} is not allowed; allowed: an integer >= 2")
    if not _NAME.match(name) or "_fold_" in name:
        raise LstError(f"name: {name!r} is not allowed; allowed: letters, digits, '.', '_', '-' "
                       f"(not containing '_fold_'), e.g. dogs")


def _classes_of(scan: photos.Scan) -> list[classmap.BreedClass]:
    """The class map of the scanned breeds; each must have a usable photo, and there must be two."""
    counts = scan.per_folder()
    empty = [f for f, n in counts.items() if n == 0]
    if empty:
        more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
        raise photos.PhotoError(f"{empty[0]}: no usable photos in this breed folder{more}; "
                                f"add photos, remove it, or pick breeds with --classes")
    if len(scan.folders) < 2:
        raise photos.PhotoError(f"{scan.root}: one breed ({scan.folders[0]}); a classifier "
                                f"needs at least 2")
    return classmap.from_folders(scan.folders)


def _check_folds(folds: int, scan: photos.Scan) -> None:
    counts = scan.per_folder()
    smallest = min(counts, key=lambda f: counts[f])
    if counts[smallest] < folds:
        raise LstError(f"folds: {folds} is more than the {counts[smallest]} usable photos of "
                       f"{smallest}; every fold must test every breed")


def _check_split(train: list[LstEntry], test: list[LstEntry],
                 breed_classes: list[classmap.BreedClass], test_fraction: float) -> None:
    if not test:
        raise LstError(f"test fraction: {test_fraction} of {len(train)} photos leaves no test photo; "
                       f"raise --test-fraction")
    trained = {e.class_id for e in train}
    missing = [c.folder for c in breed_classes if c.id not in trained]
    if missing:
        raise LstError(f"test fraction: {test_fraction} leaves {missing[0]} with no training photo; "
                       f"lower --test-fraction or add photos")


def derived_hyperparameters(lst_dir: str | Path, fold: int | None = None) -> dict[str, int]:
    """`num_classes` and `num_training_samples` of the LST files in a folder written by `render`
    (the class count from its `classes.json` when there is one, else the highest class id + 1)."""
    train, test = find_split(lst_dir, fold)
    entries = read_lst(train)
    if (Path(lst_dir) / classmap.FILENAME).exists():
        num_classes = len(classmap.load(lst_dir))
    else:
        num_classes = max(e.class_id for e in entries + read_lst(test)) + 1
    return {"num_classes": num_classes, "num_training_samples": len(entries)}


def _remove_stale(out_dir: Path, name: str, written: set[Path]) -> list[Path]:
    """LST files of the same name from an earlier render (another K, or folds vs. a plain split)."""
    pattern = re.compile(rf"^{re.escape(name)}(_fold_\d+)?_(train|test)\.lst$")
    stale = [p for p in sorted(out_dir.iterdir()) if pattern.match(p.name) and p not in written]
    for path in stale:
        path.unlink()
    return stale

