"""Run the training entry point on this machine exactly as a SageMaker container would run it.

A folder laid out like the container's /opt/ml (channels, hyperparameters.json with string values,
model/, output/, checkpoints/) and the same SM_* variables; `python training/train.py` is started from
the project root (the `source_dir` SageMaker would get), via torchrun for several processes. The model
folder is then packed into model.tar.gz as SageMaker packs it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from training import classmap, hyperparameters as hp
from training.errors import UserError
from training.files import replacing
from training.lst import find_split

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINT = "training/train.py"


class TrainingFailed(UserError, RuntimeError):
    """The training process ended with an error."""


@dataclass(frozen=True)
class LocalRun:
    artifact: Path  # model.tar.gz
    metrics_path: Path
    metrics: dict[str, Any]
    model_id: str
    seconds: float


def container_layout(work_dir: Path, *, data_dir: Path, lst_dir: Path, fold: int | None,
                     hyperparameters: Mapping[str, Any]) -> dict[str, str]:
    """Lay out `work_dir` like /opt/ml; return the environment a container would have."""
    train_lst, test_lst = find_split(lst_dir, fold)
    ml = work_dir / "opt_ml"
    data = ml / "input" / "data"
    for channel, lst in (("train_lst", train_lst), ("validation_lst", test_lst)):
        folder = data / channel
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copy2(lst, folder / lst.name)
        if (lst_dir / classmap.FILENAME).exists():
            shutil.copy2(lst_dir / classmap.FILENAME, folder / classmap.FILENAME)
    for channel in ("train", "validation"):  # both image channels hold the whole images root
        link = data / channel
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(data_dir.resolve(), target_is_directory=True)
    config = ml / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(
        json.dumps(hp.to_sagemaker({k: v for k, v in hyperparameters.items()
                                    if v != hp.DERIVED}), indent=2, sort_keys=True))
    for sub in ("model", "output/data", "checkpoints"):
        (ml / sub).mkdir(parents=True, exist_ok=True)
    return {
        **{f"SM_CHANNEL_{c.upper()}": str(data / c) for c in
           ("train", "validation", "train_lst", "validation_lst")},
        "SM_INPUT_CONFIG_DIR": str(config),
        "SM_MODEL_DIR": str(ml / "model"),
        "SM_OUTPUT_DIR": str(ml / "output"),
        "SM_OUTPUT_DATA_DIR": str(ml / "output" / "data"),
        "DOGS_CHECKPOINT_DIR": str(ml / "checkpoints"),
    }


def train_local(*, data_dir: str | Path, lst_dir: str | Path, out_dir: str | Path,
                hyperparameters: Mapping[str, Any], fold: int | None = None,
                work_dir: str | Path | None = None, processes: int = 1, progress: bool = False,
                log_path: str | Path | None = None, threads: int | None = None) -> LocalRun:
    """Train in a container-like folder (kept in `work_dir` so a rerun resumes its checkpoint)."""
    # Absolute: the entry point runs in the code's folder, which need not be the user's working folder.
    data_dir, lst_dir, out_dir = Path(data_dir).resolve(), Path(lst_dir).resolve(), Path(out_dir).resolve()
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: no such photo folder")
    work_dir = Path(work_dir).resolve() if work_dir else Path(tempfile.mkdtemp(prefix="dogs-train-"))
    env = {**os.environ, **container_layout(work_dir, data_dir=data_dir, lst_dir=lst_dir,
                                            fold=fold, hyperparameters=hyperparameters)}
    env["PYTHONPATH"] = ""  # the entry point finds `training` beside itself, as in the container
    if progress:
        env["DOGS_PROGRESS"] = "1"
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    failure = Path(env["SM_OUTPUT_DIR"]) / "failure"
    failure.unlink(missing_ok=True)
    command = [sys.executable, ENTRY_POINT]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={processes}", ENTRY_POINT]
    started = time.time()
    with _output(log_path) as out:
        code = subprocess.call(command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=out)
    if code != 0:
        reason = failure.read_text().strip() if failure.exists() else f"exit status {code}"
        where = f"; log: {log_path}" if log_path else ""
        raise TrainingFailed(f"training failed: {reason}{where}")
    artifact = pack(Path(env["SM_MODEL_DIR"]), out_dir / "model.tar.gz")
    metrics_path = out_dir / "metrics.json"
    shutil.copy2(Path(env["SM_MODEL_DIR"]) / "metrics.json", metrics_path)
    metrics = json.loads(metrics_path.read_text())
    return LocalRun(artifact, metrics_path, metrics, metrics["model_id"], time.time() - started)


def pack(model_dir: Path, archive: Path) -> Path:
    """Tar the model folder's contents (as SageMaker does) to a temp name, synced, then renamed."""
    with replacing(archive) as tmp:
        with tarfile.open(tmp, "w:gz") as tar:
            for item in sorted(model_dir.iterdir()):
                if not item.name.startswith("."):
                    tar.add(item, arcname=item.name)
    return archive


class _output:
    """A log file for the child's output, or the terminal."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self.fh = None

    def __enter__(self):
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.path, "ab")
        return self.fh

    def __exit__(self, *exc):
        if self.fh:
            self.fh.close()
