"""The project's small state file: what one command leaves for the next (e.g. train -> deploy).

It lives in the project's work folder (`.dogs/` beside `config.yaml`, or `$DOGS_HOME`), is JSON, and is
always replaced whole (written to a temp name, then renamed), so a crash never leaves half a file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ops.config import PROJECT_ROOT


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
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        data = {}
    data[key] = value
    write_json_atomic(path, data)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` through a temp file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
