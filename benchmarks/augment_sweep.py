"""Can strongly augmented views of the memorised photos teach a head anything? Heads trained on the frozen
backbone's features of dogs-10 (centre crop, mirror, and `--views` strongly augmented views), started from
the ImageNet classifier's rows of the breeds and held near them (L2-SP: lambda * |W - W0|^2), scored on
unseen-val beside the untrained head, centre crop and with flip TTA, with 95% intervals.

    .venv/bin/python benchmarks/augment_sweep.py --data ../shared/data/dogs-10/Images \
        --eval-data ../shared/data/unseen-val/Images [--backbone efficientnet_lite0] [--views 1]

Strong view: RandomResizedCrop(scale 0.08-1) + flip + TrivialAugmentWide, at the backbone's native size.
The views' features are cached beside feature_cache.py's (`.dogs/bench/features/`). Writes
`.dogs/bench/augment_sweep.json` (or --out).
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import torch
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from feature_cache import cache_path, features, folder_photos  # noqa: E402
from head_sweep import fit_head  # noqa: E402
from ops.core.state import home, write_json_atomic  # noqa: E402
from training import onnx_backbone  # noqa: E402
from training.data import load_image  # noqa: E402
from training.files import replacing  # noqa: E402
from training.model import EFFICIENTNET_LITES, build_model  # noqa: E402
from unseen_eval import describe, head_probabilities, imagenet_head, labels_of, view_figures  # noqa: E402

LAMBDAS = (0.0, 0.01, 0.1, 1.0)
LEARNING_RATES = (1e-4, 3e-4)
EPOCHS = (3, 10)


def strong_transform(settings: dict):
    size = settings["crop"]
    return transforms.Compose([
        transforms.RandomResizedCrop(size, scale=(0.08, 1.0)), transforms.RandomHorizontalFlip(),
        transforms.TrivialAugmentWide(), transforms.ToTensor(),
        transforms.Normalize(settings["mean"], settings["std"])])


@torch.no_grad()
def strong_views(data: Path, backbone: str, views: int, seed: int) -> torch.Tensor:
    """(views * N, F): features of `views` strongly augmented views of every photo, cached."""
    from training.preprocess import image_settings

    path = cache_path(data, backbone).with_name(cache_path(data, backbone).stem + f"-strong{views}s{seed}.pt")
    if path.exists():
        return torch.load(path, weights_only=True)
    items = folder_photos(data)
    net = build_model(backbone, num_classes=2, pretrained=True).eval()
    run = onnx_backbone.features_function(net.backbone, torch.get_num_threads())
    augment = strong_transform(image_settings(backbone))
    torch.manual_seed(seed)
    out = []
    for _ in range(views):
        for start in range(0, len(items), 32):
            out.append(run(torch.stack([augment(load_image(data / rel)) for _, rel in items[start:start + 32]])))
    result = torch.cat(out)
    with replacing(path) as tmp:
        torch.save(result, tmp)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--eval-data", required=True, type=Path)
    parser.add_argument("--backbone", default="efficientnet_lite0", choices=EFFICIENTNET_LITES)
    parser.add_argument("--views", type=int, default=1, help="strongly augmented views a photo (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=home() / "bench" / "augment_sweep.json")
    args = parser.parse_args()
    started = time.time()
    f, e = features(args.data, args.backbone), features(args.eval_data, args.backbone)
    class_folders = sorted(set(f["folders"]))
    w0, b0 = imagenet_head(f, class_folders)
    y = torch.from_numpy(labels_of(f["folders"], class_folders))
    ye = torch.from_numpy(labels_of(e["folders"], class_folders))
    strong = strong_views(args.data, args.backbone, args.views, args.seed) if args.views else None
    x = torch.cat([f["centre"], f["mirror"], *([strong] if strong is not None else [])])
    labels = y.repeat(2 + args.views)
    extracted = time.time() - started
    results = [{"recipe": "untrained ImageNet head", **view_figures(head_probabilities(e, w0, b0), ye)}]
    for lam, lr, epochs in itertools.product(LAMBDAS, LEARNING_RATES, EPOCHS):
        results.append({"recipe": f"L2-SP {lam:g}, adam {lr:g}, {epochs} epochs, centre+mirror+{args.views} strong",
                        "lambda": lam, "learning_rate": lr, "epochs": epochs,
                        **view_figures(head_probabilities(e, *fit_head(
                            x, labels, w0, b0, lam=lam, lr=lr, epochs=epochs, seed=args.seed)), ye)})
    for r in results:
        print(f"{r['recipe']:<58} " + describe("centre", r["centre"]) + "  " + describe("flip", r["flip"]),
              flush=True)
    write_json_atomic(args.out, {"backbone": args.backbone, "views": args.views, "eval_data": str(args.eval_data),
                                 "feature_seconds": round(extracted, 1), "seconds": round(time.time() - started, 1),
                                 "rows": results})
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
