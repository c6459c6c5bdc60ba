"""Cached features computed by ONNX Runtime: the same numbers as PyTorch's, or PyTorch does the work."""
from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from training import onnx_backbone


def small_backbone() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()


@torch.no_grad()
def test_onnx_runtime_gives_pytorchs_features_for_every_batch_size():
    backbone = small_backbone()
    features = onnx_backbone.features_function(backbone, threads=1)
    assert features is not backbone
    for size in (4, 1, 7):
        batch = torch.rand(size, 3, 32, 32)
        assert torch.allclose(features(batch), backbone(batch), atol=1e-5)


@torch.no_grad()
def test_features_that_disagree_fall_back_to_pytorch(monkeypatch):
    backbone = small_backbone()
    monkeypatch.setattr(onnx_backbone, "TOLERANCE", -1.0)  # any difference is too much
    features = onnx_backbone.features_function(backbone, threads=1)
    batch = torch.rand(2, 3, 32, 32)
    with pytest.warns(UserWarning, match="computing them with PyTorch"):
        assert torch.equal(features(batch), backbone(batch))
    assert torch.equal(features(batch), backbone(batch))  # and from then on


def test_without_onnxruntime_the_backbone_itself_is_used(monkeypatch):
    backbone = small_backbone()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    assert onnx_backbone.features_function(backbone, threads=1) is backbone
