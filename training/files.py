"""Atomic file writes: a temp file in the same folder, then a rename, so no reader sees half a file.

The data reaches the disk (fsync) before the rename, and the rename before the call returns (fsync of
the folder): after a crash or power loss the file is the old one or the new one, never empty. Every
atomic write of the project (state, checkpoints, model.tar.gz, downloads, LST files, reports) goes
through `replacing`, imported by training/ and ops/ alike. A process killed mid-write leaves its temp
file; `leftovers` finds those (the temp name's pattern lives here only).
"""
from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path
from typing import Iterator


TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def replacing(path: str | Path, *, mode: int | None = None) -> Iterator[Path]:
    """A temp path beside `path` for the caller to write; when the block ends it is synced, given
    `mode` (None: mkstemp's 0600 unless the writer replaced the file) and renamed over `path`, then the
    folder is synced. On an error it is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=TEMP_SUFFIX)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        sync_file(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def leftovers(path: str | Path) -> list[Path]:
    """The temp files of `replacing(path)` calls that were killed mid-write (or are writing now)."""
    path = Path(path)
    return sorted(path.parent.glob(glob.escape(_temp_prefix(path)) + "*" + TEMP_SUFFIX))


def remove_leftovers(path: str | Path) -> None:
    """Remove `path`'s leftover temp files; only where no other process may be writing `path` now."""
    for stale in leftovers(path):
        stale.unlink(missing_ok=True)


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 text with LF line ends to `path` atomically; returns the path."""
    path = Path(path)
    with replacing(path, mode=0o644) as tmp:  # mkstemp makes 0600; these files are meant to be shared
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    return path


def sync_file(path: str | Path) -> None:
    """fsync a written file, so its data is on disk before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: str | Path) -> None:
    """fsync a folder, so a rename in it is on disk (where the platform allows opening folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
