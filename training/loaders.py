"""A run's data: training and validation loaders (photos, or the frozen backbone's cached features), and
the preprocessed photos the export is checked on (the ONNX check, the int8 calibration and gate)."""
from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Subset, TensorDataset

from training import data, onnx_backbone
from training.preprocess import eval_transform, settings_from_hyperparameters
from training.run_context import Run, progress_bar

# training photos the int8 model's activation ranges are calibrated on (spread over the LST file)
INT8_CALIBRATION_PHOTOS = 64


def make_loaders(run: Run, net):
    """(train loader, validation loader, the module that trains): images, or cached features."""
    hps, f = run.hps, run.folders
    images = settings_from_hyperparameters(hps)
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


def served_photos(run: Run, channel: str, count: int | None = None) -> data.LstDataset:
    """Photos of a channel ("train" or "validation") preprocessed as serving does: all of them, or
    `count` spread evenly over its LST file."""
    folder, lst = getattr(run.folders, channel), getattr(run.folders, f"{channel}_lst")
    entries = data.read_channel_lst(lst)
    if count is not None:
        entries = entries[::max(1, len(entries) // count)][:count]
    return data.LstDataset(folder, entries, eval_transform(**settings_from_hyperparameters(run.hps)))


def check_images(run: Run, count: int = 8) -> torch.Tensor:
    """The first validation photos, preprocessed as for serving: what the ONNX export is checked on."""
    dataset = served_photos(run, "validation", count)
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def int8_photos(run: Run) -> dict[str, Any]:
    """What the int8 export needs: training photos to calibrate on, every validation photo (batches of
    (images, labels)) to gate on, and the gate's limits."""
    calibration = served_photos(run, "train", INT8_CALIBRATION_PHOTOS)
    return {"calibration": torch.stack([calibration[i][0] for i in range(len(calibration))]),
            "validation": DataLoader(served_photos(run, "validation"), batch_size=32,
                                     **loader_options(run, data_workers(run))),
            "max_top1_drop": run.hps["int8_max_top1_drop"],
            "min_agreement": run.hps["int8_min_agreement"]}
