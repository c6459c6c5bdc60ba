"""Atomic writes reach the disk: the temp file is synced before the rename, the folder after it."""
from __future__ import annotations

import pytest

from tests.fixtures.durability import synced_before_rename
from training.files import replacing, write_text_atomic


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
