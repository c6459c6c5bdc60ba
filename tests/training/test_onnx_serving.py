"""The artifact's ONNX export: checked at export, served by ONNX Runtime, same answers as PyTorch."""
from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
import torch

from training import export



def test_the_artifact_carries_a_checked_onnx_export(tiny_artifact):
    with tarfile.open(tiny_artifact) as tar:
        names = set(tar.getnames())
        model = json.load(tar.extractfile("model.json"))
        metrics = json.load(tar.extractfile("metrics.json"))
    assert "model.onnx" in names and model["onnx"]["file"] == "model.onnx"
    assert 0 <= model["onnx"]["max_abs_diff"] < 1e-4
    assert metrics["onnx_export"]["exported"] and metrics["onnx_export"]["checked_images"] > 0


def test_onnx_runtime_serves_by_default_and_pytorch_on_request(onnx_and_torch):
    default, fallback = onnx_and_torch
    assert default.model.backend == "onnxruntime" and default.model.network is None
    assert fallback.model.backend == "pytorch"


def test_both_backends_answer_the_same_probabilities(onnx_and_torch, photos):
    default, fallback = onnx_and_torch
    for _, jpeg in photos.values():
        onnx_probs, torch_probs = default.predict(jpeg), fallback.predict(jpeg)
        assert len(onnx_probs) == len(default.classes)
        assert np.abs(np.array(onnx_probs) - np.array(torch_probs)).max() < 1e-4


def test_a_batch_answers_what_single_requests_answer(onnx_and_torch, photos):
    default, _ = onnx_and_torch
    bodies = [jpeg for _, jpeg in photos.values()]
    batch = np.stack([default.prepare(b, "image/jpeg") for b in bodies])
    together = default.forward(batch)
    for row, body in zip(together, bodies):
        assert np.abs(row - np.array(default.predict(body))).max() < 1e-5


def test_without_onnx_the_artifact_serves_with_pytorch(tiny_artifact, tmp_path, photos):
    from ops.core.artifact import extract, load_artifact

    folder = extract(tiny_artifact, tmp_path / "model")
    (folder / "model.onnx").unlink()
    model = load_artifact(folder)
    assert model.model.backend == "pytorch"
    _, jpeg = next(iter(photos.values()))
    assert abs(sum(model.predict(jpeg)) - 1) < 1e-4


def small_network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(4, 5))


def test_export_onnx_reports_the_difference_and_keeps_the_file(tmp_path):
    result = export.export_onnx(small_network(), tmp_path / "m.onnx", torch.randn(3, 3, 16, 16))
    assert result["exported"] and result["max_abs_diff"] < 1e-4 and result["checked_images"] == 3
    assert (tmp_path / "m.onnx").is_file()


def test_an_export_outside_the_tolerance_is_dropped_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="ONNX export dropped"):
        result = export.export_onnx(small_network(), tmp_path / "m.onnx", torch.randn(2, 3, 16, 16),
                                    tolerance=-1.0)
    assert not result["exported"] and "difference" in result["reason"]
    assert not (tmp_path / "m.onnx").exists()


def test_a_failing_export_is_dropped_and_training_mode_restored(tmp_path):
    net = small_network().train()
    with pytest.warns(UserWarning, match="ONNX export dropped"):
        result = export.export_onnx(net, tmp_path / "m.onnx", torch.randn(2, 5))  # wrong shape
    assert not result["exported"] and not (tmp_path / "m.onnx").exists()
    assert net.training


def test_a_reduced_precision_model_is_exported_as_float32_and_left_as_it_was(tmp_path):
    # A network that computes at lower precision where it trained (bfloat16 here; TF32 on a GPU) is
    # exported and checked as the float32 CPU network ONNX Runtime serves, not dropped.
    net = small_network().to(torch.bfloat16).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}

    result = export.export_onnx(net, tmp_path / "m.onnx", torch.randn(3, 3, 16, 16))

    assert result["exported"] and result["max_abs_diff"] < 1e-4 and (tmp_path / "m.onnx").is_file()
    assert net.training and all(v.dtype == torch.bfloat16 for v in net.state_dict().values())
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_model_on_a_gpu_is_exported_within_the_tolerance(tmp_path):
    from training.model import build_model

    net = build_model("efficientnet_lite0", num_classes=10, pretrained=True).cuda().eval()
    images = torch.randn(8, 3, 224, 224, device="cuda")

    result = export.export_onnx(net, tmp_path / "m.onnx", images)

    assert result["exported"], result
    assert next(net.parameters()).is_cuda


def test_without_onnxruntime_the_artifact_serves_with_pytorch(tiny_artifact, monkeypatch, photos,
                                                               onnx_and_torch):
    import sys

    from ops.core.artifact import load_artifact

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    model = load_artifact(tiny_artifact)
    assert model.model.backend == "pytorch"
    _, jpeg = next(iter(photos.values()))
    assert np.abs(np.array(model.predict(jpeg)) - np.array(onnx_and_torch[0].predict(jpeg))).max() < 1e-4
