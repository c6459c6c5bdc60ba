"""What SageMaker's PyTorch training image pins, and whether training/requirements.txt installs in it
without changing them.

The training toolkit pip-installs the job's requirements.txt into the image at start; a requirement that
needs another numpy or protobuf than the image's upgrades it under the image's own packages (the SageMaker
SDK, the toolkit, torch). The check runs pip's own resolver, as that install would: a dry run in a Python of
the image's version (this machine's, 3.11 as the image's) that holds the image's pinned distributions
(their records only: the image's torch is not downloaded here), against a wheel cache, offline. It passes
when pip would install nothing in place of a pinned one. `--fetch` fills the cache once, online (the same
resolution against the index, then the wheels it chose); ./scripts/setup runs it.

The pins, of the PyTorch 2.5.1 training image (aws.pytorch_version): torch and torchvision as its
Dockerfile installs them, numpy<2 (the Dockerfile pins it: 1.26.4 is the last), protobuf 3.20.3 (the
training toolkit's `protobuf>=3.9.2,<=3.20.3`, aws/sagemaker-training-toolkit#234).
https://github.com/aws/deep-learning-containers/blob/master/pytorch/training/docker/2.5/py3/Dockerfile.cpu

    .venv/bin/python -m ops.containers.image_pins [--fetch]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from training import serving_runtime
from training.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "training" / "requirements.txt"
TRAINING_IMAGE = {"python": "3.11", "pins": {"torch": "2.5.1", "torchvision": "0.20.1", "numpy": "1.26.4",
                                             "protobuf": "3.20.3"}}


class ImagePinsError(UserError, RuntimeError):
    """The requirements would change what the image pins, or cannot be resolved."""


def image_python(folder: Path, pins: dict[str, str]) -> Path:
    """A venv of this Python holding only the records of `pins` (name -> version): the image as pip
    sees it. The image's Python version must be this one's (pip resolves for the running interpreter)."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here != TRAINING_IMAGE["python"]:
        raise ImagePinsError(f"the training image runs Python {TRAINING_IMAGE['python']}; this is {here}")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    site = next((folder / "lib").glob("python*/site-packages"))
    for name, version in pins.items():
        record = site / f"{name}-{version}.dist-info"
        record.mkdir()
        (record / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (record / "INSTALLER").write_text("the image\n")
        (record / "RECORD").write_text("")
    return folder / "bin" / "python"


def resolve(requirements: Path = REQUIREMENTS, *, cache: Path | None = None, offline: bool = True) -> list[dict]:
    """What `pip install -r requirements` would install in the training image: [{name, version}];
    offline against `cache` (default: the project's wheel cache), else against the index."""
    cache = cache or serving_runtime.wheel_cache()
    pins = TRAINING_IMAGE["pins"]
    with tempfile.TemporaryDirectory(prefix="dogs-image-") as folder:
        python = image_python(Path(folder) / "image", pins)
        report = Path(folder) / "report.json"
        where = ["--no-index", "--find-links", str(cache)] if offline else []
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull  # this machine's mirrors and constraints are not the image's
        result = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--dry-run",
                                 "--quiet", "--disable-pip-version-check", "--only-binary=:all:", *where,
                                 "--report", str(report), "-r", str(requirements)],
                                capture_output=True, text=True, env=env)
        if result.returncode:
            tail = "\n".join(result.stderr.strip().splitlines()[-8:])
            hint = f" (is the cache {cache} filled? python -m ops.containers.image_pins --fetch)" if offline else ""
            raise ImagePinsError(f"{requirements.name} does not resolve in the training image{hint}:\n{tail}")
        installs = [{"name": i["metadata"]["name"], "version": i["metadata"]["version"]}
                    for i in json.loads(report.read_text())["install"]]
    changed = [i for i in installs if _normal(i["name"]) in {_normal(n) for n in pins}]
    if changed:
        raise ImagePinsError(f"{requirements.name} would replace what the training image pins: " + ", ".join(
            f"{i['name']} {pins[_pin_name(i['name'], pins)]} -> {i['version']}" for i in changed))
    return installs


def fetch(requirements: Path = REQUIREMENTS, cache: Path | None = None) -> list[Path]:
    """Fill the cache with the wheels the check needs (online: resolve against the index, download those),
    unless the check already passes offline."""
    cache = cache or serving_runtime.wheel_cache()
    cache.mkdir(parents=True, exist_ok=True)
    try:
        resolve(requirements, cache=cache)
        return sorted(cache.glob("*.whl"))  # the cache has all it needs already
    except ImagePinsError:
        pass
    wanted = [f"{i['name']}=={i['version']}" for i in resolve(requirements, cache=cache, offline=False)]
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                             "--disable-pip-version-check", "--only-binary=:all:", "--dest", str(cache), *wanted],
                            capture_output=True, text=True)
    if result.returncode:
        raise ImagePinsError(f"pip download failed: {result.stderr.strip().splitlines()[-1:]}")
    return sorted(cache.glob("*.whl"))


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def _pin_name(name: str, pins: dict[str, str]) -> str:
    return next(n for n in pins if _normal(n) == _normal(name))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fetch", action="store_true", help="fill the wheel cache first (needs the index)")
    args = parser.parse_args(argv)
    try:
        if args.fetch:
            fetch()
        installs = resolve()
    except ImagePinsError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"{REQUIREMENTS.relative_to(ROOT)} installs in the training image without changing "
          f"{', '.join(f'{k} {v}' for k, v in TRAINING_IMAGE['pins'].items())}: "
          + ", ".join(f"{i['name']} {i['version']}" for i in installs))


if __name__ == "__main__":
    main()
