"""`invoke train --target local`: options → hyperparameters → a container-like local run → summary."""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Mapping

from ops import state
from ops.config import Config
from ops.local_train import LocalRun, train_local
from training import hyperparameters as hp
from training.errors import UserError


class OptionError(UserError, ValueError):
    """A command-line option has a bad value."""


def whole_number(option: str, value: Any, *, low: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise OptionError(f"--{option}: {value!r} is not an integer") from None
    if number < low:
        raise OptionError(f"--{option}: {number} is not allowed; allowed: an integer >= {low}")
    return number


def folder(value: str | None, default: Path, option: str, hint: str) -> Path:
    path = Path(value) if value else default
    if not path.is_dir():
        raise OptionError(f"{option}: {path} is not a folder; {hint}")
    return path


def inputs(data: str | None, lst_dir: str | None) -> tuple[Path, Path]:
    """The photos and LST folders of a training command (--data, --lst-dir), checked."""
    return (folder(data, state.home() / "data" / "Images", "--data",
                   "give the images root or run `invoke data.download`"),
            folder(lst_dir, state.home() / "lst", "--lst-dir", "give the folder `invoke lst` wrote"))


def overrides(*, epochs=None, learning_rate=None, batch_size=None, backbone=None,
              extra: str | None = None) -> dict[str, Any]:
    """Hyperparameter overrides from the flags and `--set k=v,k=v`, each validated."""
    values = {"epochs": epochs, "learning_rate": learning_rate, "mini_batch_size": batch_size,
              "backbone": backbone}
    for item in re.split(r",(?=\s*\w+=)", extra or ""):  # values may hold commas (3,224,224)
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise OptionError(f"--set: {item!r} is not key=value")
        values[key.strip()] = value.strip()
    return hp.validate({k: v for k, v in values.items() if v is not None}, fill_defaults=False)


def local_hyperparameters(cfg: Config, given: Mapping[str, Any]) -> dict[str, Any]:
    """config hyperparameters, then its `local:` section, then the command line."""
    return hp.validate({**cfg.training_hyperparameters("local"), **given})


def train_here(cfg: Config, *, data_dir: Path, lst_dir: Path, fold: int | None, out_dir: Path,
               overrides: Mapping[str, Any], processes: int | None = None,
               fresh: bool = False) -> LocalRun:
    """Train locally; a rerun after an interruption resumes from the checkpoint in .dogs/train."""
    work = state.home() / "train" / "work"
    checkpoints = work / "opt_ml" / "checkpoints"
    if fresh:
        shutil.rmtree(checkpoints, ignore_errors=True)
    run = train_local(data_dir=data_dir, lst_dir=lst_dir, out_dir=out_dir, fold=fold,
                      hyperparameters=local_hyperparameters(cfg, overrides), work_dir=work,
                      processes=processes or 1, progress=True)
    shutil.rmtree(checkpoints, ignore_errors=True)  # finished: the next run starts afresh
    state.record_trained(state.TrainedArtifact(model_id=run.model_id, algorithm="pytorch",
                                               local_path=str(run.artifact.resolve()),
                                               metrics=summary(run.metrics)))
    return run


def summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    best = metrics.get("best") or {}
    return {"epochs_run": metrics["epochs_run"], "stopped_reason": metrics["stopped_reason"],
            "best_epoch": best.get("epoch"),
            "best_validation_accuracy": best.get("validation_accuracy"),
            "best_validation_top_k_accuracy": best.get("validation_top_k_accuracy"),
            "validation_accuracy_before_training": (metrics.get("initial_validation") or {}).get(
                "accuracy"),
            "training_seconds": metrics["training_seconds"]}


def print_summary(run: LocalRun) -> None:
    from rich.console import Console
    from rich.table import Table

    s = summary(run.metrics)
    table = Table(title="training summary", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows = [
        ("model id", run.model_id),
        ("epochs run", str(s["epochs_run"])),
        ("stopped because", s["stopped_reason"]),
        ("best validation accuracy", f"{s['best_validation_accuracy']:.4f} "
                                     f"(epoch {s['best_epoch']})"),
        ("best validation top-k accuracy", f"{s['best_validation_top_k_accuracy']:.4f}"),
        *([("validation accuracy before training", f"{s['validation_accuracy_before_training']:.4f}")]
          if s["validation_accuracy_before_training"] is not None else []),
        ("training time", f"{s['training_seconds']:.0f} s (wall {run.seconds:.0f} s)"),
        ("artifact", str(run.artifact)),
        ("metrics", str(run.metrics_path)),
    ]
    for row in rows:
        table.add_row(*row)
    Console().print(table)
