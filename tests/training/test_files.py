"""Atomic writes reach the disk: the temp file is synced before the rename, the folder after it."""
from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from tests.fixtures.durability import synced_before_rename
from training.files import leftovers, remove_leftovers, replacing, write_text_atomic


def test_a_text_write_syncs_the_file_before_the_rename_and_the_folder_after(tmp_path, disk_events):
    write_text_atomic(tmp_path / "a.txt", "one\n")

    assert (tmp_path / "a.txt").read_text() == "one\n"
    assert synced_before_rename(disk_events, tmp_path / "a.txt")


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"old")

    with pytest.raises(RuntimeError), replacing(tmp_path / "a.bin") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")

    assert (tmp_path / "a.bin").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def _killed_mid_write(path: str) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(b"half")
        os._exit(9)  # as SIGKILL: no cleanup runs


def kill_a_writer_of(path: Path) -> None:
    """A process that dies (no cleanup) while `replacing(path)` has written half its temp file."""
    child = multiprocessing.get_context("fork").Process(target=_killed_mid_write, args=(str(path),))
    child.start()
    child.join(60)
    assert child.exitcode == 9


@pytest.mark.parametrize("name", ["model.pt", "run[1]*.json"], ids=["plain", "glob-characters"])
def test_the_temp_file_a_killed_write_left_is_found_and_removed(tmp_path, name):
    # Given a file, a killed write of it, and a neighbour's leftover and files of similar names
    path = tmp_path / name
    path.write_bytes(b"old")
    kill_a_writer_of(path)
    others = [tmp_path / ".other.pt.x.tmp", tmp_path / f"{name}.tmp", tmp_path / f".{name}"]
    for other in others:
        other.write_bytes(b"not ours")

    found = leftovers(path)
    contents = [p.read_bytes() for p in found]
    remove_leftovers(path)

    # Then only the killed write's temp file was found, and removing it left the rest as it was
    assert contents == [b"half"] and found[0].name.startswith(f".{name}.")
    assert leftovers(path) == [] and path.read_bytes() == b"old"
    assert all(other.read_bytes() == b"not ours" for other in others)
