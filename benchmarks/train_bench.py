"""Benchmark the local default training recipe: wall time, images/s, epochs, accuracy (per fold).

    .venv/bin/python benchmarks/train_bench.py --data ../shared/data/dogs-10/Images [--folds 5] \
        [--eval-data ../shared/data/unseen-val/Images]

Trains with config.yaml's hyperparameters + its `local:` section exactly as `invoke train` does, on
stratified splits made here (20 % test per breed, or K folds), and writes the figures to
`.dogs/bench/train_bench.json` (or --out). With `--eval-data` each trained model is also scored on that
folder (photos the backbone never saw: the honest yardstick) through its own serving code, beside the
untrained ImageNet head of the same backbone on the same photos, both with 95% intervals, and an exact McNemar
test of the two on those photos (is the difference more than chance?); recipes are
chosen by that figure, not by the dogs-10 splits (ImageNet training photos). When the export served an int8
model, it is also compared with its float32 model on that folder (top-1, agreement, predictions/s on one core,
cost per million; see int8_bench.py). The machine's load average is recorded with each run:
other work on the same cores slows training down.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ops.core import config as config_mod  # noqa: E402
from ops.train.local_train import train_local  # noqa: E402
from ops.core.state import home, write_json_atomic  # noqa: E402
from ops.train.train_cli import local_hyperparameters  # noqa: E402
from training.classmap import from_folders, to_json  # noqa: E402
from training.lst import LstEntry, write_lst  # noqa: E402
from int8_bench import artifact_folder, comparison, report  # noqa: E402
from unseen_eval import (accuracy, artifact_probabilities, describe, describe_known_breed,  # noqa: E402
                         known_breed_figures, paired_test, untrained_head)


def write_folds(images: Path, out: Path, folds: int, seed: int) -> int:
    """Stratified splits: `folds` folds (or one 80/20 split when folds == 1); returns the count."""
    classes = from_folders(p.name for p in images.iterdir() if p.is_dir())
    rng = random.Random(seed)
    parts = max(folds, 5)
    assigned: list[list[tuple[int, str]]] = [[] for _ in range(parts)]
    for c in classes:
        photos = sorted(p.name for p in (images / c.folder).glob("*.jpg"))
        rng.shuffle(photos)
        for i, name in enumerate(photos):
            assigned[i % parts].append((c.id, f"{c.folder}/{name}"))
    for k in range(folds):
        test = assigned[k]
        train = [item for j, part in enumerate(assigned) if j != k for item in part]
        for split, items in (("train", train), ("test", test)):
            write_lst(out / f"bench_fold_{k + 1}_{split}.lst",
                      [LstEntry(i, cid, path) for i, (cid, path) in enumerate(items)])
    (out / "classes.json").write_text(to_json(classes))
    return folds


def int8_comparison(artifact: Path, data: Path, tmp: Path) -> dict:
    """The served int8 model against its float32 one on `data`, with rates per core and costs."""
    result = comparison(artifact_folder(artifact, tmp / "int8-artifact"), data, timing_photos=32, rounds=2)
    print("\n".join(report(result)), flush=True)
    return result


def _children_cpu() -> float:
    """CPU seconds (user + system) of finished child processes: less load-dependent than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="images root, one folder per breed")
    parser.add_argument("--folds", type=int, default=1, help="folds to train (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    parser.add_argument("--config", help="configuration file (default config.yaml)")
    parser.add_argument("--set", default="", help="hyperparameter overrides k=v,k=v")
    parser.add_argument("--eval-data", type=Path, help="also score each model on this folder (one folder per "
                        "breed, e.g. ../shared/data/unseen-val/Images) beside the untrained head")
    parser.add_argument("--unknown-data", type=Path, action="append", default=[],
                        help="with --eval-data: photos of no breed of the model (other breeds, non-dogs; "
                        "repeatable): the known-breed score's AUROC and rates at the stored threshold")
    parser.add_argument("--out", default=str(home() / "bench" / "train_bench.json"))
    args = parser.parse_args()
    cfg = config_mod.load(args.config)
    given = dict(item.split("=", 1) for item in args.set.split(",") if item)
    hps = local_hyperparameters(cfg, given)
    runs = []
    if args.eval_data:
        untrained_eval, untrained_right = untrained_head(args.eval_data, hps["backbone"], sorted(
            p.name for p in Path(args.data).iterdir() if p.is_dir()))
    with tempfile.TemporaryDirectory(prefix="train-bench-") as tmp:
        lst_dir = Path(tmp) / "lst"
        write_folds(Path(args.data), lst_dir, args.folds, args.seed)
        for fold in range(1, args.folds + 1):
            load_before = os.getloadavg()[0]
            cpu_before = _children_cpu()
            started = time.time()
            run = train_local(data_dir=args.data, lst_dir=lst_dir, fold=fold,
                              out_dir=Path(tmp) / f"out{fold}", hyperparameters=hps,
                              work_dir=Path(tmp) / f"work{fold}",
                              log_path=Path(tmp) / f"log{fold}.txt")
            wall = time.time() - started
            m = run.metrics
            train_images = sum(1 for _ in open(lst_dir / f"bench_fold_{fold}_train.lst"))
            figures = {
                "fold": fold, "wall_seconds": round(wall, 1), "epochs": m["epochs_run"],
                "stopped_reason": m["stopped_reason"],
                "train_images": train_images,
                "images_per_second": round(train_images * m["epochs_run"] / wall, 2),
                "best_validation_accuracy": m["best"]["validation_accuracy"],
                "untrained_validation_accuracy": (m.get("initial_validation") or {}).get("accuracy"),
                "best_epoch": m["best"]["epoch"],
                "cpu_seconds": round(_children_cpu() - cpu_before, 1),
                "load_average_before": round(load_before, 2),
                "load_average_after": round(os.getloadavg()[0], 2),
            }
            if args.eval_data:
                probs, labels, _ = artifact_probabilities(run.artifact, args.eval_data)
                figures["eval"] = accuracy(probs, labels)
                figures["eval"]["against_untrained"] = paired = paired_test(probs.argmax(1) == labels,
                                                                            untrained_right)
                print(describe(f"fold {fold} trained model on {args.eval_data}:", figures["eval"])
                      + f", ECE {figures['eval']['ece']:.4f}; right where the untrained head is wrong "
                      f"{paired['only_a']}, the reverse {paired['only_b']} (McNemar p {paired['p_value']:.3f})",
                      flush=True)
                figures["calibration"] = m.get("calibration")
                figures["int8_export"] = m.get("int8_export")
                if (m.get("int8_export") or {}).get("served"):
                    figures["int8_eval"] = int8_comparison(run.artifact, args.eval_data, Path(tmp))
            if args.eval_data and args.unknown_data:
                figures["known_breed"] = known_breed_figures(run.artifact, args.eval_data, args.unknown_data)
                print("\n".join(describe_known_breed(figures["known_breed"])), flush=True)
            runs.append(figures)
            print(json.dumps(figures), flush=True)
    accuracies = [r["best_validation_accuracy"] for r in runs]
    untrained = [r["untrained_validation_accuracy"] for r in runs
                 if r["untrained_validation_accuracy"] is not None]
    result = {"hyperparameters": hps, "cpu_count": os.cpu_count(), "runs": runs,
              "mean_accuracy": sum(accuracies) / len(accuracies), "min_accuracy": min(accuracies),
              "mean_untrained_accuracy": sum(untrained) / len(untrained) if untrained else None,
              "max_wall_seconds": max(r["wall_seconds"] for r in runs)}
    if args.eval_data:
        result["eval_data"] = str(args.eval_data)
        result["untrained_eval"] = untrained_eval
        print(describe(f"untrained ImageNet head ({hps['backbone']}) on {args.eval_data}:",
                       result["untrained_eval"]))
    print(f"folds={len(runs)} mean_accuracy={result['mean_accuracy']:.4f} "
          f"min_accuracy={result['min_accuracy']:.4f} max_wall_seconds={result['max_wall_seconds']}"
          + (f" mean_untrained_accuracy={result['mean_untrained_accuracy']:.4f}" if untrained else ""))
    write_json_atomic(Path(args.out), result)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
