"""Time `ops.train.s3sync` over a photo folder: a first run (uploads all) and a second run (uploads nothing).

The S3 here is moto in-process (no network), so the figures measure our side: listing, hashing, the
thread pool and boto3's request building — and show what a re-run costs when nothing changed.

    .venv/bin/python benchmarks/s3sync_bench.py [--data ../shared/data/dogs-10/Images] [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared/data/dogs-10/Images"),
                        help="photo folder (default: ../shared/data/dogs-10/Images)")
    parser.add_argument("--workers", type=int, default=16, help="upload threads (default 16)")
    parser.add_argument("--out", help="JSON file for the figures (default: .dogs/bench/s3sync.json)")
    args = parser.parse_args()
    for key, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ[key] = value
    import boto3
    from moto import mock_aws

    from ops.core import naming, state
    from ops.train import s3sync

    files = [p for p in Path(args.data).rglob("*") if p.is_file() and not p.name.startswith(".")]
    size = sum(p.stat().st_size for p in files)
    figures = {"data": args.data, "files": len(files), "megabytes": round(size / 1e6, 1),
               "workers": args.workers, "s3": "moto in-process"}
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench")
        for run in ("first", "second"):
            start = time.perf_counter()
            result = s3sync.sync_to_s3(args.data, "bench", f"{naming.PREFIX}images/", client=s3,
                                       workers=args.workers, progress=False)
            seconds = time.perf_counter() - start
            figures[run] = {"seconds": round(seconds, 2), "uploaded": result.uploaded,
                            "skipped": result.skipped, "files_per_s": round(len(files) / seconds, 1)}
            print(f"{run} run: {result.uploaded} uploaded, {result.skipped} skipped, "
                  f"{seconds:.2f} s ({len(files) / seconds:.0f} files/s)")
    out = Path(args.out) if args.out else state.home() / "bench" / "s3sync.json"
    state.write_json_atomic(out, figures)
    print(f"{figures['files']} files, {figures['megabytes']} MB; figures in {out}")


if __name__ == "__main__":
    main()
