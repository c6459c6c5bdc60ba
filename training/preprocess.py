"""Preprocessing shared by training and serving: normalisation per backbone and the eval transform.

Kept free of project imports (it is copied into the model artifact's `code/` folder).
"""
from __future__ import annotations

from torchvision import transforms

# mean, std of each backbone's pretraining (per channel, RGB)
NORMALISATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "resnet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "efficientnet_lite0": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


def normalisation(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return NORMALISATION[backbone]


def eval_transform(*, resize: int, crop: tuple[int, int], mean, std) -> transforms.Compose:
    """Short side to `resize`, centre crop `crop` (height, width), tensor, normalise."""
    return transforms.Compose([
        transforms.Resize(resize),
        transforms.CenterCrop(crop),
        transforms.ToTensor(),
        transforms.Normalize(mean, std),
    ])
