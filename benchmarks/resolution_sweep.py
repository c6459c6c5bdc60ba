"""Test-time resolution, flip TTA and backbone ensembles for the untrained ImageNet head, on a named folder
(unseen-val).

    .venv/bin/python benchmarks/resolution_sweep.py --eval-data ../shared/data/unseen-val/Images \
        [--backbone efficientnet_lite0 --size 224 --size 256 --size 288 --size 320]
    .venv/bin/python benchmarks/resolution_sweep.py --eval-data ../shared/data/unseen-val/Images \
        --backbone efficientnet_lite0 --backbone efficientnet_lite1 --backbone efficientnet_lite2 --ensembles

Models trained with random-resized crops often score better at a test resolution above their training one
(FixRes, https://arxiv.org/abs/1906.06423). Per size (centre crop side; short side resized to size / 0.875)
it scores the backbone's ImageNet classifier cut to the breeds' rows on the centre crop and with flip TTA
(the mean of the centre crop's and its mirror image's probabilities), with 95% intervals. With
`--ensembles`, every combination of two or more of the given backbones at their native sizes too (the mean
of their log-probabilities, per view): what an ensemble could add before any training. Each figure comes
with an exact McNemar test against the centre crop at the native size of its (first) backbone, on the same
photos: how many photos it gets right that the reference gets wrong, the reverse, and the p-value of so uneven
a split by chance (a sweep of many settings will show some small ones by chance alone). Features are cached
by feature_cache.py. Writes `.dogs/bench/resolution_sweep.json` (or --out).
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from feature_cache import features  # noqa: E402
from ops.core.state import home, write_json_atomic  # noqa: E402
from training.model import EFFICIENTNET_LITES  # noqa: E402
from training.preprocess import NATIVE_SIZE  # noqa: E402
from unseen_eval import (describe, head_probabilities, imagenet_head, labels_of, paired_test,  # noqa: E402
                         view_figures)


def untrained_probabilities(data: Path, backbone: str, size: int | None) -> tuple[dict, list[str]]:
    """({view: probabilities} of the untrained head, each photo's breed folder)."""
    f = features(data, backbone, size=None if size == NATIVE_SIZE[backbone] else size)
    return head_probabilities(f, *imagenet_head(f, sorted(set(f["folders"])))), f["folders"]


def against(probabilities: dict, labels, reference: dict) -> dict:
    """{view: McNemar test of the view's top-1 against the reference's centre crop, on the same photos}."""
    base = reference["centre"].argmax(1).numpy() == labels
    return {view: paired_test(p.argmax(1).numpy() == labels, base) for view, p in probabilities.items()}


def ensemble(members: list[dict]) -> dict:
    """{view: the mean of the members' log-probabilities}: a product of experts."""
    return {view: torch.stack([m[view].log() for m in members]).mean(0) for view in members[0]}


def line(row: dict) -> str:
    return "  ".join(describe(view, row[view]) + " [{only_a} right where {0} is wrong, {only_b} the reverse: "
                     "p {p_value:.3f}]".format("its native centre crop" if "backbone" in row else
                                              "the first's native centre crop", **row["against_native_centre"][view])
                     for view in ("centre", "flip"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-data", required=True, type=Path)
    parser.add_argument("--backbone", action="append", choices=EFFICIENTNET_LITES,
                        help="repeatable (default efficientnet_lite0)")
    parser.add_argument("--size", type=int, action="append", help="centre crop side, repeatable "
                        "(default: native, and 1.15x and 1.3x native)")
    parser.add_argument("--ensembles", action="store_true",
                        help="also every combination of two or more backbones, at their native sizes")
    parser.add_argument("--out", type=Path, default=home() / "bench" / "resolution_sweep.json")
    args = parser.parse_args()
    backbones = args.backbone or ["efficientnet_lite0"]
    rows = []
    native = {b: untrained_probabilities(args.eval_data, b, NATIVE_SIZE[b]) for b in backbones}
    folders = native[backbones[0]][1]
    labels = labels_of(folders, sorted(set(folders)))  # every backbone's features list the same photos
    native = {b: p for b, (p, _) in native.items()}
    for backbone in backbones:
        sizes = args.size or [NATIVE_SIZE[backbone], 32 * round(NATIVE_SIZE[backbone] * 1.15 / 32),
                              32 * round(NATIVE_SIZE[backbone] * 1.3 / 32)]
        for size in sizes:
            probabilities = native[backbone] if size == NATIVE_SIZE[backbone] else \
                untrained_probabilities(args.eval_data, backbone, size)[0]
            rows.append({"backbone": backbone, "size": size, **view_figures(probabilities, labels),
                         "against_native_centre": against(probabilities, labels, native[backbone])})
            print(f"{backbone} {size} px: " + line(rows[-1]), flush=True)
    if args.ensembles:
        for k in range(2, len(backbones) + 1):
            for members in itertools.combinations(backbones, k):
                probabilities = ensemble([native[m] for m in members])
                rows.append({"ensemble": list(members), "size": [NATIVE_SIZE[m] for m in members],
                             **view_figures(probabilities, labels),
                             "against_native_centre": against(probabilities, labels, native[members[0]])})
                print(" + ".join(members) + ": " + line(rows[-1]), flush=True)
    write_json_atomic(args.out, {"eval_data": str(args.eval_data), "rows": rows})
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
