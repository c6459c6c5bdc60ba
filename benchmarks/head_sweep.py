"""Does training the head beat the untrained ImageNet head? A cross-validated sweep on cached features.

    .venv/bin/python benchmarks/head_sweep.py --data ../shared/data/dogs-10/Images [--folds 5] [--views 2] \
        [--eval-data ../shared/data/unseen-val/Images] [--backbone efficientnet_lite0]

The frozen EfficientNet-Lite0's features of every photo are computed once (the centre crop as served, and
with `--views` > 1 its mirror image and random crop_color_transform views for training), on the same
stratified folds as `train_bench.py`. Per fold it scores, on the held-out photos' centre crops: the
untrained head (the ImageNet classifier's rows of the breeds) and heads started from it and trained with
adam at several learning rates for a fixed number of epochs (no early stopping on the held-out photos:
nothing is selected on them). Prints a table of mean / min accuracy over the folds and writes the figures
to `.dogs/bench/head_sweep.json` (or --out). With `--eval-data` every recipe is also trained on all of
`--data` and scored on that folder (photos the backbone never saw), with its 95% interval, the untrained
head's row first: the figure recipes are chosen by (the folds are ImageNet training photos).
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ops.core.state import home, write_json_atomic  # noqa: E402
from train_bench import write_folds  # noqa: E402
from unseen_eval import breed_rows, describe, figure, labels_of  # noqa: E402
from feature_cache import features as cached_features  # noqa: E402
from training import onnx_backbone  # noqa: E402
from training.classmap import from_folders  # noqa: E402
from training.data import load_image, train_transform  # noqa: E402
from training.lst import read_lst  # noqa: E402
from training.model import build_model  # noqa: E402
from training.model import BACKBONES  # noqa: E402
from training.preprocess import eval_transform, image_settings  # noqa: E402

LEARNING_RATES = (3e-5, 1e-4, 3e-4, 1e-3)
EPOCHS = (1, 3, 10)


@torch.no_grad()
def features(data: Path, views: int, seed: int, backbone: str = "efficientnet_lite0") -> dict:
    """Centre-crop features of every photo, training views, labels, paths, and the initial head."""
    classes = from_folders(p.name for p in data.iterdir() if p.is_dir())
    items = [(c.id, f"{c.folder}/{p.name}") for c in classes for p in sorted((data / c.folder).glob("*.jpg"))]
    net = build_model(backbone, num_classes=len(classes), pretrained=True,
                      class_names=[c.name for c in classes]).eval()
    settings = image_settings(backbone)
    centre, augment = eval_transform(**settings), train_transform("crop_color_transform", **settings)
    backbone = onnx_backbone.features_function(net.backbone, torch.get_num_threads())
    torch.manual_seed(seed)
    out: dict[str, list] = {"centre": [], **{f"view{v}": [] for v in range(1, views)}}
    for start in range(0, len(items), 32):
        images = [load_image(data / path) for _, path in items[start:start + 32]]
        batch = torch.stack([centre(i) for i in images])
        out["centre"].append(backbone(batch))
        for v in range(1, views):
            view = torch.flip(batch, dims=[3]).contiguous() if v == 1 else torch.stack(
                [augment(i) for i in images])
            out[f"view{v}"].append(backbone(view))
    head = net.head[1]
    return {**{k: torch.cat(v) for k, v in out.items()}, "labels": torch.tensor([c for c, _ in items]),
            "paths": [p for _, p in items], "weight": head.weight.clone(), "bias": head.bias.clone()}


def train_head(f: dict, train: torch.Tensor, views: list[str], lr: float, epochs: int, seed: int):
    x = torch.cat([f[v][train] for v in views])
    y = f["labels"][train].repeat(len(views))
    return fit_head(x, y, f["weight"], f["bias"], lam=0.0, lr=lr, epochs=epochs, seed=seed)


def fit_head(x, y, w0, b0, *, lam: float, lr: float, epochs: int, seed: int):
    """A linear head from (w0, b0) trained with Adam, dropout 0.2 on the features, batches of 32, and
    with `lam` > 0 an L2 pull towards its start (L2-SP)."""
    torch.manual_seed(seed)
    weight, bias = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 32):
            rows = order[start:start + 32]
            loss = F.cross_entropy(F.dropout(x[rows], 0.2, training=True) @ weight.T + bias, y[rows])
            if lam:
                loss = loss + lam * ((weight - w0).pow(2).sum() + (bias - b0).pow(2).sum())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return weight.detach(), bias.detach()


def eval_figure(e: dict, weight, bias) -> dict:
    """Top-1 of a head on the evaluation folder's centre crops, with its 95% interval."""
    logits = e["centre"] @ weight.T + bias
    return figure(int((logits.argmax(1) == e["labels"]).sum()), len(e["labels"]))


def eval_features(data: Path, backbone: str, class_folders: list[str]) -> dict:
    e = cached_features(data, backbone)
    breed_rows(class_folders)  # every breed an ImageNet class, or no untrained head to compare
    return {"centre": e["centre"], "labels": torch.from_numpy(labels_of(e["folders"], class_folders))}


def accuracy(f: dict, test: torch.Tensor, weight, bias) -> float:
    return float(((f["centre"][test] @ weight.T + bias).argmax(1) == f["labels"][test]).float().mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="images root, one folder per breed")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--views", type=int, default=2, help="training views a photo (1 centre, 2 + mirror, "
                        "3+ + random crop_color_transform crops; default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backbone", default="efficientnet_lite0", choices=BACKBONES[1:])
    parser.add_argument("--eval-data", type=Path, help="also train each recipe on all of --data and score "
                        "it on this folder (e.g. ../shared/data/unseen-val/Images)")
    parser.add_argument("--out", type=Path, default=home() / "bench" / "head_sweep.json")
    args = parser.parse_args()
    started = time.time()
    f = features(args.data, max(1, args.views), args.seed, args.backbone)
    e = eval_features(args.eval_data, args.backbone, sorted(
        p.name for p in args.data.iterdir() if p.is_dir())) if args.eval_data else None
    extracted = time.time() - started
    with tempfile.TemporaryDirectory() as tmp:
        write_folds(args.data, Path(tmp), args.folds, args.seed)
        index = {path: i for i, path in enumerate(f["paths"])}
        tests = [torch.tensor([index[e.path] for e in read_lst(Path(tmp) / f"bench_fold_{k}_test.lst")])
                 for k in range(1, args.folds + 1)]
    masks = [(torch.zeros(len(f["paths"]), dtype=torch.bool).index_fill_(0, t, True)) for t in tests]
    views = ["centre", *[f"view{v}" for v in range(1, max(1, args.views))]]
    everything = torch.ones(len(f["paths"]), dtype=torch.bool)
    rows = [{"recipe": "untrained ImageNet head", "per_fold": [
        accuracy(f, m, f["weight"], f["bias"]) for m in masks]}]
    if e is not None:
        rows[0]["eval"] = eval_figure(e, f["weight"], f["bias"])
    for lr, epochs in itertools.product(LEARNING_RATES, EPOCHS):
        rows.append({"recipe": f"head from ImageNet rows, adam lr={lr:g}, {epochs} epochs, {len(views)} view(s)",
                     "per_fold": [accuracy(f, m, *train_head(f, ~m, views, lr, epochs, args.seed))
                                  for m in masks]})
        if e is not None:
            rows[-1]["eval"] = eval_figure(e, *train_head(f, everything, views, lr, epochs, args.seed))
    for row in rows:
        row["mean"] = statistics.fmean(row["per_fold"])
        row["min"] = min(row["per_fold"])
        print(f"{row['recipe']:<62} mean {row['mean']:.4f}  min {row['min']:.4f}  "
              + " ".join(f"{a:.4f}" for a in row["per_fold"])
              + ("  | " + describe("eval", row["eval"]) if "eval" in row else ""), flush=True)
    result = {"folds": args.folds, "views": len(views), "photos": len(f["paths"]), "backbone": args.backbone,
              "eval_data": str(args.eval_data) if args.eval_data else None,
              "feature_seconds": round(extracted, 1), "seconds": round(time.time() - started, 1),
              "rows": rows}
    write_json_atomic(args.out, result)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
