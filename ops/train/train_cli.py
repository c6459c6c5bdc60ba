"""`invoke train`: options → hyperparameters → a local run (or a SageMaker job) → summary."""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Mapping

from ops.core import state
from ops.core.config import Config
from ops.train.local_train import LocalRun, train_local
from training import hyperparameters as hp
from training.errors import UserError


class InputError(UserError, ValueError):
    """A training input (--data, --lst-dir, --set) is missing or malformed."""


def folder(value: str | None, default: Path, option: str, hint: str) -> Path:
    path = Path(value) if value else default
    if not path.is_dir():
        raise InputError(f"{option}: {path} is not a folder; {hint}")
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
            raise InputError(f"--set: {item!r} is not key=value")
        values[key.strip()] = value.strip()
    return hp.validate({k: v for k, v in values.items() if v is not None}, fill_defaults=False)


def train(cfg: Config, *, target: str, algorithm: str, data: str | None, lst_dir: str | None,
          fold: int | None, out: str | None, overrides: dict[str, Any], processes: int | None,
          fresh: bool, dry_run: bool, role: str | None) -> LocalRun | None:
    """`invoke train`: locally (returns the run), or as a SageMaker job (`--target aws`; None)."""
    data_dir, lst = inputs(data, lst_dir)
    if role:
        if target != "aws":
            raise InputError("--role needs --target aws")
        overrides = {**overrides, "role_arn": role}
    if target == "aws":
        import ops.train.aws_training as aws_training

        aws_training.train_job(cfg, data_dir=data_dir, lst_dir=lst, fold=fold, algorithm=algorithm,
                               dry_run=dry_run, overrides=overrides)
        return None
    if dry_run or algorithm != "pytorch":
        raise InputError("--dry-run and --algorithm builtin need --target aws")
    return train_here(cfg, data_dir=data_dir, lst_dir=lst, fold=fold,
                      out_dir=out or state.home() / "model", overrides=overrides,
                      processes=processes, fresh=fresh)


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
    calibration = metrics.get("calibration") or {}
    known = calibration.get("known_breed") or {}
    return {"epochs_run": metrics["epochs_run"], "stopped_reason": metrics["stopped_reason"],
            "best_epoch": best.get("epoch"),
            "best_validation_accuracy": best.get("validation_accuracy"),
            "best_validation_top_k_accuracy": best.get("validation_top_k_accuracy"),
            "validation_accuracy_before_training": (metrics.get("initial_validation") or {}).get(
                "accuracy"),
            "training_seconds": metrics["training_seconds"],
            # what the artifact stores and serving applies (model.json holds the same values)
            "temperature": calibration.get("temperature"),
            "fitted_temperature": calibration.get("fitted_temperature"),
            "ece_before": calibration.get("ece_before"), "ece_after": calibration.get("ece_after"),
            "known_breed_threshold": known.get("threshold"),
            "known_breed_validation_accepted": known.get("validation_accepted")}


def calibration_rows(s: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The stored temperature (with the fitted one and validation ECE) and known-breed threshold."""
    rows = []
    if s["temperature"] is not None:
        fitted = s["fitted_temperature"]
        refitted = fitted is not None and abs(fitted - s["temperature"]) > 5e-4  # e.g. min_temperature
        note = f" (fitted {fitted:.3f})" if refitted else ""
        ece = (f"; validation ECE {s['ece_before']:.4f} -> {s['ece_after']:.4f}"
               if s["ece_before"] is not None and s["ece_after"] is not None else "")
        rows.append(("temperature", f"{s['temperature']:.3f}{note}{ece}"))
    if s["known_breed_threshold"] is not None:
        accepted = s["known_breed_validation_accepted"]
        share = f" (accepts {accepted:.1%} of the validation photos)" if accepted is not None else ""
        rows.append(("known-breed threshold", f"{s['known_breed_threshold']:.4f}{share}"))
    else:
        rows.append(("known-breed threshold", "none: predictions carry no known-breed score"))
    return rows


def print_summary(run: LocalRun) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="training summary", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for row in summary_rows(run):
        table.add_row(*row)
    Console().print(table)


def summary_rows(run: LocalRun) -> list[tuple[str, str]]:
    s = summary(run.metrics)
    return [
        ("model id", run.model_id),
        ("epochs run", str(s["epochs_run"])),
        ("stopped because", s["stopped_reason"]),
        ("best validation accuracy", f"{s['best_validation_accuracy']:.4f} "
                                     f"(epoch {s['best_epoch']})"),
        ("best validation top-k accuracy", f"{s['best_validation_top_k_accuracy']:.4f}"),
        *([("validation accuracy before training", f"{s['validation_accuracy_before_training']:.4f}")]
          if s["validation_accuracy_before_training"] is not None else []),
        *calibration_rows(s),
        ("training time", f"{s['training_seconds']:.0f} s (wall {run.seconds:.0f} s)"),
        ("artifact", str(run.artifact)),
        ("metrics", str(run.metrics_path)),
    ]
