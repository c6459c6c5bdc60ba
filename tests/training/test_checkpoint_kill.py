"""A training run SIGKILLed in the middle of writing a checkpoint (issue 16's fault suite): the checkpoint
in place is the last complete one, the rerun resumes from it and finishes, and the half-written temp file
is gone."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.training.test_train import QUICK, REPO, container
import torch

from training import checkpoint
from training.files import leftovers

pytestmark = pytest.mark.slow


def temp_checkpoints(folder: Path) -> list[Path]:
    return leftovers(folder / checkpoint.FILENAME)


def kill_while_writing(env: dict, folder: Path, after_complete: int = 1, timeout: float = 600) -> int:
    """Start training; SIGKILL it while a checkpoint temp file holds data, once `after_complete`
    checkpoints were completed. Returns the exit status."""
    process = subprocess.Popen([sys.executable, "training/train.py"], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    completed, writing, deadline = 0, False, time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        temps = [p for p in temp_checkpoints(folder) if _size(p) > 0]
        if temps and completed >= after_complete:
            os.kill(process.pid, signal.SIGKILL)
            break
        if writing and not temps:
            completed += 1
        writing = bool(temps)
        time.sleep(0.001)
    return process.wait(timeout=60)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_killed_mid_checkpoint_resumes_from_the_last_complete_one(tmp_path, dogs10, three_breed_lst_dir):
    settings = {**QUICK, "epochs": 3, "optimizer": "sgd", "data_workers": 0}
    folder = tmp_path / "checkpoints"
    env = {**container(tmp_path, dogs10, three_breed_lst_dir, settings), "DOGS_CHECKPOINT_DIR": str(folder)}

    code = kill_while_writing(env, folder)

    # Then the half-written file is a temp file beside the last complete checkpoint
    assert code == -signal.SIGKILL
    assert temp_checkpoints(folder), "killed, but not while a checkpoint was being written"
    state = torch.load(folder / checkpoint.FILENAME, map_location="cpu", weights_only=True)
    resumed = subprocess.run([sys.executable, "training/train.py"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert re.search(rf"resuming after epoch {state['epoch']} ", resumed.stdout), resumed.stdout[-2000:]
    assert (Path(env["SM_MODEL_DIR"]) / "model.pt").exists()
    assert not temp_checkpoints(folder)
