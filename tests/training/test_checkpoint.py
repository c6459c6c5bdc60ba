"""Checkpoints are read without unpickling code: a file planted in the checkpoint prefix runs nothing."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from training import checkpoint


class Planted:
    """What an attacker with write access to the checkpoint prefix would put there."""

    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path(__import__('os').environ['PWNED']).write_text('ran')",))


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("PWNED", str(marker))
    torch.save({"args": {}, "payload": Planted()}, tmp_path / checkpoint.FILENAME)

    with pytest.raises(checkpoint.CheckpointError, match="refused"):
        checkpoint.load(tmp_path, args={})

    assert not marker.exists()


def test_a_saved_checkpoint_loads_and_restores_every_generator(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    checkpoint.save(tmp_path, {"args": {"lr": 0.1}, "epoch": 2, "history": [{"loss": 0.5}],
                               "model": {"w": torch.ones(2)}})
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)

    state = checkpoint.load(tmp_path, args={"lr": 0.1})
    checkpoint.set_rng_states(state["rng"])

    assert state["epoch"] == 2 and torch.equal(state["model"]["w"], torch.ones(2))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
