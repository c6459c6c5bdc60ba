"""Test-time resolution and flip TTA for the untrained ImageNet head, on a named folder (unseen-val).

    .venv/bin/python benchmarks/resolution_sweep.py --eval-data ../shared/data/unseen-val/Images \
        [--backbone efficientnet_lite0 --size 224 --size 256 --size 288 --size 320]

Models trained with random-resized crops often score better at a test resolution above their training one
(FixRes, https://arxiv.org/abs/1906.06423). Per size (centre crop side; short side resized to size / 0.875)
it scores the backbone's ImageNet classifier cut to the breeds' rows on the centre crop and with flip TTA
(the mean of the centre crop's and its mirror image's probabilities), with 95% intervals. Features are
cached by feature_cache.py. Writes `.dogs/bench/resolution_sweep.json` (or --out).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from feature_cache import features  # noqa: E402
from ops.core.state import home, write_json_atomic  # noqa: E402
from training.model import EFFICIENTNET_LITES  # noqa: E402
from training.preprocess import NATIVE_SIZE  # noqa: E402
from unseen_eval import breed_rows, describe, figure, labels_of  # noqa: E402


def untrained_scores(data: Path, backbone: str, size: int | None) -> dict:
    f = features(data, backbone, size=None if size == NATIVE_SIZE[backbone] else size)
    folders = sorted(set(f["folders"]))
    rows = breed_rows(folders)
    weight, bias = f["imagenet_weight"][rows], f["imagenet_bias"][rows]
    labels = torch.from_numpy(labels_of(f["folders"], folders))
    centre = (f["centre"] @ weight.T + bias).softmax(1)
    flip = (centre + (f["mirror"] @ weight.T + bias).softmax(1)) / 2
    return {"size": size or NATIVE_SIZE[backbone], "backbone": backbone,
            "centre": figure(int((centre.argmax(1) == labels).sum()), len(labels)),
            "flip": figure(int((flip.argmax(1) == labels).sum()), len(labels))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-data", required=True, type=Path)
    parser.add_argument("--backbone", action="append", choices=EFFICIENTNET_LITES,
                        help="repeatable (default efficientnet_lite0)")
    parser.add_argument("--size", type=int, action="append", help="centre crop side, repeatable "
                        "(default: native, and 1.15x and 1.3x native)")
    parser.add_argument("--out", type=Path, default=home() / "bench" / "resolution_sweep.json")
    args = parser.parse_args()
    rows = []
    for backbone in args.backbone or ["efficientnet_lite0"]:
        native = NATIVE_SIZE[backbone]
        for size in args.size or [native, 32 * round(native * 1.15 / 32), 32 * round(native * 1.3 / 32)]:
            rows.append(untrained_scores(args.eval_data, backbone, size))
            r = rows[-1]
            print(f"{backbone} {r['size']} px: " + describe("centre", r["centre"]) + "  "
                  + describe("flip", r["flip"]), flush=True)
    write_json_atomic(args.out, {"eval_data": str(args.eval_data), "rows": rows})
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
