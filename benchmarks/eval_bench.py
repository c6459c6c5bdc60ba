"""Benchmark `invoke evaluate --via model`: seconds from the LST to the finished report folder.

Target (issue 6): the artifact trained from dogs-10 and its 400-photo test split, report in < 2 minutes on
the development machine. The prediction cache starts empty (a temp file), so every photo is predicted.

    python benchmarks/eval_bench.py --model .dogs/.../model.tar.gz --lst .dogs/lst/dogs_test.lst \
        --data ../shared/data/dogs-10/Images

Prints the figures and writes them to --json (default .dogs/bench/eval_bench.json).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ops.core import state  # noqa: E402
from ops.evaluate import run, sources  # noqa: E402
from ops.core.state import write_json_atomic  # noqa: E402

TARGET_S = 120


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model.tar.gz (default: the artifact `invoke train` "
                                        "recorded)")
    parser.add_argument("--lst", default=str(state.home() / "lst" / "dogs_test.lst"),
                        help="test LST (default: .dogs/lst/dogs_test.lst)")
    parser.add_argument("--data", default="../shared/data/dogs-10/Images",
                        help="images root (default: ../shared/data/dogs-10/Images)")
    parser.add_argument("--workers", type=int, default=2, help="threads (default 2)")
    parser.add_argument("--out", help="report folder (default: a temp folder)")
    parser.add_argument("--json", default=str(state.home() / "bench" / "eval_bench.json"),
                        help="where the figures go (default .dogs/bench/eval_bench.json)")
    args = parser.parse_args(argv)
    model = args.model or (state.trained() or state.TrainedArtifact()).local_path
    if not model:
        parser.error("no --model and no artifact recorded; run `invoke train` first")
    with tempfile.TemporaryDirectory(prefix="eval-bench-") as tmp:
        out = Path(args.out or Path(tmp) / "report")
        started = time.perf_counter()
        source = sources.ArtifactSource(model)
        loaded = time.perf_counter()
        report = run.evaluate(args.lst, args.data, out, source, cache_path=Path(tmp) / "c.sqlite",
                              options=run.Options(workers=args.workers))
        total = time.perf_counter() - started
        html_bytes = (out / "report.html").stat().st_size
    figures = {
        "benchmark": "evaluate --via model",
        "photos": report["images"]["evaluated"],
        "skipped": report["images"]["skipped_count"],
        "classes": len(report["classes"]),
        "model_load_s": round(loaded - started, 2),
        "predict_s": report["timing_s"]["predict"],
        "report_s": round(report["timing_s"]["total"] - report["timing_s"]["predict"], 2),
        "total_s": round(total, 2),
        "photos_per_s": round(report["images"]["evaluated"] / report["timing_s"]["predict"], 1),
        "target_s": TARGET_S,
        "within_target": total < TARGET_S,
        "top1": report["top1"]["value"],
        "report_html_mb": round(html_bytes / 2**20, 2),
        "workers": args.workers,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "model_id": report["model_id"],
    }
    for key, value in figures.items():
        print(f"{key:>16}: {value}")
    write_json_atomic(Path(args.json), figures)
    print(f"written: {args.json}")
    return 0 if figures["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
