"""training/requirements.txt installs in SageMaker's PyTorch training image without replacing what the image
pins (numpy, protobuf, torch): pip's own resolver, as the training toolkit's install would run it, offline
(`--no-index`, the wheel cache alone, none of this machine's pip configuration)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ops.containers import image_pins
from training import serving_runtime


def test_the_training_requirements_resolve_in_the_image_without_replacing_its_pins():
    cache = serving_runtime.wheel_cache()
    if not any(cache.glob("onnx-*.whl")):
        pytest.fail(f"the wheel cache {cache} is empty: run ./scripts/setup "
                    "(python -m ops.containers.image_pins --fetch)")

    installs = image_pins.resolve(offline=True)  # pip --no-index against the cache alone

    names = {i["name"].lower().replace("_", "-"): i["version"] for i in installs}
    assert not set(names) & set(image_pins.TRAINING_IMAGE["pins"])
    required = [line.split("==") for line in image_pins.REQUIREMENTS.read_text().splitlines()
                if line and not line.startswith("#")]
    assert all(names[name] == version for name, version in required)


def test_a_requirement_that_needs_another_numpy_is_refused_naming_both(tmp_path):
    # Given a cache with a package that needs numpy 2, and numpy 2 itself
    _wheel(tmp_path, "needs-numpy-two", "1.0", requires=["numpy>=2"])
    _wheel(tmp_path, "numpy", "2.0.0")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("needs-numpy-two==1.0\n")

    # When it is resolved in the training image, then the change of the pinned numpy is the error
    with pytest.raises(image_pins.ImagePinsError, match=r"would replace .*: numpy 1\.26\.4 -> 2\.0\.0"):
        image_pins.resolve(requirements, cache=tmp_path)


def test_a_requirement_the_cache_lacks_says_how_to_fill_it(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("onnx==99.0\n")
    with pytest.raises(image_pins.ImagePinsError, match=r"(?s)does not resolve .*image_pins --fetch.*onnx==99.0"):
        image_pins.resolve(requirements, cache=tmp_path)


def _wheel(folder: Path, name: str, version: str, requires: list[str] = ()) -> Path:
    """A wheel of metadata alone: what pip's resolver reads."""
    stem = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{stem}-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{stem}.dist-info/METADATA", metadata)
        archive.writestr(f"{stem}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{stem}.dist-info/RECORD", "")
    return path
