"""The int8 ONNX export: quantised from the checked float32 model, gated on validation photos, served when
it passes, dropped with the reason when it does not."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from training import export, inference, quantise
from training.classmap import from_folders
from training.data import load_image
from training.model import build_model, known_breed_rows
from training.preprocess import eval_transform, image_settings

SIZE = 96  # small photos: quick to quantise and run, still a real network on real photos


@pytest.fixture(scope="module")
def untrained(dogs10):
    """Lite0 with the ImageNet classifier's rows of 3 breeds as its head; 4 photos of each breed."""
    folders = sorted(p.name for p in dogs10.iterdir() if p.is_dir())[:3]
    classes = from_folders(folders)
    names = [c.name for c in classes]
    net = build_model("efficientnet_lite0", num_classes=3, pretrained=True, class_names=names,
                      known_breed_rows=known_breed_rows(names)).eval()
    net.known_breed_threshold = 0.1
    transform = eval_transform(**image_settings("efficientnet_lite0", SIZE))
    photos = [(c.id, p) for c in classes for p in sorted((dogs10 / c.folder).glob("*.jpg"))[:4]]
    images = torch.stack([transform(load_image(p)) for _, p in photos])
    return net, classes, images, torch.tensor([i for i, _ in photos])


def write(tmp_path, untrained, **gate):
    net, classes, images, labels = untrained
    hps = {"backbone": "efficientnet_lite0", "num_layers": 50, "image_shape": f"3,{SIZE},{SIZE}",
           "resize": int(SIZE / 0.875)}
    int8 = {"calibration": images[::2], "validation": [(images, labels)], **gate}
    out = export.write_model_dir(tmp_path / "model", model=net, classes=classes, hps=hps, metrics={},
                                 check_images=images[:4], int8=int8)
    return out, json.loads((out / "model.json").read_text()), json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def served(tmp_path_factory, untrained):
    """An artifact folder whose int8 model passed a gate that lets anything through."""
    return write(tmp_path_factory.mktemp("int8"), untrained, max_top1_drop=1.0, min_agreement=0.0)


@pytest.mark.slow
def test_an_int8_model_that_passes_its_gate_is_served(served, untrained):
    out, model, metrics = served

    check = metrics["int8_export"]
    assert check["served"] and check["photos"] == 12 and 0 <= check["agreement"] <= 1
    assert model["onnx"]["file"] == "model.int8.onnx" and model["onnx"]["float32_file"] == "model.onnx"
    assert (out / "model.int8.onnx").stat().st_size < (out / "model.onnx").stat().st_size / 2
    # served by the artifact's handler: int8 answers, close to float32's but not the same numbers
    predictor = inference.model_fn(str(out))
    _, _, images, _ = untrained
    batch = images.numpy()
    served = inference.forward(batch, predictor)
    exact = quantise.session(out / "model.onnx").run(None, {"images": batch})[0]
    assert predictor.backend == "onnxruntime" and served.shape == (12, 4)
    assert np.allclose(served[:, :3].sum(axis=1), 1, atol=1e-4)
    assert 0 < np.abs(served[:, :3] - exact).max() < 0.2
    assert (served[:, :3].argmax(1) == exact.argmax(1)).mean() >= check["agreement"] - 1e-9
    answer = json.loads(inference.answer(served[0], predictor, "application/json; verbose=true"))
    assert set(answer) == {"probabilities", "known_breed_score", "is_known_breed"}


@pytest.mark.slow
def test_an_int8_model_that_fails_its_gate_is_dropped_with_the_reason(tmp_path, served, untrained):
    # the export's int8 step on a staged float32 model, with a gate no model passes (agreement <= 1)
    shutil.copy2(served[0] / "model.onnx", tmp_path / "model.onnx")
    onnx = {"file": "model.onnx", "opset": export.ONNX_OPSET}
    _, _, images, labels = untrained
    gate = {"calibration": images[::2], "validation": [(images, labels)], "max_top1_drop": 0.0,
            "min_agreement": 1.01}

    with pytest.warns(UserWarning, match="int8 ONNX model dropped"):
        check = export.int8_export(tmp_path, onnx, gate)

    assert not check["served"] and "agree with float32's" in check["reason"]
    assert "12 validation photos" in check["reason"] and check["photos"] == 12
    assert onnx == {"file": "model.onnx", "opset": export.ONNX_OPSET}  # model.json keeps float32
    assert not (tmp_path / "model.int8.onnx").exists()


@pytest.mark.parametrize("comparison, served, reason", [
    ({"photos": 400, "float32_top1": 0.95, "int8_top1": 0.946, "agreement": 0.99}, True, None),
    ({"photos": 400, "float32_top1": 0.95, "int8_top1": 0.944, "agreement": 0.99}, False, "below float32"),
    ({"photos": 400, "float32_top1": 0.95, "int8_top1": 0.95, "agreement": 0.975}, False, "agree"),
    ({"photos": 400, "float32_top1": 0.95, "int8_top1": 0.96, "agreement": 0.98}, True, None),
])
def test_the_gate_allows_half_a_point_and_two_percent_disagreement(comparison, served, reason):
    result = quantise.gate(comparison, max_top1_drop=0.005, min_agreement=0.98)
    assert result["served"] is served
    assert (reason is None) == ("reason" not in result)
    if reason:
        assert reason in result["reason"]
