"""A training run as every training module sees it: the resolved settings, the process's place among the
run's processes, and the run's log lines, progress bars and barriers (rank 0 alone prints and writes)."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from training import environment
from training.classmap import BreedClass


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
