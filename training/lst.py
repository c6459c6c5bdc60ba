"""LST files: the image lists SageMaker's image-classification algorithm reads.

One image a line, tab-separated, no header, LF line ends: `<image index>\t<class id>\t<relative path>`.
Paths are relative to the images root (the folder holding one sub-folder per breed).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from training.errors import UserError


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.writelines(format_entry(e) for e in entries)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
