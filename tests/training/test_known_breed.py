"""The known-breed score and the temperature: fitted at training, stored in model.json, served by the
artifact's own handler path (verbose JSON answer), the same with ONNX Runtime and PyTorch."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

VERBOSE = "application/json; verbose=true"
NON_DOG = Path(__import__("matplotlib").get_data_path()) / "sample_data" / "grace_hopper.jpg"



def artifact_json(artifact: Path, name: str) -> dict:
    with tarfile.open(artifact) as tar:
        return json.load(tar.extractfile(name))


def test_the_threshold_and_temperature_are_stored_with_the_model(tiny_artifact):
    model, metrics = artifact_json(tiny_artifact, "model.json"), artifact_json(tiny_artifact, "metrics.json")
    known = model["known_breed"]
    assert 0 < known["threshold"] < 1 and len(known["imagenet_rows"]) == model["num_classes"]
    assert model["temperature"] == metrics["calibration"]["temperature"] > 0
    assert known["threshold"] == metrics["calibration"]["known_breed"]["threshold"]
    assert metrics["calibration"]["known_breed"]["validation_accepted"] >= 0.99
    assert model["onnx"]["outputs"] == ["probabilities", "known_breed_score"]


def test_a_verbose_accept_gets_the_known_breed_fields(onnx_and_torch, photos):
    model, _ = onnx_and_torch
    threshold = model.description["known_breed"]["threshold"]
    for _, jpeg in photos.values():
        answer = json.loads(model.invoke(jpeg, "image/jpeg", VERBOSE))
        assert set(answer) == {"probabilities", "known_breed_score", "is_known_breed"}
        assert 0 <= answer["known_breed_score"] <= 1
        assert answer["is_known_breed"] == (answer["known_breed_score"] >= threshold)
        assert answer["probabilities"] == pytest.approx(model.predict(jpeg), abs=1e-6)


def test_a_plain_accept_still_gets_the_probability_array(onnx_and_torch, photos):
    model, _ = onnx_and_torch
    _, jpeg = next(iter(photos.values()))
    answer = json.loads(model.invoke(jpeg, "image/jpeg", "application/json"))
    assert isinstance(answer, list) and len(answer) == len(model.classes)


def test_dog_photos_are_known_and_a_photo_of_no_dog_is_not(onnx_and_torch, photos):
    model, _ = onnx_and_torch
    scores = [model.predict_verbose(jpeg, "image/jpeg")["known_breed_score"] for _, jpeg in photos.values()]
    person = model.predict_verbose(NON_DOG.read_bytes(), "image/jpeg")
    assert not person["is_known_breed"]
    assert person["known_breed_score"] < min(scores)


def test_onnx_runtime_and_pytorch_give_the_same_score(onnx_and_torch, photos):
    default, fallback = onnx_and_torch
    assert (default.model.backend, fallback.model.backend) == ("onnxruntime", "pytorch")
    for _, jpeg in photos.values():
        a, b = default.predict_verbose(jpeg, "image/jpeg"), fallback.predict_verbose(jpeg, "image/jpeg")
        assert abs(a["known_breed_score"] - b["known_breed_score"]) < 1e-4
        assert np.abs(np.array(a["probabilities"]) - np.array(b["probabilities"])).max() < 1e-4


def test_the_score_is_the_imagenet_classifiers_mass_on_the_breeds():
    from training.model import build_model, imagenet_classifier

    net = build_model("efficientnet_lite0", num_classes=3, pretrained=True, known_breed_rows=[207, 208, 209])
    features = torch.randn(4, net.num_features)
    weight, bias = imagenet_classifier("efficientnet_lite0")
    expected = torch.softmax(features @ weight.T + bias, dim=1)[:, [207, 208, 209]].sum(1)
    assert torch.allclose(net.known_breed(features), expected, atol=1e-6)
    assert not any(p.requires_grad for p in net.known_breed.parameters())


def test_a_model_without_a_threshold_answers_the_array_even_when_verbose(tiny_artifact, tmp_path, photos):
    from ops.core.artifact import extract, load_artifact

    folder = extract(tiny_artifact, tmp_path / "model")
    description = json.loads((folder / "model.json").read_text())
    del description["known_breed"]
    (folder / "model.json").write_text(json.dumps(description))
    model = load_artifact(folder)
    _, jpeg = next(iter(photos.values()))
    assert isinstance(json.loads(model.invoke(jpeg, "image/jpeg", VERBOSE)), list)


def test_the_served_probabilities_use_the_stored_temperature(tiny_artifact, tmp_path, photos):
    from ops.core.artifact import extract, load_artifact

    folder = extract(tiny_artifact, tmp_path / "model")
    (folder / "model.onnx").unlink()  # PyTorch applies model.json's temperature itself
    description = json.loads((folder / "model.json").read_text())
    _, jpeg = next(iter(photos.values()))
    answers = {}
    for t in (1.0, 2.0):
        (folder / "model.json").write_text(json.dumps({**description, "temperature": t}))
        answers[t] = np.array(load_artifact(folder).predict(jpeg))
    softened = np.exp(np.log(answers[1.0]) / 2.0)
    assert np.abs(answers[2.0] - softened / softened.sum()).max() < 1e-5
    assert answers[2.0].max() < answers[1.0].max()
