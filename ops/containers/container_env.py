"""Python environments that hold what SageMaker's PyTorch containers hold, for the container harnesses.

Each image is one venv under `.containers/` with the image's own toolkit from PyPI; the framework
(torch, torchvision, numpy, Pillow and what they require) is one shared layer that both venvs see
through a `.pth` file, as two images share a base layer. The layer is not a second install: it is a
folder of hard links to the files of those distributions in this project's own environment (copies
only where the two folders are on different file systems), so the framework lies on disk once, and a
sandbox that mounts `.containers` alone (read-only) still sees every file. Nothing else of this
project's requirements is there: an artifact that needs more than the image has fails in the harness
as it would on SageMaker.

    serving   sagemaker-pytorch-inference (the `serve` entry point, with sagemaker_inference inside),
              torchserve (needs a Java runtime), pyyaml and a setuptools with pkg_resources (the toolkit
              and TorchServe's worker import them; the real image has both)
    training  sagemaker-training (the `train` entry point) and sagemaker-pytorch-training

What differs from the images (see docs/containers.md): Python 3.11 as the images of `aws.pytorch_version`
2.5.1, but the project's torch 2.14.1 and numpy 2.4 here against their 2.5.1 and the training image's numpy
1.26.4 and protobuf 3.20.3 (this machine's pip takes torch from its own disk only at 2.14.1; the artifact
serves with its own ONNX Runtime, not torch; `ops.containers.image_pins` checks the training requirements
against the image's pins), CPU only, and no CUDA, MPI or EFA. `image_paths()` names the host folders an
image consists of: the sandbox shows those alone.

`python -m ops.containers.container_env` builds both (idempotent: a stamp of the framework's versions
and the pinned lists skips a second run).
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from training.errors import UserError
from training.files import write_text_atomic

ROOT = Path(__file__).resolve().parents[2]
# resolved: the sandbox shows the image at its real path (a .containers link to shared envs included)
HOME = Path(os.environ.get("DOGS_CONTAINERS_HOME") or ROOT / ".containers").resolve()
# The framework layer: what every PyTorch image has before its toolkit (with what these require).
FRAMEWORK = ("torch", "torchvision", "numpy", "pillow")
# Required by torch's metadata but needed only on a GPU: the locks leave it out (scripts/lock reads this),
# as the images' CPU builds of torch do.
LEFT_OUT = ("triton",)
IMAGES = {
    "serving": ("sagemaker-pytorch-inference==2.0.25", "torchserve==0.12.0", "pyyaml>=6.0",
                "setuptools<81"),
    "training": ("sagemaker-training==5.1.4", "sagemaker-pytorch-training==3.0.0", "setuptools<81"),
}
ENTRY_POINTS = {"serving": "serve", "training": "train"}


class ContainerEnvError(UserError, RuntimeError):
    """A container environment cannot be built or is incomplete."""


def layer_dir() -> Path:
    return HOME / "framework"


def venv_dir(image: str) -> Path:
    return HOME / image


def python(image: str) -> Path:
    return venv_dir(image) / "bin" / "python"


def entry_point(image: str) -> Path:
    return venv_dir(image) / "bin" / ENTRY_POINTS[image]


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python*/site-packages"))


def image_paths(image: str) -> list[Path]:
    """The host folders the image consists of, for the sandbox to show read-only: its venv, the
    interpreter that venv runs (pyvenv.cfg's `home`, one folder up) and every folder its .pth files add
    (the framework layer)."""
    venv = venv_dir(image)
    config = dict(line.split(" = ", 1) for line in (venv / "pyvenv.cfg").read_text().splitlines()
                  if " = " in line)
    paths = [venv, Path(config["home"]).parent]
    for pth in site_packages(venv).glob("*.pth"):
        paths += [Path(line) for line in pth.read_text().splitlines()
                  if line.startswith("/") and Path(line).is_dir()]
    return paths


def _stamp(packages: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(packages).encode()).hexdigest()


def _pip(python_exe: Path | str, *args: str) -> None:
    cmd = [str(python_exe), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise ContainerEnvError(f"pip install {' '.join(args)} failed:\n{tail}")


def _distribution(name: str) -> metadata.Distribution:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise ContainerEnvError(f"{name} is not installed in {sys.prefix}, which the framework layer "
                                "links from: run ./scripts/setup") from None


def framework_distributions(roots: tuple[str, ...] = FRAMEWORK) -> list[metadata.Distribution]:
    """The roots and everything they require on this platform (extras followed), as installed here."""
    found: dict[str, metadata.Distribution] = {}
    todo = [(name, frozenset()) for name in roots]
    seen: set[tuple[str, frozenset]] = set()
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if (key, extras) in seen or key in LEFT_OUT:
            continue
        seen.add((key, extras))
        dist = found.setdefault(key, _distribution(name))
        for line in dist.requires or ():
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras or {""}):
                todo.append((req.name, frozenset(req.extras)))
    return sorted(found.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


def _layer_stamp(dists: list[metadata.Distribution]) -> str:
    return _stamp(tuple(f"{d.metadata['Name']}=={d.version}@{d.locate_file('')}" for d in dists))


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copy2(source, target)  # another file system (or no hard links there): a copy


def link_distribution(dist: metadata.Distribution, target: Path) -> int:
    """Hard-link the distribution's installed files (its RECORD) under `target`; returns the count.
    Files installed outside site-packages (console scripts in bin/) stay out: the image has its own."""
    count = 0
    for entry in dist.files or ():
        relative = Path(str(entry))
        source = Path(dist.locate_file(entry))
        if relative.is_absolute() or ".." in relative.parts or not source.is_file():
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        _link(source, target / relative)
        count += 1
    return count


def ensure_layer(echo=print) -> Path:
    target = layer_dir()
    dists = framework_distributions()
    want = _layer_stamp(dists)
    stamp = target / ".stamp"
    if stamp.is_file() and stamp.read_text() == want:
        return target
    echo(f"linking the framework layer ({', '.join(FRAMEWORK)} and {len(dists) - len(FRAMEWORK)} "
         f"packages they require, from {sys.prefix}) into {target}")
    staging = target.with_name(target.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for dist in dists:
        link_distribution(dist, staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.replace(target)
    write_text_atomic(target / ".stamp", want)
    return target


def ensure(image: str, echo=print) -> Path:
    """The venv of `image` ("serving" or "training"), built if it is missing or out of date."""
    if image not in IMAGES:
        raise ContainerEnvError(f"unknown image {image!r}; one of {', '.join(IMAGES)}")
    layer = ensure_layer(echo)
    venv = venv_dir(image)
    stamp = venv / ".stamp"
    want = _stamp((layer.joinpath(".stamp").read_text(),) + IMAGES[image])
    if stamp.is_file() and stamp.read_text() == want and entry_point(image).exists():
        return venv
    echo(f"building the {image} container environment in {venv}")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (site_packages(venv) / "framework-layer.pth").write_text(str(layer) + "\n")
    _pip(python(image), *IMAGES[image])
    write_text_atomic(stamp, want)
    return venv


def java() -> str:
    """The Java runtime TorchServe's frontend needs, or an error that says how to install it."""
    found = shutil.which("java")
    if not found:
        raise ContainerEnvError("TorchServe needs a Java runtime: apt-get install openjdk-17-jre-headless")
    return found


def main() -> None:
    for image in IMAGES:
        ensure(image)
    print(f"container environments ready in {HOME}")


if __name__ == "__main__":
    main()
