"""The SageMaker training container's contract: channels, hyperparameters and output folders.

SageMaker mounts each input channel under /opt/ml/input/data/<channel> and names it in
`SM_CHANNEL_<CHANNEL>`; hyperparameters come in /opt/ml/input/config/hyperparameters.json (every value a
string; the framework estimators JSON-encode them) and, with the training toolkit, in `SM_HPS`; the model
goes to `SM_MODEL_DIR` (SageMaker tars it into model.tar.gz); checkpoints to /opt/ml/checkpoints.
Outside SageMaker the same variables can be set by hand (`ops.train.local_train` does), else local folders
under `$DOGS_HOME/train` (default `.dogs/train` beside the training package) are used.
https://github.com/aws/sagemaker-training-toolkit/blob/master/ENVIRONMENT_VARIABLES.md
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from training import hyperparameters as hp
from training.errors import UserError

CHANNELS = ("train", "validation", "train_lst", "validation_lst")
HYPERPARAMETERS_FILE = "/opt/ml/input/config/hyperparameters.json"
SAGEMAKER_BASE = "/opt/ml"
BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"  # the training toolkit's: where /opt/ml is outside a container
CHECKPOINT_ENV = "DOGS_CHECKPOINT_DIR"  # our override; SageMaker has no variable for it


class ChannelError(UserError, ValueError):
    """An input channel is not given or not a folder."""


@dataclass(frozen=True)
class Folders:
    train: Path
    validation: Path
    train_lst: Path
    validation_lst: Path
    model_dir: Path
    checkpoint_dir: Path
    output_data_dir: Path


def local_root(env: Mapping[str, str]) -> Path:
    home = env.get("DOGS_HOME") or str(Path(__file__).resolve().parent.parent / ".dogs")
    return Path(home) / "train"


def folders(given: Mapping[str, str | None], env: Mapping[str, str] = os.environ) -> Folders:
    """Folders from explicit values (command-line), else the SageMaker variables, else local ones."""
    channels = {}
    for name in CHANNELS:
        value = given.get(name) or env.get(f"SM_CHANNEL_{name.upper()}")
        if not value:
            raise ChannelError(f"no '{name}' channel: set SM_CHANNEL_{name.upper()} or pass "
                               f"--{name.replace('_', '-')}")
        if not Path(value).exists():
            raise ChannelError(f"'{name}' channel {value}: no such folder")
        channels[name] = Path(value)
    root = local_root(env)
    container = container_base(env)
    checkpoints = (given.get("checkpoint_dir") or env.get(CHECKPOINT_ENV)
                   or (container / "checkpoints" if container else root / "checkpoints"))
    return Folders(
        **channels,
        model_dir=Path(given.get("model_dir") or env.get("SM_MODEL_DIR") or root / "model"),
        checkpoint_dir=Path(checkpoints),
        output_data_dir=Path(given.get("output_data_dir") or env.get("SM_OUTPUT_DATA_DIR")
                             or root / "output"),
    )


def container_base(env: Mapping[str, str] = os.environ) -> Path | None:
    """The container's /opt/ml, or the folder `SAGEMAKER_BASE_DIR` names (the training toolkit's own
    rule, so a job run outside /opt/ml keeps its checkpoints beside its model); None outside one."""
    base = Path(env.get(BASE_DIR_ENV) or SAGEMAKER_BASE)
    return base if base.is_dir() else None


def raw_hyperparameters(cli: Mapping[str, Any], env: Mapping[str, str] = os.environ
                        ) -> dict[str, Any]:
    """Hyperparameters: the file, then `SM_HPS`, then the command line (later wins).

    SageMaker's own keys (`sagemaker_*`, e.g. sagemaker_program) are dropped.
    """
    values: dict[str, Any] = {}
    path = Path(env.get("SM_INPUT_CONFIG_DIR", str(Path(HYPERPARAMETERS_FILE).parent))) \
        / "hyperparameters.json"
    if path.exists():
        values.update(_decode(_json(path.read_text(), str(path))))
    if env.get("SM_HPS"):
        values.update(_decode(_json(env["SM_HPS"], "SM_HPS")))
    values.update({k: v for k, v in cli.items() if v is not None})
    return {k: v for k, v in values.items() if not k.startswith("sagemaker_")}


def _json(text: str, source: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise hp.HyperparameterError(f"{source}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise hp.HyperparameterError(f"{source}: must be a JSON object of hyperparameters")
    return data


def _decode(values: Mapping[str, Any]) -> dict[str, Any]:
    """Framework estimators JSON-encode each value ("\\"sgd\\""); the built-in style sends plain text."""
    out = {}
    for key, value in values.items():
        if isinstance(value, str):
            try:
                decoded = json.loads(value)
            except ValueError:
                decoded = value
            value = decoded if isinstance(decoded, (str, int, float, bool)) else value
        out[key] = value
    return out


def distributed() -> tuple[int, int, int]:
    """(world size, rank, local rank) as torchrun (and SageMaker's torch_distributed) set them."""
    return (int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0")),
            int(os.environ.get("LOCAL_RANK", "0")))
