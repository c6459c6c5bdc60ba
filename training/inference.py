"""Serving handlers in the SageMaker PyTorch inference contract: model_fn, input_fn, predict_fn, output_fn.

Copied into the model artifact as `code/inference.py`, with the modules it imports beside it as the
package `training`. Like the built-in image-classification algorithm, it answers one image
(`application/x-image`, `image/jpeg` or `image/png`) with a JSON array of class probabilities in
class-id order.
https://sagemaker.readthedocs.io/en/stable/frameworks/pytorch/using_pytorch.html#serve-a-pytorch-model
"""
from __future__ import annotations

import io
import json
import os
import warnings

import torch
from PIL import Image

from training.model import build_model
from training.preprocess import eval_transform

IMAGE_TYPES = ("application/x-image", "image/jpeg", "image/png")
JSON = "application/json"
MAX_PIXELS = 40_000_000  # about 6300 x 6300; larger is refused rather than decoded


class UnsupportedContentType(ValueError):
    """The request's content type is not an image type this model reads."""


class UnsupportedAccept(ValueError):
    """The response type asked for is not JSON."""


class InvalidImage(ValueError):
    """The request body is not an image that can be decoded (or is too large to)."""


class Predictor:
    """A loaded model: the network, its preprocessing and its class map."""

    def __init__(self, network: torch.nn.Module, transform, classes: list[dict], description: dict):
        self.network = network
        self.transform = transform
        self.classes = classes
        self.description = description


def model_fn(model_dir: str) -> Predictor:
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as fh:
        description = json.load(fh)
    with open(os.path.join(model_dir, "classes.json"), encoding="utf-8") as fh:
        classes = json.load(fh)["classes"]
    network = build_model(description["backbone"], num_classes=len(classes),
                          num_layers=description.get("num_layers", 50), pretrained=False)
    state = torch.load(os.path.join(model_dir, description["weights"]), map_location="cpu",
                       weights_only=True)
    network.load_state_dict(state)
    network.eval().to(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    p = description["preprocessing"]
    transform = eval_transform(resize=p["resize"], crop=tuple(p["crop"]), mean=p["mean"],
                               std=p["std"])
    return Predictor(network, transform, classes, description)


def input_fn(request_body: bytes, request_content_type: str) -> Image.Image:
    """Decode one image to RGB; other content types and undecodable bytes are refused."""
    content_type = (request_content_type or "").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        raise UnsupportedContentType(
            f"content type {request_content_type!r} is not supported; send one image as "
            f"{', '.join(IMAGE_TYPES)}")
    return decode_image(request_body)


def decode_image(body: bytes) -> Image.Image:
    if not body:
        raise InvalidImage("the request body is empty; send the image's bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(body))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise InvalidImage(f"the image is {width}x{height} pixels; at most {MAX_PIXELS} "
                                   f"pixels are accepted")
            image.load()
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(f"the image is too large to decode ({exc})") from None
    except Exception as exc:  # Pillow raises several types for bad bytes
        raise InvalidImage(f"the request body is not a decodable image "
                           f"({type(exc).__name__}: {exc})") from None
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB; transparent parts (RGBA, LA, P with transparency) become white, CMYK and L convert."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def predict_fn(data: Image.Image, model: Predictor) -> list[float]:
    device = next(model.network.parameters()).device
    batch = model.transform(data).unsqueeze(0).to(device)
    with torch.inference_mode():
        probabilities = torch.softmax(model.network(batch).float(), dim=1)[0]
    return probabilities.tolist()


def output_fn(prediction: list[float], accept: str | None = JSON) -> str:
    """The built-in algorithm's response: a JSON array of probabilities in class-id order."""
    accept = (accept or JSON).split(";")[0].strip().lower()
    if accept not in (JSON, "*/*"):
        raise UnsupportedAccept(f"accept type {accept!r} is not supported; ask for {JSON}")
    return json.dumps(prediction)
