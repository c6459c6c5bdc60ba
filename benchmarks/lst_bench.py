"""Benchmark: scanning + rendering a photo folder into LST files (the target: 2,000 photos in < 10 s).

    .venv/bin/python benchmarks/lst_bench.py [--data DIR] [--repeat 3] [--out FILE]

Times `training.lst.render` (photo checks + split + writing) end to end, and `training.photos.scan`
alone, on the 10-breed photo folder by default; prints the figures and writes them as JSON (default:
`.dogs/bench/lst_bench.json`). The first repeat reads the photos from disk, later ones mostly from the
page cache; all are reported.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from training import lst, photos  # noqa: E402
from training.files import write_text_atomic  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dogs-10" / "Images"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"images root (default: {DEFAULT_DATA})")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (default 3)")
    parser.add_argument("--out", type=Path, default=ROOT / ".dogs" / "bench" / "lst_bench.json",
                        help="JSON file for the figures (default: .dogs/bench/lst_bench.json)")
    args = parser.parse_args(argv)

    render_s, scan_s = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.repeat):
            start = time.perf_counter()
            result = lst.render(args.data, Path(tmp) / f"run{n}", progress=False)
            render_s.append(time.perf_counter() - start)
        for _ in range(args.repeat):
            start = time.perf_counter()
            photos.scan(args.data, progress=False)
            scan_s.append(time.perf_counter() - start)
    scanned = len(result.scan.good) + len(result.scan.bad)
    figures = {
        "benchmark": "lst_render",
        "data": str(args.data),
        "photos": scanned,
        "train": result.splits[0].train_count,
        "test": result.splits[0].test_count,
        "render_seconds": [round(s, 3) for s in render_s],
        "render_seconds_median": round(statistics.median(render_s), 3),
        "scan_seconds_median": round(statistics.median(scan_s), 3),
        "photos_per_second": round(scanned / statistics.median(render_s), 1),
        "target_seconds": 10.0,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "processor": platform.machine()},
    }
    write_text_atomic(args.out, json.dumps(figures, indent=2) + "\n")
    print(f"{scanned:,} photos scanned + rendered ({figures['train']:,} train / "
          f"{figures['test']:,} test): median {figures['render_seconds_median']:.2f} s "
          f"(runs: {', '.join(f'{s:.2f}' for s in render_s)} s; scan alone "
          f"{figures['scan_seconds_median']:.2f} s; {figures['photos_per_second']:,.0f} photos/s; "
          f"target < 10 s) on {os.cpu_count()} CPUs")
    print(f"wrote {args.out}")
    return figures


if __name__ == "__main__":
    main()
