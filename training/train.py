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
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, DistributedSampler, Subset, TensorDataset  # noqa: E402

from training import calibration, checkpoint, data, environment, export, hyperparameters as hp  # noqa: E402
from training import loop, model as models, onnx_backbone  # noqa: E402
from training.classmap import BreedClass  # noqa: E402
from training.errors import UserError  # noqa: E402
from training.preprocess import eval_transform, normalisation  # noqa: E402


@dataclass
class Run:
    """What the loop needs, resolved once."""
    hps: dict[str, Any]
    folders: environment.Folders
    classes: list[BreedClass]
    world_size: int = 1
    rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    progress: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


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
    if hps["image_shape"].split(",")[0].strip() != "3":
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
    hps, started = run.hps, time.time()
    log(run, f"training on {describe_device(run.device)}"
             + (f", {run.world_size} processes" if run.world_size > 1 else ""))
    seed_everything(hps["seed"])
    torch.use_deterministic_algorithms(True, warn_only=True)
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
    state = {"epoch": 0, "history": [], "best": None, "best_model": None, "seconds": 0.0,
             "initial": None}
    identity = run_identity(run)
    saved = checkpoint.load(run.folders.checkpoint_dir, args=identity)
    if saved:
        net.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        checkpoint.set_rng_states(saved["rng"])
        state = {k: saved.get(k) for k in state}
        log(run, f"resuming after epoch {state['epoch']} from {run.folders.checkpoint_dir}")
    elif hps["use_pretrained_model"]:  # where training starts: what it has to improve on
        state["initial"] = validate_all(run, trained_module(trained), val_loader, loss_fn)
        log(run, f"before training: validation accuracy {state['initial']['accuracy']:.4f}"
                 + (" (the ImageNet classifier's rows as the head)" if hps["head_init"] == "imagenet"
                    else ""))
    set_mode = trained.train if hps["cache_features"] else (lambda: models.train_mode(net))
    reason = stop_reason(hps, state["history"])
    while reason is None:
        epoch = state["epoch"] + 1
        epoch_started = time.time()
        seed_everything(hps["seed"] * 100_003 + epoch * 1_009 + run.rank)
        train_loader.sampler.set_epoch(epoch)
        with progress_bar(run, len(train_loader.sampler), f"epoch {epoch}/{hps['epochs']}") as bar:
            train_metrics = loop.train_one_epoch(
                trained, train_loader, optimizer, loss_fn, device=run.device,
                precision_dtype=hps["precision_dtype"], scaler=scaler, set_train_mode=set_mode,
                progress=bar.update)
        val_metrics = validate_all(run, trained_module(trained), val_loader, loss_fn)
        train_metrics = all_reduce_mean(run, train_metrics)
        scheduler.step()
        state["epoch"] = epoch
        state["seconds"] += time.time() - epoch_started
        record = {"epoch": epoch, "train_loss": train_metrics["loss"],
                  "train_accuracy": train_metrics["accuracy"],
                  "train_samples": int(train_metrics["samples"]),
                  "validation_loss": val_metrics["loss"],
                  "validation_accuracy": val_metrics["accuracy"],
                  "validation_top_k_accuracy": val_metrics["top_k_accuracy"],
                  "learning_rate": optimizer.param_groups[0]["lr"],
                  "seconds": time.time() - epoch_started}
        state["history"].append(record)
        if loop.improved(record["validation_accuracy"], state["best"] and
                         state["best"]["validation_accuracy"], 0.0):
            state["best"] = record
            state["best_model"] = {k: v.detach().clone() for k, v in net.state_dict().items()}
        print_metrics(run, record, hps["top_k"])
        reason = stop_reason(hps, state["history"])
        if run.is_main and (epoch % hps["checkpoint_frequency"] == 0 or reason):
            checkpoint.save(run.folders.checkpoint_dir, {
                **{k: v for k, v in state.items()}, "model": net.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "args": identity})
        barrier(run)
    metrics = {"history": state["history"], "best": state["best"], "epochs_run": state["epoch"],
               "initial_validation": state["initial"],
               "stopped_reason": reason, "training_seconds": round(state["seconds"], 3),
               "wall_seconds_this_run": round(time.time() - started, 3),
               "world_size": run.world_size, "device": describe_device(run.device)}
    if run.is_main:
        net.load_state_dict(state["best_model"])
        metrics["calibration"] = calibrate(run, net, val_loader)
        export.write_model_dir(run.folders.model_dir, model=net, classes=run.classes, hps=hps,
                               metrics=metrics, check_images=check_images(run))
        log(run, f"model written to {run.folders.model_dir}")
    barrier(run)
    return metrics


@torch.no_grad()
def validation_outputs(run: Run, net: models.Classifier, loader):
    """(logits (N, C), known-breed scores (N,) or None, labels (N,)) of this process's validation photos."""
    net.eval()
    logits, scores, labels = [], [], []
    for inputs, targets in loader:
        inputs = inputs.to(run.device)
        features = inputs if run.hps["cache_features"] else net.backbone(inputs)
        logits.append(net.head(features).float().cpu())
        if net.known_breed is not None:
            scores.append(net.known_breed(features).float().cpu())
        labels.append(targets)
    return torch.cat(logits), (torch.cat(scores) if scores else None), torch.cat(labels)


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


def check_images(run: Run, count: int = 8) -> torch.Tensor:
    """The first validation photos, preprocessed as for serving: what the ONNX export is checked on."""
    f = run.folders
    entries = data.read_channel_lst(f.validation_lst)
    dataset = data.LstDataset(f.validation, entries[::max(1, len(entries) // count)][:count],
                              eval_transform(**image_settings(run.hps)))
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


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


def image_settings(hps: dict[str, Any]) -> dict[str, Any]:
    _, height, width = (int(v) for v in hps["image_shape"].split(","))
    mean, std = normalisation(hps["backbone"])
    return {"resize": max(hps["resize"], height, width), "crop": (height, width), "mean": mean,
            "std": std}


def make_loaders(run: Run, net: models.Classifier):
    """(train loader, validation loader, the module that trains): images, or cached features."""
    hps, f = run.hps, run.folders
    images = image_settings(hps)
    train_set = data.LstDataset(f.train, data.read_channel_lst(f.train_lst),
                                data.train_transform(hps["augmentation_type"], **images))
    val_set = data.LstDataset(f.validation, data.read_channel_lst(f.validation_lst),
                              eval_transform(**images))
    batch = max(1, hps["mini_batch_size"] // run.world_size)
    workers = data_workers(run)
    targets = train_set.targets
    trained: nn.Module = net
    if hps["cache_features"]:
        plain = data.LstDataset(f.train, train_set.entries, eval_transform(**images))
        net.eval()
        backbone = (onnx_backbone.features_function(net.backbone, torch.get_num_threads())
                    if run.device.type == "cpu" else net.backbone)  # exported once, for both sets
        train_set = cached_features(run, backbone, plain, mirror=hps["cached_views"] == 2,
                                    workers=workers)
        val_set = cached_features(run, backbone, val_set, mirror=False, workers=workers)
        trained = net.head
        workers = 0  # features in memory: nothing left to decode
    sampler = DistributedSampler(train_set, num_replicas=run.world_size, rank=run.rank,
                                 shuffle=True, seed=hps["seed"])
    train_loader = DataLoader(train_set, batch_size=batch, sampler=sampler,
                              **loader_options(run, workers))
    train_loader.dataset_targets = targets
    shard = Subset(val_set, range(run.rank, len(val_set), run.world_size))
    val_loader = DataLoader(shard, batch_size=batch, **loader_options(run, workers))
    return train_loader, val_loader, trained


def data_workers(run: Run) -> int:
    """DataLoader worker processes per training process: the `data_workers` hyperparameter, or with -1
    none on a CPU (its cores run the network) and on a GPU this process's share of the cores less one (its
    own), at most 8 (decoding and augmenting photos on the main process alone starves a GPU)."""
    if run.hps["data_workers"] >= 0:
        return run.hps["data_workers"]
    if run.device.type != "cuda":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, min(8, cores // max(1, per_node) - 1))


def loader_options(run: Run, workers: int) -> dict[str, Any]:
    """Worker processes, and pinned memory for copies to a GPU. The workers are started anew each epoch
    (not persistent): each takes its random seed from the generator the epoch reseeds, so a resumed
    run augments its remaining epochs as an unbroken run does."""
    return {"num_workers": workers, "pin_memory": run.device.type == "cuda"}


@torch.no_grad()
def cached_features(run: Run, backbone, dataset: data.LstDataset, *,
                    mirror: bool, workers: int = 0) -> TensorDataset:
    """The frozen backbone's features of every image (and of its mirror image), computed once.

    `backbone` maps a batch to features: the network's own (in eval mode), or on a CPU ONNX Runtime's
    run of it (`onnx_backbone`, several times faster than eager PyTorch)."""
    loader = DataLoader(dataset, batch_size=32, **loader_options(run, workers))
    features, mirrored, labels = [], [], []
    with progress_bar(run, len(dataset) * (2 if mirror else 1), "features") as bar:
        for inputs, targets in loader:
            inputs = inputs.to(run.device)
            features.append(backbone(inputs).cpu())
            if mirror:
                mirrored.append(backbone(torch.flip(inputs, dims=[3]).contiguous()).cpu())
            labels.append(targets)
            bar.update(len(targets) * (2 if mirror else 1))
    x = torch.cat(features + mirrored)
    y = torch.cat(labels * (2 if mirror else 1))
    return TensorDataset(x, y)


def trained_module(trained: nn.Module) -> nn.Module:
    return trained.module if isinstance(trained, nn.parallel.DistributedDataParallel) else trained


def validate_all(run: Run, module: nn.Module, loader, loss_fn) -> dict[str, float]:
    sums = loop.validate(module, loader, loss_fn, device=run.device, top_k=run.hps["top_k"],
                         precision_dtype=run.hps["precision_dtype"])
    keys = ("loss_sum", "correct", "correct_k", "samples")
    if run.world_size > 1:
        tensor = torch.tensor([float(sums[k]) for k in keys], dtype=torch.float64,
                              device=run.device)
        dist.all_reduce(tensor)
        sums = dict(zip(keys, tensor.tolist()))
    return loop.summarise({k: sums[k] for k in keys})


def all_reduce_mean(run: Run, metrics: dict[str, float]) -> dict[str, float]:
    """Training loss and accuracy over all ranks, weighted by their samples."""
    if run.world_size == 1:
        return metrics
    n = metrics["samples"]
    tensor = torch.tensor([metrics["loss"] * n, metrics["accuracy"] * n, n],
                          dtype=torch.float64, device=run.device)
    dist.all_reduce(tensor)
    loss, correct, seen = tensor.tolist()
    return {**metrics, "loss": loss / seen, "accuracy": correct / seen, "samples": seen}


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


def describe_device(device: torch.device) -> str:
    """`cuda:0 (NVIDIA H100 80GB HBM3)` or `cpu`: where a run's training happened, for its log and metrics."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def log(run: Run, message: str) -> None:
    if run.is_main:
        print(message, flush=True)


def barrier(run: Run) -> None:
    if run.world_size > 1:
        dist.barrier()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def progress_bar(run: Run, total: int, description: str):
    if not (run.progress and run.is_main):
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="img", file=sys.stderr, leave=False)


if __name__ == "__main__":
    sys.exit(main())
