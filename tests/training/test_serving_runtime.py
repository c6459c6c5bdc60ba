"""The runtime the artifact carries for the inference image: ONNX Runtime's wheel for the image's Python,
unpacked under code/ with its licence, and serving the model with no torch at all (so the harness's torch,
which is not the image's, plays no part in the answers)."""
from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ops.core.artifact import extract
from tests.fixtures.paths import SHARED
from training import serving_runtime

UNSEEN = SHARED / "data" / "unseen-val" / "Images"
ABI_DIGITS = serving_runtime.ABI.removeprefix("cp")

# Run by the serving image's Python with code/ as its path and torch made unimportable.
NO_TORCH = """
import importlib.abc, json, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"{name} is not allowed in this test")

sys.meta_path.insert(0, NoTorch())
model_dir, photos = sys.argv[1], sys.argv[2:]
sys.path.insert(0, model_dir + "/code")
import inference
model = inference.model_fn(model_dir)
answers = [json.loads(inference.transform_fn(model, open(p, "rb").read(), "application/x-image",
                                             "application/json")[0]) for p in photos]
import onnxruntime
print(json.dumps({"backend": model.backend, "onnxruntime": onnxruntime.__file__, "answers": answers,
                  "torch_loaded": any(m.split(".")[0] == "torch" for m in sys.modules)}))
"""


@pytest.fixture(scope="module")
def model_dir(tiny_artifact, tmp_path_factory) -> Path:
    return extract(tiny_artifact, tmp_path_factory.mktemp("served") / "model")


def test_the_artifact_carries_onnx_runtime_for_the_images_python_with_its_licence(model_dir):
    runtime = json.loads((model_dir / "model.json").read_text())["serving_runtime"]
    assert runtime == {"package": "onnxruntime", "version": serving_runtime.installed_version(),
                       "python": serving_runtime.PYTHON, "wheel": runtime["wheel"]}
    assert f"-{serving_runtime.ABI}-{serving_runtime.ABI}-manylinux" in runtime["wheel"]
    code = model_dir / "code"
    assert (code / "onnxruntime" / "LICENSE").is_file()
    assert (code / f"onnxruntime-{runtime['version']}.dist-info" / "RECORD").is_file()
    assert list((code / "onnxruntime" / "capi").glob(f"onnxruntime_pybind11_state.cpython-{ABI_DIGITS}*.so"))


def test_it_serves_without_torch_in_the_serving_images_python(model_dir, loaded_tiny):
    # Given the serving image's Python (the image's 3.11) with torch made unimportable
    from ops.containers import container_env

    python = container_env.python("serving")
    if not python.exists():
        pytest.fail(f"{python} is missing: run `.venv/bin/python -m ops.containers.container_env`")
    photos = [p for folder in sorted(UNSEEN.iterdir()) for p in sorted(folder.glob("*.JPEG"))[:2]]
    assert len(photos) == 20

    # When the artifact's own handlers answer 20 unseen photos there
    env = {"PATH": "/usr/bin:/bin", "DOGS_INFERENCE_THREADS": "1"}
    result = subprocess.run([str(python), "-c", NO_TORCH, str(model_dir), *map(str, photos)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout.splitlines()[-1])

    # Then ONNX Runtime from code/ answered, no torch was loaded, and the answers are the in-process model's
    assert served["backend"] == "onnxruntime" and not served["torch_loaded"]
    assert served["onnxruntime"] == str(model_dir / "code" / "onnxruntime" / "__init__.py")
    for photo, answer in zip(photos, served["answers"]):
        assert np.abs(np.array(answer) - loaded_tiny.predict(photo.read_bytes())).max() <= 1e-4


def test_a_cached_wheel_is_found_only_for_the_images_python_and_platform(tmp_path):
    for name in ("onnxruntime-9.9.9-cp312-cp312-manylinux_2_28_x86_64.whl",
                 "onnxruntime-9.9.9-cp311-cp311-macosx_14_0_arm64.whl"):
        _empty_wheel(tmp_path / name)
    assert serving_runtime.find_wheel("9.9.9", tmp_path) is None

    wanted = _empty_wheel(tmp_path / "onnxruntime-9.9.9-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl")
    assert serving_runtime.find_wheel("9.9.9", tmp_path) == wanted


def test_no_wheel_and_no_index_leaves_the_runtime_out_with_a_warning(tmp_path, monkeypatch):
    # Given an empty cache and a pip that reaches no index
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "no-index").as_uri())
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-links"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)

    with pytest.warns(UserWarning, match="carries no onnxruntime .* PyTorch will serve it"):
        assert serving_runtime.vendor(tmp_path / "code", "1.32.0", tmp_path / "cache") is None
    assert not (tmp_path / "code").exists()


def _empty_wheel(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("onnxruntime/__init__.py", "")
    return path
