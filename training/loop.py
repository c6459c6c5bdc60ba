"""The training loop's parts: optimizer and scheduler factories, one epoch, validation, early stopping."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn


@dataclass(frozen=True)
class OptimizerSettings:
    name: str
    learning_rate: float
    weight_decay: float = 0.0
    momentum: float = 0.9
    beta_1: float = 0.9
    beta_2: float = 0.999
    eps: float = 1e-8
    gamma: float = 0.9


def build_optimizer(params: Iterable[nn.Parameter], s: OptimizerSettings) -> torch.optim.Optimizer:
    """sgd, nag (sgd with Nesterov momentum), adam, rmsprop (`gamma` is its decay, as in MXNet)."""
    params = list(params)
    if s.name in ("sgd", "nag"):
        return torch.optim.SGD(params, lr=s.learning_rate, momentum=s.momentum,
                               weight_decay=s.weight_decay, nesterov=s.name == "nag")
    if s.name == "adam":
        return torch.optim.Adam(params, lr=s.learning_rate, betas=(s.beta_1, s.beta_2),
                                eps=s.eps, weight_decay=s.weight_decay)
    if s.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=s.learning_rate, alpha=s.gamma, eps=s.eps,
                                   weight_decay=s.weight_decay)
    raise ValueError(f"optimizer: {s.name!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, *, steps: str, factor: float):
    """The learning rate times `factor` at each epoch in `steps` ("10,20"); constant without steps."""
    milestones = [int(s) for s in steps.split(",")] if steps else []
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=factor)


def improved(accuracy: float, best: float | None, tolerance: float) -> bool:
    """The built-in rule: an improvement is a relative gain over the best so far above `tolerance`."""
    if best is None:
        return True
    if best <= 0:
        return accuracy > best
    return (accuracy - best) / best > tolerance


def early_stop_reason(accuracies: list[float], *, min_epochs: int, patience: int,
                      tolerance: float) -> str | None:
    """Why training should stop after these per-epoch validation accuracies, or None to go on.

    Built-in semantics: nothing stops before `min_epochs` epochs; after that, training stops once
    `patience` epochs in a row brought no improvement (see `improved`).
    """
    best, since = None, 0
    for accuracy in accuracies:
        if improved(accuracy, best, tolerance):
            best, since = accuracy, 0
        else:
            since += 1
    if len(accuracies) >= min_epochs and since >= patience:
        return (f"early stopping: no improvement in validation accuracy above tolerance "
                f"{tolerance:g} for {since} epochs")
    return None


def autocast(device: torch.device, precision_dtype: str):
    """float16 training: autocast to float16 on CUDA; on CPU, where float16 kernels are few, bfloat16."""
    if precision_dtype != "float16":
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def train_one_epoch(model: nn.Module, loader, optimizer, loss_fn, *, device: torch.device,
                    precision_dtype: str = "float32", scaler=None,
                    set_train_mode: Callable[[], None] | None = None,
                    progress: Callable[[int], None] | None = None) -> dict[str, float]:
    """One pass over `loader`; returns {"loss", "accuracy", "samples", "seconds"}."""
    (set_train_mode or model.train)()
    total_loss, correct, seen, start = 0.0, 0, 0, time.perf_counter()
    for inputs, targets in loader:
        inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, precision_dtype):
            logits = model(inputs)
            loss = loss_fn(logits.float(), targets)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        total_loss += loss.item() * len(targets)
        correct += (logits.argmax(1) == targets).sum().item()
        seen += len(targets)
        if progress:
            progress(len(targets))
    return {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1),
            "samples": seen, "seconds": time.perf_counter() - start}


@torch.no_grad()
def validate(model: nn.Module, loader, loss_fn, *, device: torch.device, top_k: int = 5,
             precision_dtype: str = "float32") -> dict[str, float]:
    """Loss, top-1 and top-k accuracy over `loader` (sums too, so shards can be added up)."""
    model.eval()
    total_loss, correct, correct_k, seen = 0.0, 0, 0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        with autocast(device, precision_dtype):
            logits = model(inputs).float()
        total_loss += loss_fn(logits, targets).item() * len(targets)
        k = min(top_k, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        correct += (top[:, 0] == targets).sum().item()
        correct_k += (top == targets[:, None]).any(dim=1).sum().item()
        seen += len(targets)
    return summarise({"loss_sum": total_loss, "correct": correct, "correct_k": correct_k,
                      "samples": seen})


def summarise(sums: dict[str, float]) -> dict[str, float]:
    seen = max(sums["samples"], 1)
    return {**sums, "loss": sums["loss_sum"] / seen, "accuracy": sums["correct"] / seen,
            "top_k_accuracy": sums["correct_k"] / seen}
