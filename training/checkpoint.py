"""Checkpoints: everything a killed run needs to go on exactly where it stopped.

One file, `checkpoint.pt`, in the checkpoint folder (SageMaker syncs /opt/ml/checkpoints with S3 on
managed spot training), always written to a temp name and renamed, so a kill never leaves half a file.
It holds tensors, numbers, strings, lists and dicts only, and is read with `weights_only=True`: whoever
can write the checkpoint prefix in S3 cannot make the training host run code by unpickling.
"""
from __future__ import annotations

import os
import pickle
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.errors import UserError

FILENAME = "checkpoint.pt"


class CheckpointError(UserError, RuntimeError):
    """A checkpoint cannot be used for this run."""


def rng_states() -> dict[str, Any]:
    """The generators' states in types `torch.load(weights_only=True)` reads (numpy's key as a tensor)."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    states = {"python": random.getstate(),
              "numpy": {"name": name, "key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos),
                        "has_gauss": int(has_gauss), "gauss": float(gauss)},
              "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    n = states["numpy"]
    np.random.set_state((n["name"], n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["gauss"]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save(folder: str | Path, state: dict[str, Any]) -> Path:
    """Write `state` (+ the RNG states) to `folder/checkpoint.pt` atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILENAME
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{FILENAME}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save({**state, "rng": rng_states()}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(folder: str | Path, *, args: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint in `folder`, or None; one written with other arguments is an error."""
    path = Path(folder) / FILENAME
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # what weights_only refuses: not a checkpoint of ours
        raise CheckpointError(f"{path}: refused, it holds objects a checkpoint never holds "
                              f"({str(exc).splitlines()[0][:200]}); delete it to start over") from None
    except Exception as exc:  # a corrupt file: pickle/zip errors vary
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc}); delete it to start over") \
            from None
    if state.get("args") != args:
        old, new = _flat(state.get("args") or {}), _flat(args)
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise CheckpointError(
            f"{path}: written by a run with other settings ({', '.join(changed)}); delete it or "
            f"point the checkpoint folder elsewhere to start over")
    return state


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{key}."))
        else:
            out[prefix + key] = value
    return out
