"""Serving handlers in the SageMaker PyTorch inference contract: model_fn, input_fn, predict_fn, output_fn.

Copied into the model artifact as `code/inference.py`, with the modules it imports beside it as the
package `training`. Like the built-in image-classification algorithm, it answers one image
(`application/x-image`, `image/jpeg` or `image/png`) with a JSON array of class probabilities in
class-id order.
https://sagemaker.readthedocs.io/en/stable/frameworks/pytorch/using_pytorch.html#serve-a-pytorch-model

The network runs with ONNX Runtime when the artifact holds `model.onnx` and onnxruntime is installed
(code/requirements.txt asks the container for it) and can use the instance's GPU if it has one, else
with PyTorch; `DOGS_INFERENCE_BACKEND=pytorch`
forces PyTorch, `DOGS_INFERENCE_THREADS=N` sets the intra-op threads (default: all cores). Beyond the
contract, `preprocess(image, model)` and `forward(batch, model)` let a server batch requests.
"""
from __future__ import annotations

import io
import json
import os
import warnings
from typing import Any, Callable

import numpy as np
from PIL import Image

from training.preprocess import ServingTransform, decode_size

IMAGE_TYPES = ("application/x-image", "image/jpeg", "image/png")
JSON = "application/json"
MAX_PIXELS = 40_000_000  # about 6300 x 6300; larger is refused rather than decoded
BACKEND_ENV = "DOGS_INFERENCE_BACKEND"
THREADS_ENV = "DOGS_INFERENCE_THREADS"
# input_fn does not receive the model (SageMaker's contract), so model_fn leaves here the short side
# JPEGs may be decoded at (draft mode: libjpeg scales by 1/2, 1/4, 1/8 while decoding). One model per
# container; ops.artifact imports each artifact's inference.py as its own module.
_draft_short_side: int | None = None


class UnsupportedContentType(ValueError):
    """The request's content type is not an image type this model reads."""


class UnsupportedAccept(ValueError):
    """The response type asked for is not JSON."""


class InvalidImage(ValueError):
    """The request body is not an image that can be decoded (or is too large to)."""


class Predictor:
    """A loaded model: its forward pass (batch → probabilities), preprocessing and class map."""

    def __init__(self, forward: Callable[[np.ndarray], np.ndarray], transform: ServingTransform,
                 classes: list[dict], description: dict, backend: str, network: Any = None):
        self.forward = forward
        self.transform = transform
        self.classes = classes
        self.description = description
        self.backend = backend  # "onnxruntime" or "pytorch"
        self.network = network  # the torch module (PyTorch backend only)


def model_fn(model_dir: str) -> Predictor:
    global _draft_short_side
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as fh:
        description = json.load(fh)
    with open(os.path.join(model_dir, "classes.json"), encoding="utf-8") as fh:
        classes = json.load(fh)["classes"]
    p = description["preprocessing"]
    transform = ServingTransform(resize=p["resize"], crop=tuple(p["crop"]), mean=p["mean"],
                                 std=p["std"])
    threads = int(os.environ.get(THREADS_ENV) or 0) or os.cpu_count() or 1
    onnx_file = (description.get("onnx") or {}).get("file")
    providers = _onnx_providers() if os.environ.get(BACKEND_ENV, "").lower() != "pytorch" else []
    if onnx_file and os.path.exists(os.path.join(model_dir, onnx_file)) and providers:
        forward, backend, network = _onnx_forward(os.path.join(model_dir, onnx_file), threads,
                                                  providers), "onnxruntime", None
    else:
        network = _torch_network(model_dir, description, len(classes), threads)
        forward, backend = _torch_forward(network), "pytorch"
    _draft_short_side = p["resize"]
    return Predictor(forward, transform, classes, description, backend, network)


def _onnx_providers() -> list[str]:
    """ONNX Runtime's execution providers to use; none when it is missing, or when a GPU is present
    that this onnxruntime build cannot use (PyTorch then runs on the GPU)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    if "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return [] if os.path.exists("/dev/nvidiactl") else ["CPUExecutionProvider"]


def _onnx_forward(path: str, threads: int, providers: list[str]) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle intra-op threads sleep rather than spin: the server's own threads decode images meanwhile.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, options, providers=providers)
    name = session.get_inputs()[0].name

    def forward(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {name: batch})[0]

    return forward


def _torch_network(model_dir: str, description: dict, num_classes: int, threads: int):
    import torch

    from training.model import build_model

    if not torch.cuda.is_available():
        torch.set_num_threads(threads)
    network = build_model(description["backbone"], num_classes=num_classes,
                          num_layers=description.get("num_layers", 50), pretrained=False)
    state = torch.load(os.path.join(model_dir, description["weights"]), map_location="cpu",
                       weights_only=True)
    network.load_state_dict(state)
    return network.eval().to(torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def _torch_forward(network) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    device = next(network.parameters()).device

    def forward(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = network(torch.from_numpy(batch).to(device))
            return torch.softmax(logits.float(), dim=1).cpu().numpy()

    return forward


def input_fn(request_body: bytes, request_content_type: str) -> Image.Image:
    """Decode one image to RGB; other content types and undecodable bytes are refused."""
    content_type = (request_content_type or "").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        raise UnsupportedContentType(
            f"content type {request_content_type!r} is not supported; send one image as "
            f"{', '.join(IMAGE_TYPES)}")
    return decode_image(request_body, _draft_short_side)


def decode_image(body: bytes, short_side: int | None = None) -> Image.Image:
    """The image in RGB; a JPEG at least twice `short_side` on its short side decodes at reduced scale."""
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
            if short_side and image.format == "JPEG":
                image.draft(None, decode_size(image.size, short_side))
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
    return image if image.mode == "RGB" else image.convert("RGB")


def preprocess(image: Image.Image, model: Predictor, out: np.ndarray | None = None) -> np.ndarray:
    """The network's input for one image: float32 (3, H, W), written into `out` when given."""
    return model.transform(image, out)


def forward(batch: np.ndarray, model: Predictor) -> np.ndarray:
    """Class probabilities (N, classes) for a float32 batch (N, 3, H, W) of preprocessed images."""
    return model.forward(np.ascontiguousarray(batch, dtype=np.float32))


def predict_fn(data: Image.Image, model: Predictor) -> list[float]:
    return forward(preprocess(data, model)[None], model)[0].tolist()


def output_fn(prediction: list[float], accept: str | None = JSON) -> str:
    """The built-in algorithm's response: a JSON array of probabilities in class-id order."""
    accept = (accept or JSON).split(";")[0].strip().lower()
    if accept not in (JSON, "*/*"):
        raise UnsupportedAccept(f"accept type {accept!r} is not supported; ask for {JSON}")
    return json.dumps(prediction)
