"""EfficientNet-Lite1 and Lite2: ImageNet weights offline, their native resolution, the known-breed score,
and an ONNX export whose answers match PyTorch's on real photos (the same check as Lite0's)."""
from __future__ import annotations

import onnxruntime as ort
import pytest
import torch

from training import export
from training.data import load_image
from training.model import build_model, imagenet_classifier, known_breed_rows
from training.preprocess import eval_transform, image_settings


@pytest.mark.slow
@pytest.mark.parametrize("backbone, size", [("efficientnet_lite1", 240), ("efficientnet_lite2", 260)])
def test_a_lite_backbone_exports_to_onnx_with_the_same_answers(backbone, size, dogs10, tmp_path):
    folders = sorted(p for p in dogs10.iterdir() if p.is_dir())
    settings = image_settings(backbone)
    assert settings["crop"] == (size, size)
    transform = eval_transform(**settings)
    images = torch.stack([transform(load_image(sorted(f.glob("*.jpg"))[0])) for f in folders[:3]])
    names = [f.name.partition("-")[2].replace("_", " ") for f in folders]
    net = build_model(backbone, num_classes=len(folders), pretrained=True, class_names=names,
                      known_breed_rows=known_breed_rows(names)).eval()
    net.temperature, net.known_breed_threshold = 1.5, 0.1

    result = export.export_onnx(net, tmp_path / "m.onnx", images)

    assert result["exported"], result
    assert result["outputs"] == ["probabilities", "known_breed_score"] and result["max_abs_diff"] < 1e-4
    probabilities, scores = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"images": images.numpy()})
    with torch.no_grad():
        expected_probabilities, expected_scores = net.serve(images)
    assert abs(probabilities - expected_probabilities.numpy()).max() < 1e-4
    assert abs(scores - expected_scores.numpy()).max() < 1e-4
    # the head starts from the ImageNet classifier's rows of the breeds, the score uses all 1000 rows
    weight, _ = imagenet_classifier(backbone)
    assert torch.equal(net.head[1].weight, weight[known_breed_rows(names)])
    assert torch.equal(net.known_breed.imagenet.weight, weight)


def test_an_unknown_backbone_names_the_allowed_ones():
    from training.errors import UserError

    with pytest.raises(UserError, match="efficientnet_lite1, efficientnet_lite2"):
        build_model("efficientnet_lite9", num_classes=2)
