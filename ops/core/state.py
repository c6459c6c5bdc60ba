"""The project's small state file: what one command leaves for the next (e.g. train -> deploy).

It lives in the project's work folder (`.dogs/` beside `config.yaml`, or `$DOGS_HOME`), is JSON, and is
always replaced whole (written to a temp name, synced, then renamed), so a crash never leaves half a file.
Updates hold a lock on `state.json.lock` from read to rename, so two commands at once lose nothing.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from ops.core.config import PROJECT_ROOT
from training.files import write_text_atomic


def home() -> Path:
    """The work folder for state, logs and Terraform working directories."""
    path = Path(os.environ.get("DOGS_HOME") or PROJECT_ROOT / ".dogs")
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_file() -> Path:
    return home() / "state.json"


def read(key: str, default: Any = None) -> Any:
    try:
        return json.loads(state_file().read_text()).get(key, default)
    except FileNotFoundError:
        return default


def record(key: str, value: Any) -> None:
    path = state_file()
    with _locked(path):
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            data = {}
        data[key] = value
        write_json_atomic(path, data)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock for updating `path` (a lock file beside it, as the file itself is replaced)."""
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` through a synced temp file in the same folder and an atomic rename."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
