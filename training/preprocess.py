"""Preprocessing shared by training and serving: normalisation per backbone, the eval transform, and the
serving path's cheaper equivalent of it.

Kept free of project imports (it is copied into the model artifact's `code/` folder), and free of torch at
import time: a model served with ONNX Runtime needs only Pillow and numpy.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

# mean, std of each backbone's pretraining (per channel, RGB)
NORMALISATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "resnet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "efficientnet_lite0": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "efficientnet_lite1": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "efficientnet_lite2": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
# the input size each backbone was pretrained at (square), and the short side resized to before the
# centre crop: crop / 0.875, as ImageNet evaluation does
NATIVE_SIZE: dict[str, int] = {"resnet": 224, "efficientnet_lite0": 224, "efficientnet_lite1": 240,
                               "efficientnet_lite2": 260}
CROP_FRACTION = 0.875
# Pillow reduces by an integer factor first when shrinking at least this much (then resamples):
# much faster on large photos, visually the same. https://pillow.readthedocs.io/en/stable/reference/Image.html#PIL.Image.Image.resize
REDUCING_GAP = 3.0


def normalisation(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return NORMALISATION[backbone]


def image_settings(backbone: str, size: int | None = None) -> dict:
    """The eval transform's settings for a square centre crop of `size` (default: the backbone's native
    size) taken from the image resized to short side size / 0.875, as ImageNet evaluation does."""
    size = size or NATIVE_SIZE[backbone]
    mean, std = NORMALISATION[backbone]
    return {"resize": int(round(size / CROP_FRACTION)), "crop": (size, size), "mean": mean, "std": std}


def settings_from_hyperparameters(hps: dict) -> dict:
    """The one home of a training run's preprocessing (training's eval transform, the export's check
    photos, model.json's `preprocessing`): centre crop `image_shape`'s height x width from the image
    resized to short side `resize` (at least the crop), normalised as the backbone was pretrained.
    Runs where training runs (never in the artifact's code/), so it may read the hyperparameters' parser."""
    from training.hyperparameters import image_shape

    _, height, width = image_shape(hps["image_shape"])
    mean, std = NORMALISATION[hps["backbone"]]
    return {"resize": max(int(hps["resize"]), height, width), "crop": (height, width), "mean": mean,
            "std": std}


def eval_transform(*, resize: int, crop: tuple[int, int], mean, std):
    """Short side to `resize`, centre crop `crop` (height, width), tensor, normalise (torchvision)."""
    from torchvision import transforms

    return transforms.Compose([
        transforms.Resize(resize),
        transforms.CenterCrop(crop),
        transforms.ToTensor(),
        transforms.Normalize(mean, std),
    ])


def decode_size(size: tuple[int, int], resize: int) -> tuple[int, int]:
    """The smallest (width, height) an image of `size` may be decoded at: its short side still `resize`."""
    width, height = size
    scale = resize / min(width, height)
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


class ServingTransform:
    """`eval_transform`'s result as one float32 numpy array (3, H, W), with the least work.

    One resize (Pillow resamples only the centre crop's box, straight to the crop size) and one float
    array, written by two in-place numpy operations from the uint8 pixels.
    """

    def __init__(self, *, resize: int, crop: tuple[int, int], mean, std):
        self.resize = resize
        self.crop = (int(crop[0]), int(crop[1]))
        std = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)
        self.scale = (1.0 / (255.0 * std)).astype(np.float32)
        self.offset = (-np.asarray(mean, dtype=np.float32).reshape(3, 1, 1) / std).astype(np.float32)

    def box(self, size: tuple[int, int]) -> tuple[float, float, float, float]:
        """The centre crop, in the image's own pixels, of the image resized to short side `resize`.

        The same geometry as torchvision's Resize + CenterCrop (integer resized size, rounded crop
        offset), so resampling only this box gives the same pixels as resizing the whole image.
        """
        width, height = size
        short, long = sorted((width, height))
        new_long = int(self.resize * long / short)
        resized_w, resized_h = (self.resize, new_long) if width <= height else (new_long, self.resize)
        crop_h, crop_w = self.crop
        left = int(round((resized_w - crop_w) / 2.0))
        top = int(round((resized_h - crop_h) / 2.0))
        scale_x, scale_y = width / resized_w, height / resized_h
        return (left * scale_x, top * scale_y, (left + crop_w) * scale_x, (top + crop_h) * scale_y)

    def __call__(self, image: Image.Image, out: np.ndarray | None = None) -> np.ndarray:
        crop_h, crop_w = self.crop
        resized = image.resize((crop_w, crop_h), Image.Resampling.BILINEAR, box=self.box(image.size),
                               reducing_gap=REDUCING_GAP)
        pixels = np.asarray(resized).transpose(2, 0, 1)  # uint8 (3, H, W), a view
        if out is None:
            out = np.empty((3, crop_h, crop_w), dtype=np.float32)
        np.multiply(pixels, self.scale, out=out)
        np.add(out, self.offset, out=out)
        return out
