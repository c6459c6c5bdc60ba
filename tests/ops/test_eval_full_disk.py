"""`invoke evaluate` on a disk that fills up (issue 16's fault suite): a clear error and exit status, no
traceback; the prediction cache stays a sound SQLite database holding what was committed; once there is
room again the rerun resumes from it and writes the report.

The disk is a real filesystem of 16 MiB (tmpfs, mounted here; skipped where mounting is not allowed) and
the model is the real tiny artifact, predicting in-process.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from ops.core.config import PROJECT_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)


def fill(disk, leave_bytes: int) -> None:
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    (disk / "filler").write_bytes(b"\0" * max(free - leave_bytes, 0))


def evaluate(home, disk, artifact, lst_dir, dogs10) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", "evaluate", "--lst", str(lst_dir / "tiny_test.lst"),
                           "--data", str(dogs10), "--model", str(artifact), "--no-progress",
                           "--batch-size", "2", "--cache", str(disk / "cache.sqlite"),
                           "--out", str(disk / "report")],
                          cwd=PROJECT_ROOT, env={**os.environ, "DOGS_HOME": str(home)},
                          capture_output=True, text=True, timeout=600)


def cached_rows(disk) -> int:
    """The cache is a sound database; how many predictions it kept (none when the disk filled before
    its table was made)."""
    with sqlite3.connect(disk / "cache.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        if not db.execute("SELECT name FROM sqlite_master WHERE name = 'predictions'").fetchone():
            return 0
        return db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]


@pytest.mark.parametrize("room", [24 * 1024, 160 * 1024], ids=["cache-fills-it", "report-fills-it"])
def test_a_full_disk_is_a_clear_error_and_the_rerun_resumes(small_disk, tmp_path, tiny_artifact,
                                                            tiny_lst_dir, dogs10, room):
    fill(small_disk, room)
    full = evaluate(tmp_path / "home", small_disk, tiny_artifact, tiny_lst_dir, dogs10)
    message = full.stdout + full.stderr
    assert full.returncode != 0, message[-2000:]
    assert "Traceback" not in message and "space" in message.lower(), message[-2000:]
    (small_disk / "filler").unlink()  # room again (SQLite needs some to open the cache at all)
    kept = cached_rows(small_disk)
    rerun = evaluate(tmp_path / "home", small_disk, tiny_artifact, tiny_lst_dir, dogs10)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-2000:]
    images = json.loads((small_disk / "report" / "metrics.json").read_text())["images"]
    assert images["from_cache"] == kept and images["predicted_now"] == 30 - kept
