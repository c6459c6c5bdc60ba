"""Checkpoints: everything a killed run needs to go on exactly where it stopped.

One file, `checkpoint.pt`, in the checkpoint folder (SageMaker syncs /opt/ml/checkpoints with S3 on
managed spot training), always written to a temp name and renamed, so a kill never leaves half a file.
It holds tensors, numbers, strings, lists and dicts only, and is read with `weights_only=True`: whoever
can write the checkpoint prefix in S3 cannot make the training host run code by unpickling.
"""
from __future__ import annotations

import argparse
import collections
import pickle
import random
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch

from training.errors import UserError
from training.files import remove_leftovers, replacing

FILENAME = "checkpoint.pt"
_DICT_TYPES_READ = (collections.OrderedDict, collections.Counter)  # dict types weights_only also reads


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
    remove_leftovers(path)  # half a file from a run killed while writing (one writer per run)
    with replacing(path) as tmp:
        torch.save(plain({**state, "rng": rng_states()}), tmp)
    return path


def plain(value: Any, where: str = "checkpoint") -> Any:
    """`value` in the types `torch.load(weights_only=True)` reads: tensors, numbers, strings, None and
    lists/tuples/dicts of them (OrderedDict and Counter kept as they are). numpy values become numbers
    or lists, paths strings, an argparse Namespace its dict; anything else is refused here rather than
    written as a checkpoint that no resume could read."""
    if value is None or type(value) in (bool, int, float, str) or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.generic):  # before float: np.float64 is a float subclass, pickled as numpy
        return value.item()
    for base in (int, float, str):  # a subclass (an IntEnum, a StrEnum) as the plain value
        if isinstance(value, base):
            return base.__str__(value) if base is str else base(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, argparse.Namespace):
        return plain(vars(value), where)
    if isinstance(value, dict):
        items = {key: plain(item, f"{where}[{key!r}]") for key, item in value.items()}
        if type(value) in _DICT_TYPES_READ:  # a state_dict, MultiStepLR's milestones (a Counter)
            unchanged = all(items[k] is v for k, v in value.items())
            return value if unchanged else type(value)(items)  # unchanged keeps its `_metadata`
        return items
    if isinstance(value, (list, tuple)):
        items = [plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise CheckpointError(f"{where}: a {type(value).__name__} cannot be stored in a checkpoint "
                          "(tensors, numbers, strings, lists and dicts only)")


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
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a checkpoint (a {type(state).__name__}); delete it to "
                              "start over")
    args = plain(args, "args")  # as it was stored
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
