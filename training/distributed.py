"""Figures over all of a run's processes (torch.distributed): each process holds a share of the photos."""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from training import loop
from training.run_context import Run


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


def gather_rows(run: Run, rows: torch.Tensor) -> torch.Tensor:
    """Every process's `rows` (its share, first dimension; shares may differ in length by any amount),
    concatenated in rank order on every process (all_gather pads each share to the longest)."""
    if run.world_size == 1:
        return rows
    length = torch.tensor([len(rows)], dtype=torch.long, device=run.device)
    lengths = [torch.zeros_like(length) for _ in range(run.world_size)]
    dist.all_gather(lengths, length)
    longest = max(int(n) for n in lengths)
    padded = torch.zeros((longest, *rows.shape[1:]), dtype=rows.dtype, device=run.device)
    padded[:len(rows)] = rows.to(run.device)
    shares = [torch.empty_like(padded) for _ in lengths]
    dist.all_gather(shares, padded)
    return torch.cat([share[:int(n)] for share, n in zip(shares, lengths)]).to(rows.device)
