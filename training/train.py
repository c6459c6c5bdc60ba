"""Training entry point in SageMaker's script-mode contract; runs the same way on a laptop.

    python training/train.py          # as SageMaker runs it (from the folder holding training/)
    python -m training.train --train DIR --validation DIR --train-lst DIR --validation-lst DIR

Channels, hyperparameters and output folders: see `training.environment`. With WORLD_SIZE > 1 (torchrun,
SageMaker's torch_distributed) it trains data-parallel with torch.distributed; rank 0 alone writes.
Metrics are printed as `validation:accuracy=0.912` lines for SageMaker metric definitions.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # `python training/train.py`: make `from training import ...` work,
    # and keep training/'s own modules (model.py, data.py...) from shadowing top-level names
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

import argparse  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch import nn  # noqa: E402

from training import calibration, checkpoint, data, environment, export, hyperparameters as hp  # noqa: E402
from training import loop, model as models  # noqa: E402
from training.distributed import all_reduce_mean, gather_rows, trained_module, validate_all  # noqa: E402
from training.errors import UserError  # noqa: E402
from training.loaders import check_images, int8_photos, make_loaders  # noqa: E402
from training.run_context import Run, barrier, describe_device, log, progress_bar  # noqa: E402


@dataclass
class Training:
    """The network and what trains it, built once per run."""
    net: models.Classifier
    trained: nn.Module  # what the optimiser updates: the network, or its head on cached features
    train_loader: Any
    val_loader: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    loss_fn: nn.Module
    set_mode: Callable[[], None]
    identity: dict[str, Any]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    paths = parser.add_argument_group("folders (default: SageMaker's SM_* variables, else .dogs/train)")
    for name in environment.CHANNELS:
        paths.add_argument(f"--{name.replace('_', '-')}", dest=name,
                           help=f"'{name}' channel (default: $SM_CHANNEL_{name.upper()})")
    paths.add_argument("--model-dir", help="where the model goes (default: $SM_MODEL_DIR)")
    paths.add_argument("--checkpoint-dir", help="checkpoints (default: $DOGS_CHECKPOINT_DIR, else "
                       "/opt/ml/checkpoints in a container)")
    paths.add_argument("--output-data-dir", help="extra outputs (default: $SM_OUTPUT_DATA_DIR)")
    group = parser.add_argument_group(
        "hyperparameters (default: hyperparameters.json / $SM_HPS, else the built-in defaults)")
    for key, spec in hp.SPECS.items():
        group.add_argument(*dict.fromkeys((f"--{key}", f"--{key.replace('_', '-')}")),
                           dest=f"hp_{key}",
                           help=f"{spec.help} (default {spec.default})")
    parser.add_argument("--progress", action="store_true", default=bool(os.environ.get(
        "DOGS_PROGRESS")), help="progress bars (default: $DOGS_PROGRESS)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run = prepare(args)
        result = fit(run)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        write_failure(str(exc))
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if run.is_main:
        print(f"stopped: {result['stopped_reason']}")
    return 0


def write_failure(reason: str) -> None:
    """SageMaker shows /opt/ml/output/failure as the job's failure reason."""
    folder = os.environ.get("SM_OUTPUT_DIR") or ("/opt/ml/output" if Path("/opt/ml").is_dir()
                                                  else None)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "failure").write_text(reason + "\n")


def prepare(args: argparse.Namespace) -> Run:
    folders = environment.folders({k: getattr(args, k) for k in (
        *environment.CHANNELS, "model_dir", "checkpoint_dir", "output_data_dir")})
    cli = {k[3:]: v for k, v in vars(args).items() if k.startswith("hp_")}
    hps = hp.validate(environment.raw_hyperparameters(cli))
    train_entries = data.read_channel_lst(folders.train_lst)
    classes = export.class_map(folders.train_lst, train_entries)
    hps = hp.resolve_derived(hps, num_classes=len(classes),
                             num_training_samples=len(train_entries))
    _check_supported(hps)
    world_size, rank, local_rank = environment.distributed()
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Run(hps=hps, folders=folders, classes=classes, world_size=world_size, rank=rank,
               device=device, progress=args.progress)


def _check_supported(hps: dict[str, Any]) -> None:
    if hps["multi_label"]:
        raise hp.HyperparameterError("multi_label: 1 is not supported by this script; use "
                                     "--algorithm builtin for multi-label training")
    if hp.image_shape(hps["image_shape"])[0] != 3:
        raise hp.HyperparameterError("image_shape: the backbones take colour images; use 3,H,W")
    if hps["cache_features"] and hps["trainable_blocks"] != 0:
        raise hp.HyperparameterError("cache_features: 1 needs trainable_blocks=0 (a frozen "
                                     "backbone); its features would change while training")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fit(run: Run) -> dict[str, Any]:
    """Train to the end (or resume and finish); rank 0 writes the model folder. Returns metrics."""
    started = time.time()
    log(run, f"training on {describe_device(run.device)}"
             + (f", {run.world_size} processes" if run.world_size > 1 else ""))
    seed_everything(run.hps["seed"])
    torch.use_deterministic_algorithms(True, warn_only=True)
    t = build_training(run)
    state = start_state(run, t)
    reason = stop_reason(run.hps, state["history"])
    while reason is None:
        train_epoch(run, t, state)
        reason = stop_reason(run.hps, state["history"])
        if run.is_main and (state["epoch"] % run.hps["checkpoint_frequency"] == 0 or reason):
            checkpoint.save(run.folders.checkpoint_dir, {
                **state, "model": t.net.state_dict(), "optimizer": t.optimizer.state_dict(),
                "scheduler": t.scheduler.state_dict(), "args": t.identity})
        barrier(run)
    metrics = {"history": state["history"], "best": state["best"], "epochs_run": state["epoch"],
               "initial_validation": state["initial"],
               "stopped_reason": reason, "training_seconds": round(state["seconds"], 3),
               "wall_seconds_this_run": round(time.time() - started, 3),
               "world_size": run.world_size, "device": describe_device(run.device)}
    finish(run, t, state, metrics)
    return metrics


def build_training(run: Run) -> Training:
    hps = run.hps
    net = build_network(run)
    params = models.set_trainable(net, hps["trainable_blocks"])
    train_loader, val_loader, trained = make_loaders(run, net)
    if run.world_size > 1:
        trained = nn.parallel.DistributedDataParallel(
            trained, device_ids=[run.device.index] if run.device.type == "cuda" else None)
    optimizer = loop.build_optimizer(params, optimizer_settings(hps))
    scheduler = loop.build_scheduler(optimizer, steps=hps["lr_scheduler_step"],
                                     factor=hps["lr_scheduler_factor"])
    scaler = (torch.amp.GradScaler("cuda") if hps["precision_dtype"] == "float16"
              and run.device.type == "cuda" else None)
    loss_fn = nn.CrossEntropyLoss(weight=data.class_weights(
        train_loader.dataset_targets, len(run.classes)).to(run.device)
        if hps["use_weighted_loss"] else None)
    set_mode = trained.train if hps["cache_features"] else (lambda: models.train_mode(net))
    return Training(net, trained, train_loader, val_loader, optimizer, scheduler, scaler, loss_fn,
                    set_mode, run_identity(run))


def start_state(run: Run, t: Training) -> dict[str, Any]:
    """A resumed run's state from its checkpoint, else a fresh one (scored before training)."""
    state = {"epoch": 0, "history": [], "best": None, "best_model": None, "seconds": 0.0,
             "initial": None}
    saved = checkpoint.load(run.folders.checkpoint_dir, args=t.identity)
    if saved:
        t.net.load_state_dict(saved["model"])
        t.optimizer.load_state_dict(saved["optimizer"])
        t.scheduler.load_state_dict(saved["scheduler"])
        checkpoint.set_rng_states(saved["rng"])
        log(run, f"resuming after epoch {saved['epoch']} from {run.folders.checkpoint_dir}")
        return {k: saved.get(k) for k in state}
    if run.hps["use_pretrained_model"]:  # where training starts: what it has to improve on
        state["initial"] = validate_all(run, trained_module(t.trained), t.val_loader, t.loss_fn)
        log(run, f"before training: validation accuracy {state['initial']['accuracy']:.4f}"
                 + (" (the ImageNet classifier's rows as the head)"
                    if run.hps["head_init"] == "imagenet" else ""))
    return state


def train_epoch(run: Run, t: Training, state: dict[str, Any]) -> None:
    """One pass over the training data, then validation; appends the epoch's record to `state`."""
    hps, epoch, epoch_started = run.hps, state["epoch"] + 1, time.time()
    seed_everything(hps["seed"] * 100_003 + epoch * 1_009 + run.rank)
    t.train_loader.sampler.set_epoch(epoch)
    with progress_bar(run, len(t.train_loader.sampler), f"epoch {epoch}/{hps['epochs']}") as bar:
        train_metrics = loop.train_one_epoch(
            t.trained, t.train_loader, t.optimizer, t.loss_fn, device=run.device,
            precision_dtype=hps["precision_dtype"], scaler=t.scaler, set_train_mode=t.set_mode,
            progress=bar.update)
    val_metrics = validate_all(run, trained_module(t.trained), t.val_loader, t.loss_fn)
    train_metrics = all_reduce_mean(run, train_metrics)
    t.scheduler.step()
    state["epoch"] = epoch
    state["seconds"] += time.time() - epoch_started
    record = {"epoch": epoch, "train_loss": train_metrics["loss"],
              "train_accuracy": train_metrics["accuracy"],
              "train_samples": int(train_metrics["samples"]),
              "validation_loss": val_metrics["loss"],
              "validation_accuracy": val_metrics["accuracy"],
              "validation_top_k_accuracy": val_metrics["top_k_accuracy"],
              "learning_rate": t.optimizer.param_groups[0]["lr"],
              "seconds": time.time() - epoch_started}
    state["history"].append(record)
    if loop.improved(record["validation_accuracy"], state["best"] and
                     state["best"]["validation_accuracy"], 0.0):
        state["best"] = record
        state["best_model"] = {k: v.detach().clone() for k, v in t.net.state_dict().items()}
    print_metrics(run, record, hps["top_k"])


def finish(run: Run, t: Training, state: dict[str, Any], metrics: dict[str, Any]) -> None:
    """The best epoch's network, calibrated on every process's validation photos; rank 0 writes it."""
    t.net.load_state_dict(state["best_model"])
    metrics["calibration"] = calibrate(run, t.net, t.val_loader)
    if run.is_main:
        export.write_model_dir(run.folders.model_dir, model=t.net, classes=run.classes, hps=run.hps,
                               metrics=metrics, check_images=check_images(run),
                               int8=int8_photos(run) if run.hps["onnx_int8"] else None)
        log(run, f"model written to {run.folders.model_dir}")
    barrier(run)


@torch.no_grad()
def validation_outputs(run: Run, net: models.Classifier, loader):
    """(logits (N, C), known-breed scores (N,) or None, labels (N,)) of the validation photos of every
    process (each validates its share; the shares are gathered, so every process fits the same values)."""
    net.eval()
    logits, scores, labels = [], [], []
    for inputs, targets in loader:
        inputs = inputs.to(run.device)
        features = inputs if run.hps["cache_features"] else net.backbone(inputs)
        logits.append(net.head(features).float().cpu())
        if net.known_breed is not None:
            scores.append(net.known_breed(features).float().cpu())
        labels.append(targets)
    return (gather_rows(run, torch.cat(logits)),
            gather_rows(run, torch.cat(scores)) if scores else None,
            gather_rows(run, torch.cat(labels)))


def calibrate(run: Run, net: models.Classifier, loader) -> dict[str, Any]:
    """Fit the temperature and the known-breed threshold on the validation photos; set them on `net`."""
    logits, scores, labels = validation_outputs(run, net, loader)
    result = calibration.calibrate(logits, labels, scores, accept=run.hps["known_breed_accept"],
                                   temperature_scaling=bool(run.hps["temperature_scaling"]),
                                   min_temperature=run.hps["min_temperature"])
    net.temperature = result["temperature"]
    net.known_breed_threshold = (result["known_breed"] or {}).get("threshold")
    log(run, f"temperature {result['temperature']:.3f}: validation ECE {result['ece_before']:.4f} -> "
             f"{result['ece_after']:.4f}" + (f"; known-breed threshold {net.known_breed_threshold:.4f}"
                                             if scores is not None else ""))
    return result


def run_identity(run: Run) -> dict[str, Any]:
    """What a checkpoint must have been written with to be resumed: same settings, same data."""
    def digest(channel: Path) -> str:
        return hashlib.sha256(data.find_lst(channel).read_bytes()).hexdigest()

    return {"hyperparameters": run.hps, "world_size": run.world_size,
            "train_lst": digest(run.folders.train_lst),
            "validation_lst": digest(run.folders.validation_lst)}


def stop_reason(hps: dict[str, Any], history: list[dict[str, Any]]) -> str | None:
    accuracies = [h["validation_accuracy"] for h in history]
    if hps["early_stopping"]:
        reason = loop.early_stop_reason(accuracies, min_epochs=hps["early_stopping_min_epochs"],
                                        patience=hps["early_stopping_patience"],
                                        tolerance=hps["early_stopping_tolerance"])
        if reason:
            return reason
    if len(history) >= hps["epochs"]:
        return f"reached epochs={hps['epochs']}"
    return None


def build_network(run: Run) -> models.Classifier:
    hps = run.hps
    names = [c.name for c in run.classes] if hps["head_init"] == "imagenet" else None
    rows = (models.known_breed_rows([c.name for c in run.classes])
            if hps["known_breed_score"] and hps["use_pretrained_model"] else None)
    if hps["known_breed_score"] and hps["use_pretrained_model"] and rows is None:
        log(run, "known_breed_score: not every breed is an ImageNet class; predictions carry no "
                 "known-breed score")
    net = models.build_model(hps["backbone"], num_classes=len(run.classes),
                             num_layers=hps["num_layers"],
                             pretrained=bool(hps["use_pretrained_model"]), class_names=names,
                             known_breed_rows=rows)
    return net.to(run.device)


def optimizer_settings(hps: dict[str, Any]) -> loop.OptimizerSettings:
    return loop.OptimizerSettings(
        name=hps["optimizer"], learning_rate=hps["learning_rate"],
        weight_decay=hps["weight_decay"], momentum=hps["momentum"], beta_1=hps["beta_1"],
        beta_2=hps["beta_2"], eps=hps["eps"], gamma=hps["gamma"])


def print_metrics(run: Run, record: dict[str, Any], top_k: int) -> None:
    if not run.is_main:
        return
    e = record["epoch"]
    print(f"epoch={e} train:loss={record['train_loss']:.4f}", flush=True)
    print(f"epoch={e} train:accuracy={record['train_accuracy']:.4f}", flush=True)
    print(f"epoch={e} validation:loss={record['validation_loss']:.4f}", flush=True)
    print(f"epoch={e} validation:accuracy={record['validation_accuracy']:.4f}", flush=True)
    print(f"epoch={e} validation:top_k_accuracy={record['validation_top_k_accuracy']:.4f} "
          f"(k={top_k})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
