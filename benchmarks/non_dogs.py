"""Gather pictures of no dog from what is installed, for the known-breed score's `--unknown-data`.

    .venv/bin/python benchmarks/non_dogs.py [--out .dogs/non-dogs] [--add DIR ...]

No photo set of "not a dog" ships with this machine. matplotlib's sample pictures do (a portrait, a
product box, a logo), so they are always taken. `--add DIR` (repeatable) adds every JPEG/PNG under DIR,
e.g. the photos of Rust's embedded book (`~/.rustup/toolchains/*/share/doc/rust/html/embedded-book/assets`).
Files are copied flat into `--out`, which is written anew (temp folder + rename). Tiny: figures on it are
indicative only.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ops.core.state import home  # noqa: E402
from unseen_eval import any_photos  # noqa: E402

MATPLOTLIB_PICTURES = ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png")


def sources(extra: list[Path]) -> list[Path]:
    import matplotlib

    sample = Path(matplotlib.get_data_path()) / "sample_data"
    return [sample / name for name in MATPLOTLIB_PICTURES] + [p for d in extra for p in any_photos(d)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=home() / "non-dogs")
    parser.add_argument("--add", type=Path, action="append", default=[], help="a folder of more pictures")
    args = parser.parse_args()
    missing = [str(d) for d in args.add if not d.is_dir()]
    if missing:
        raise SystemExit(f"--add: not a folder: {', '.join(missing)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=args.out.parent, prefix=f".{args.out.name}-"))
    for i, path in enumerate(sources(args.add)):
        shutil.copyfile(path, staging / f"{i:03d}-{path.name}")
    if args.out.exists():
        shutil.rmtree(args.out)
    staging.rename(args.out)
    print(f"{len(any_photos(args.out))} pictures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
