"""The project's small state file: what one command leaves for the next (e.g. train -> deploy).

It lives in the project's work folder (`.dogs/` beside `config.yaml`, or `$DOGS_HOME`), is JSON, and is
always replaced whole (written to a temp name, synced, then renamed), so a crash never leaves half a file.
Every change holds a lock on `state.json.lock` from read to rename: `record` sets a key, `update` reads
a key, applies a function and writes the result back, so two commands at once lose nothing (a caller
that reads, changes and records a key itself could lose the other command's change).
The trained artifact is a typed record (`TrainedArtifact`): `record_trained` is its one writer and
`trained` its one reader.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from ops.core.config import project_root
from training.files import write_text_atomic


ARTIFACT_KEY = "artifact"


@dataclass(frozen=True)
class TrainedArtifact:
    """The model the last `invoke train` (or `invoke tune`, or the demo) made: where deploy, evaluate,
    predict and the model list start from."""
    model_id: str = ""
    algorithm: str | None = None  # pytorch (training/train.py) or builtin (SageMaker's algorithm)
    local_path: str = ""          # model.tar.gz on this disk (local training)
    s3_uri: str = ""              # s3://.../model.tar.gz (a SageMaker training job)
    job_name: str = ""
    region: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)  # the local run's summary
    tuning_job: str = ""
    objective: float | None = None
    tuned_hyperparameters: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The fields that say something (empty ones are left out of the state file)."""
        return {k: v for k, v in asdict(self).items() if v is not None and v != "" and v != {}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainedArtifact:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def local_file(self) -> Path | None:
        """The local model.tar.gz, when there is one and it is still there."""
        path = Path(self.local_path) if self.local_path else None
        return path if path is not None and path.is_file() else None


def record_trained(artifact: TrainedArtifact) -> TrainedArtifact:
    """Record `artifact` as the trained model (the one writer of the state's artifact)."""
    record(ARTIFACT_KEY, artifact.as_dict())
    return artifact


def trained() -> TrainedArtifact | None:
    """The recorded trained model, or None (the one reader of the state's artifact)."""
    data = read(ARTIFACT_KEY)
    return TrainedArtifact.from_dict(data) if data else None


def home() -> Path:
    """The work folder for state, logs and Terraform working directories."""
    path = Path(os.environ.get("DOGS_HOME") or project_root() / ".dogs")
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
    update(key, lambda _: value)


def update(key: str, change: Callable[[Any], Any]) -> Any:
    """Set `key` to `change(its current value, or None)`, all under the state's lock; returns it."""
    path = state_file()
    with _locked(path):
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            data = {}
        data[key] = change(data.get(key))
        write_json_atomic(path, data)
        return data[key]


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
