"""Frozen-backbone features of a photo folder (centre crop as served, and its mirror image), cached on disk.

    .venv/bin/python benchmarks/feature_cache.py --data ../shared/data/unseen-val/Images [--backbone B]

Head-only recipes, the known-breed score and temperature scaling are all functions of these features, so
the benchmarks compute them once per (backbone, folder) and keep them under `.dogs/bench/features/`. The
ImageNet classifier (all 1000 rows) travels with them: the untrained head is its breeds' rows.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ops.core.state import home  # noqa: E402
from training import onnx_backbone  # noqa: E402
from training.data import load_image  # noqa: E402
from training.files import replacing  # noqa: E402
from training.model import BACKBONES, build_model, imagenet_classifier  # noqa: E402
from training.preprocess import eval_transform, image_settings  # noqa: E402

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def folder_photos(data: Path) -> list[tuple[str, str]]:
    """(breed folder, relative path) of every photo under `data`, breed folders sorted by name."""
    return [(folder.name, f"{folder.name}/{p.name}") for folder in sorted(p for p in data.iterdir() if p.is_dir())
            for p in sorted(folder.iterdir()) if p.suffix.lower() in PHOTO_SUFFIXES]


def cache_path(data: Path, backbone: str, size: int | None = None) -> Path:
    key = hashlib.sha256(str(data.resolve()).encode()).hexdigest()[:10]
    at = f"-{size}px" if size else ""
    return home() / "bench" / "features" / f"{backbone}{at}-{data.resolve().name}-{key}.pt"


@torch.no_grad()
def features(data: Path, backbone: str = "efficientnet_lite0", *, refresh: bool = False,
             size: int | None = None) -> dict:
    """{"centre", "mirror": (N, F), "folders": [breed folder], "paths", "imagenet": (weight, bias)}.

    `size`: the centre crop's side (short side resized to size / 0.875), else the backbone's native one."""
    path = cache_path(data, backbone, size)
    if path.exists() and not refresh:
        return torch.load(path, weights_only=True)
    items = folder_photos(data)
    net = build_model(backbone, num_classes=2, pretrained=True).eval()
    settings = image_settings(backbone, size)
    transform = eval_transform(**settings)
    run = onnx_backbone.features_function(net.backbone, torch.get_num_threads())
    centre, mirror, started = [], [], time.time()
    for start in range(0, len(items), 32):
        batch = torch.stack([transform(load_image(data / rel)) for _, rel in items[start:start + 32]])
        centre.append(run(batch))
        mirror.append(run(torch.flip(batch, dims=[3]).contiguous()))
    weight, bias = imagenet_classifier(backbone)
    result = {"centre": torch.cat(centre), "mirror": torch.cat(mirror),
              "folders": [f for f, _ in items], "paths": [p for _, p in items],
              "imagenet_weight": weight, "imagenet_bias": bias, "backbone": backbone,
              "seconds": time.time() - started}
    with replacing(path) as tmp:
        torch.save(result, tmp)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, action="append", help="photo folder (repeatable)")
    parser.add_argument("--backbone", default="efficientnet_lite0", choices=BACKBONES)
    parser.add_argument("--size", type=int, help="centre crop side in pixels (default: the backbone's native)")
    parser.add_argument("--refresh", action="store_true", help="recompute even when cached")
    args = parser.parse_args()
    for data in args.data:
        f = features(data, args.backbone, refresh=args.refresh, size=args.size)
        print(f"{data}: {len(f['paths'])} photos, {f['centre'].shape[1]} features, "
              f"{f['seconds']:.1f} s -> {cache_path(data, args.backbone, args.size)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
