"""Checkpoints are read without unpickling code: a file planted in the checkpoint prefix runs nothing."""
from __future__ import annotations

import argparse
import collections
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.fixtures.durability import synced_before_rename
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


def _trained_pieces():
    """A network with a BatchNorm, an optimizer and a MultiStepLR one step into training."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                              torch.nn.LazyLinear(2))
    net(torch.rand(2, 3, 8, 8))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 4], gamma=0.5)
    net(torch.rand(2, 3, 8, 8)).sum().backward()
    optimizer.step(), scheduler.step()
    return net, optimizer, scheduler


def test_a_training_checkpoint_with_paths_namespaces_and_numpy_values_resumes(tmp_path):
    # Given what a run keeps, with arguments in the types an entry point might hand over
    net, optimizer, scheduler = _trained_pieces()
    args = {"hyperparameters": {"epochs": np.int64(3), "learning_rate": np.float32(0.5)},
            "data": Path("/opt/ml/input/data/train"), "cli": argparse.Namespace(fold=2, shape=(3, 8)),
            "weights": np.arange(3)}
    checkpoint.save(tmp_path, {"epoch": 1, "history": [{"loss": np.float64(0.25)}], "args": args,
                               "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                               "scheduler": scheduler.state_dict(),
                               "best_model": {k: v.clone() for k, v in net.state_dict().items()}})

    # Then the file is one weights_only=True reads, and the same arguments resume it
    assert torch.load(tmp_path / checkpoint.FILENAME, weights_only=True)["args"]["data"] == \
        "/opt/ml/input/data/train"
    state = checkpoint.load(tmp_path, args=args)
    fresh, fresh_optimizer, fresh_scheduler = _trained_pieces()
    fresh.load_state_dict(state["model"])
    fresh_optimizer.load_state_dict(state["optimizer"])
    fresh_scheduler.load_state_dict(state["scheduler"])
    assert state["history"] == [{"loss": 0.25}] and state["args"]["cli"] == {"fold": 2, "shape": (3, 8)}
    assert isinstance(fresh_scheduler.milestones, collections.Counter)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), net.state_dict().values()))


def test_a_value_no_checkpoint_can_hold_is_refused_when_saving_and_the_old_one_stays(tmp_path):
    checkpoint.save(tmp_path, {"args": {}, "epoch": 1})

    with pytest.raises(checkpoint.CheckpointError, match=r"checkpoint\['extra'\]: a object"):
        checkpoint.save(tmp_path, {"args": {}, "epoch": 2, "extra": object()})

    assert checkpoint.load(tmp_path, args={})["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.FILENAME]


def test_a_checkpoint_reaches_the_disk_before_it_replaces_the_last_one(tmp_path, disk_events):
    checkpoint.save(tmp_path, {"args": {}, "epoch": 1, "model": {"w": torch.ones(2)}})

    assert synced_before_rename(disk_events, tmp_path / checkpoint.FILENAME)


def test_a_save_removes_the_half_file_a_killed_save_left(tmp_path):
    from tests.training.test_files import kill_a_writer_of
    from training.files import leftovers

    path = tmp_path / checkpoint.FILENAME
    kill_a_writer_of(path)
    assert len(leftovers(path)) == 1

    checkpoint.save(tmp_path, {"args": {}, "epoch": 1})

    assert leftovers(path) == [] and checkpoint.load(tmp_path, args={})["epoch"] == 1
