"""The runtime that serves the artifact on AWS: ONNX Runtime's wheel for the inference image's Python and
platform, unpacked under the artifact's `code/` with its licence.

SageMaker's PyTorch inference image has no onnxruntime and the endpoint installs nothing at start (network
isolation), so the artifact carries it: the toolkit puts `code/` on its workers' PYTHONPATH and
`code/inference.py` imports it from there; where it cannot load, the image's PyTorch serves the model.
The wheel is the one of the onnxruntime that checked the export (the same version), for `PYTHON` (the
image's: the PyTorch 2.5.1 inference image runs Python 3.11) and `PLATFORMS` (x86_64 manylinux up to the
image's glibc, Ubuntu 22.04's 2.35). It comes from a wheel cache (`wheel_cache()`), filled once by
`pip download` (`python -m training.serving_runtime`, run by ./scripts/setup, or the first export); with no wheel and no index (offline) the artifact carries none and says so.
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping

PACKAGE = "onnxruntime"
PYTHON = "3.11"  # the SageMaker PyTorch inference image's (ops/train/sagemaker_images.py checks it)
ABI = "cp" + PYTHON.replace(".", "")
PLATFORMS = ("manylinux2014_x86_64", *(f"manylinux_2_{minor}_x86_64" for minor in range(17, 36)))
WHEELS_ENV = "DOGS_WHEELS"


def wheel_cache(env: Mapping[str, str] = os.environ) -> Path:
    """Where fetched wheels are kept: $DOGS_WHEELS, else `.dogs/wheels` beside the training package (the
    checkout's work folder; a cache, so one for every $DOGS_HOME)."""
    if env.get(WHEELS_ENV):
        return Path(env[WHEELS_ENV])
    return Path(__file__).resolve().parent.parent / ".dogs" / "wheels"


def installed_version() -> str | None:
    """The onnxruntime of this environment (the one that checked the export), if any."""
    from importlib import metadata

    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def find_wheel(version: str, cache: Path) -> Path | None:
    """The cached wheel of onnxruntime `version` for the image's Python and platform."""
    from packaging.utils import parse_wheel_filename

    for path in sorted(cache.glob(f"{PACKAGE}-{version}-*.whl")):
        _, _, _, tags = parse_wheel_filename(path.name)
        if any(t.interpreter == ABI and t.abi == ABI and t.platform in PLATFORMS for t in tags):
            return path
    return None


def fetch_wheel(version: str, cache: Path) -> Path:
    """The wheel from the cache, downloaded there first if missing (pip, for the image's Python and
    platform, whatever this interpreter is). Raises RuntimeError when pip cannot get it."""
    found = find_wheel(version, cache)
    if found:
        return found
    cache.mkdir(parents=True, exist_ok=True)
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                             "--disable-pip-version-check", "--only-binary=:all:", "--python-version",
                             PYTHON, "--implementation", "cp", *platforms, "--dest", str(cache),
                             f"{PACKAGE}=={version}"], capture_output=True, text=True)
    found = find_wheel(version, cache)
    if result.returncode or found is None:
        tail = " ".join(result.stderr.strip().splitlines()[-2:])
        raise RuntimeError(f"pip download {PACKAGE}=={version} for Python {PYTHON} failed: {tail}")
    return found


def vendor(code_dir: Path, version: str | None = None, cache: Path | None = None) -> dict[str, Any] | None:
    """Unpack the wheel into `code_dir` (the package and its dist-info: licence, notices, RECORD);
    returns what model.json records about it, or None with a warning when there is no wheel to carry."""
    version = version or installed_version()
    if version is None:
        return None
    try:
        wheel = fetch_wheel(version, cache or wheel_cache())
    except (RuntimeError, OSError) as exc:
        warnings.warn(f"the artifact carries no {PACKAGE} (the image's PyTorch will serve it): {exc}")
        return None
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(code_dir)
    return {"package": PACKAGE, "version": version, "python": PYTHON, "wheel": wheel.name}


def main() -> None:
    """`python -m training.serving_runtime`: the wheel of this environment's onnxruntime into the cache."""
    version = installed_version()
    if version is None:
        raise SystemExit(f"error: {PACKAGE} is not installed here: nothing to fetch")
    try:
        print(f"{PACKAGE} for Python {PYTHON}: {fetch_wheel(version, wheel_cache())}")
    except RuntimeError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
