"""Serving handlers for SageMaker's PyTorch inference container: `model_fn` and `transform_fn`.

Copied into the model artifact as `code/inference.py`, with the modules it imports beside it (the package
`training`, and the network's own code, `efficientnet_lite_pytorch`, vendored: the container installs
nothing at start). Like the built-in image-classification algorithm, it answers one image
(`application/x-image`, `image/jpeg` or `image/png`) with a JSON array of class probabilities in class-id
order. https://sagemaker.readthedocs.io/en/stable/frameworks/pytorch/using_pytorch.html#serve-a-pytorch-model
A model with a known-breed score (model.json `known_breed`) answers an Accept of
`application/json; verbose=true` (the parameter the built-in algorithm uses for its verbose answers) with
`{"probabilities": [...], "known_breed_score": s, "is_known_breed": s >= threshold}`; plain JSON stays
the array.

Bad input is the client's fault and is answered so: each refusal is one of the toolkit's own error types
(`sagemaker_inference.errors.BaseInferenceToolkitError`) with its HTTP status (415 content type, 406
accept type, 422 undecodable, 413 too large); `transform_fn` sets that status on the request's context and
answers `{"error": {"code", "message"}}` (the toolkit itself would append a traceback to the body).

The network runs with ONNX Runtime when the artifact holds `model.onnx` and onnxruntime is installed (the
SageMaker PyTorch image has none: there it runs with PyTorch; `DOGS_INFERENCE_BACKEND=pytorch` forces
it). Intra-op threads: `DOGS_INFERENCE_THREADS`, else the cores shared among the model server's workers
(`SAGEMAKER_MODEL_SERVER_WORKERS`), so workers x threads = vCPUs. Terraform and the harness always set
the workers: unset, TorchServe starts one per core while each would take every core. Beyond the contract,
`preprocess(image, model)`, `forward(batch, model)` and `answer(outputs, model, accept)` let a server
batch requests; `forward`'s rows are the class probabilities, then the known-breed score when the model
has one.
"""
from __future__ import annotations

import io
import json
import logging
import os
import warnings
from http import HTTPStatus
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageMode

from training.preprocess import ServingTransform, decode_size

try:  # the container's toolkit (sagemaker-pytorch-inference carries sagemaker_inference)
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ToolkitError
except ImportError:  # read outside a container: the same shape
    class _ToolkitError(Exception):
        def __init__(self, status_code, message, phrase):
            self.status_code, self.message, self.phrase = status_code, message, phrase
            super().__init__(status_code, message, phrase)

logger = logging.getLogger(__name__)
IMAGE_TYPES = ("application/x-image", "image/jpeg", "image/png")
JSON = "application/json"
MAX_PIXELS = 40_000_000  # about 6300 x 6300; larger is refused rather than decoded
# What one image may take once decoded (width x height x bands x bytes per band, as the header says):
# an RGB image at MAX_PIXELS. A few hundred KB of PNG can claim 40 MP of RGBA (160 MB, and the
# conversion to RGB needs as much again), so modes with more bytes per pixel get fewer pixels:
# RGBA and CMYK up to 30 MP, 16-bit greyscale 60 MP (still capped at MAX_PIXELS).
MAX_DECODED_BYTES = 3 * MAX_PIXELS
BACKEND_ENV = "DOGS_INFERENCE_BACKEND"
THREADS_ENV = "DOGS_INFERENCE_THREADS"
WORKERS_ENV = "SAGEMAKER_MODEL_SERVER_WORKERS"  # read by the toolkit: TorchServe's workers
# The toolkit's input_fn would not receive the model, so model_fn leaves here the short side JPEGs may be
# decoded at (draft mode: libjpeg scales by 1/2, 1/4, 1/8 while decoding). One model per worker process;
# ops.core.artifact imports each artifact's inference.py as its own module.
_draft_short_side: int | None = None


class InferenceError(_ToolkitError, ValueError):
    """A request this model refuses: an HTTP status, a stable code and a message for the client."""
    status = HTTPStatus.BAD_REQUEST
    code = "bad_request"

    def __init__(self, message: str):
        super().__init__(int(self.status), message, self.status.phrase)

    def __str__(self) -> str:
        return self.message

    def body(self) -> str:
        return json.dumps({"error": {"code": self.code, "message": self.message}})


class UnsupportedContentType(InferenceError):
    """The request's content type is not an image type this model reads."""
    status, code = HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"


class UnsupportedAccept(InferenceError):
    """The response type asked for is not JSON."""
    status, code = HTTPStatus.NOT_ACCEPTABLE, "not_acceptable"


class InvalidImage(InferenceError):
    """The request body is not an image that can be decoded."""
    status, code = HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_image"


class ImageTooLarge(InvalidImage):
    """The image has more pixels than are decoded."""
    status, code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "image_too_large"


class Predictor:
    """A loaded model: its forward pass (batch → probabilities), preprocessing and class map."""

    def __init__(self, forward: Callable[[np.ndarray], np.ndarray], transform: ServingTransform,
                 classes: list[dict], description: dict, backend: str, network: Any = None):
        self.forward = forward  # batch -> (N, classes [+ 1]): probabilities [, known-breed score]
        self.transform = transform
        self.classes = classes
        self.description = description
        self.backend = backend  # "onnxruntime" or "pytorch"
        self.network = network  # the torch module (PyTorch backend only)
        known = description.get("known_breed") or {}
        self.known_breed_threshold = known.get("threshold") if known else None


def model_fn(model_dir: str) -> Predictor:
    global _draft_short_side
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as fh:
        description = json.load(fh)
    with open(os.path.join(model_dir, "classes.json"), encoding="utf-8") as fh:
        classes = json.load(fh)["classes"]
    p = description["preprocessing"]
    transform = ServingTransform(resize=p["resize"], crop=tuple(p["crop"]), mean=p["mean"],
                                 std=p["std"])
    threads = intra_op_threads()
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


def intra_op_threads() -> int:
    """DOGS_INFERENCE_THREADS, else this worker's share of the cores (workers x threads = vCPUs)."""
    explicit = _positive_int(THREADS_ENV)
    if explicit:
        return explicit
    return max(1, (os.cpu_count() or 1) // (_positive_int(WORKERS_ENV) or 1))


def _positive_int(name: str) -> int:
    try:
        return max(0, int(os.environ.get(name) or 0))
    except ValueError:
        logger.warning("%s=%r is not a whole number; ignored", name, os.environ.get(name))
        return 0


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
        outputs = session.run(None, {name: batch})
        return outputs[0] if len(outputs) == 1 else np.concatenate(
            [outputs[0], outputs[1].reshape(-1, 1)], axis=1)

    return forward


def _torch_network(model_dir: str, description: dict, num_classes: int, threads: int):
    import torch

    from training.model import build_model

    if not torch.cuda.is_available():
        torch.set_num_threads(threads)
    known = description.get("known_breed") or {}
    network = build_model(description["backbone"], num_classes=num_classes,
                          num_layers=description.get("num_layers", 50), pretrained=False,
                          known_breed_rows=known.get("imagenet_rows"))
    state = torch.load(os.path.join(model_dir, description["weights"]), map_location="cpu",
                       weights_only=True)
    network.load_state_dict(state)
    network.temperature = float(description.get("temperature", 1.0))
    return network.eval().to(torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def _torch_forward(network) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    device = next(network.parameters()).device

    def forward(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            probabilities, scores = network.serve(torch.from_numpy(batch).to(device))
            if scores is not None:
                probabilities = torch.cat([probabilities, scores.float()[:, None]], dim=1)
            return probabilities.cpu().numpy()

    return forward


def decode_request(request_body: bytes, request_content_type: str) -> Image.Image:
    """Decode one image to RGB; other content types and undecodable bytes are refused."""
    content_type = (request_content_type or "").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        raise UnsupportedContentType(
            f"content type {request_content_type!r} is not supported; send one image as "
            f"{', '.join(IMAGE_TYPES)}")
    if isinstance(request_body, str):  # the toolkit decodes text types; none of ours is one
        request_body = request_body.encode("utf-8")
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
                raise ImageTooLarge(f"the image is {width}x{height} pixels; at most {MAX_PIXELS} "
                                    f"pixels are accepted")
            if short_side and image.format == "JPEG":
                image.draft(None, decode_size(image.size, short_side))
            _check_decoded_bytes(image)
            image.load()
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"the image is too large to decode ({exc})") from None
    except Exception as exc:  # Pillow raises several types for bad bytes
        detail = str(exc).split(" <")[0]  # Pillow names the buffer object: not the client's business
        raise InvalidImage(f"the request body is not a decodable image "
                           f"({type(exc).__name__}: {detail})") from None
    return to_rgb(image)


def decoded_bytes(image: Image.Image) -> int:
    """What `image` (opened, not yet loaded) takes decoded, in bytes of its bands; a palette image with
    transparency counts as the RGBA it is converted through."""
    mode = "RGBA" if _has_palette_transparency(image) else image.mode
    spec = ImageMode.getmode(mode)
    width, height = image.size
    return width * height * len(spec.bands) * max(1, int(spec.typestr[2:]))


def _check_decoded_bytes(image: Image.Image) -> None:
    size = decoded_bytes(image)
    if size > MAX_DECODED_BYTES:
        width, height = image.size
        raise ImageTooLarge(f"the image is {width}x{height} pixels of {image.mode}, {size / 1e6:.0f} MB "
                            f"decoded; at most {MAX_DECODED_BYTES / 1e6:.0f} MB are accepted (e.g. "
                            f"{MAX_DECODED_BYTES // 4 / 1e6:.0f} MP with transparency)")


def _has_palette_transparency(image: Image.Image) -> bool:
    return image.mode == "P" and "transparency" in image.info


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB; transparent parts (RGBA, LA, P with transparency) become white, CMYK and L convert.

    Transparency is flattened by pasting the image onto a white RGB image with its own alpha as the
    mask (the same pixels as alpha-compositing over white): one full-size copy besides the decoded image.
    """
    if _has_palette_transparency(image):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        white = Image.new("RGB", image.size, (255, 255, 255))
        white.paste(image, mask=image)
        return white
    return image if image.mode == "RGB" else image.convert("RGB")


def preprocess(image: Image.Image, model: Predictor, out: np.ndarray | None = None) -> np.ndarray:
    """The network's input for one image: float32 (3, H, W), written into `out` when given."""
    return model.transform(image, out)


def forward(batch: np.ndarray, model: Predictor) -> np.ndarray:
    """(N, classes [+ 1]) for a float32 batch (N, 3, H, W) of preprocessed images: the class
    probabilities, then the known-breed score when the model has one."""
    return model.forward(np.ascontiguousarray(batch, dtype=np.float32))


def predict(image: Image.Image, model: Predictor) -> list[float]:
    """Class probabilities of one decoded image."""
    return forward(preprocess(image, model)[None], model)[0][:len(model.classes)].tolist()


def verbose(accept: str | None) -> bool:
    """Whether the Accept header asks for the verbose answer (`application/json; verbose=true`)."""
    for part in (accept or "").split(",")[0].split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "verbose" and value.strip().strip('"').lower() in ("true", "1"):
            return True
    return False


def answer(outputs, model: Predictor, accept: str | None) -> str:
    """The JSON answer for one image's `forward` row: the probability array, or with a verbose Accept
    and a known-breed score, {probabilities, known_breed_score, is_known_breed}."""
    classes = len(model.classes)
    probabilities = [float(p) for p in outputs[:classes]]
    if model.known_breed_threshold is None or len(outputs) <= classes or not verbose(accept):
        return json.dumps(probabilities)
    score = min(1.0, max(0.0, float(outputs[classes])))
    return json.dumps({"probabilities": probabilities, "known_breed_score": score,
                       "is_known_breed": score >= model.known_breed_threshold})


def response_type(accept: str | None) -> str:
    """JSON, the one response type; refused before any work when the client accepts none."""
    types = [t.split(";")[0].strip().lower() for t in (accept or JSON).split(",")]
    if not any(t in (JSON, "*/*", "application/*", "") for t in types):
        raise UnsupportedAccept(f"accept type {accept!r} is not supported; ask for {JSON}")
    return JSON


def transform_fn(model: Predictor, request_body: bytes, content_type: str, accept: str,
                 context: Any = None) -> tuple[str, str]:
    """One request, as the toolkit calls it: (JSON probabilities, content type).

    A refused request is answered with its status set on the model server's request `context`
    (what the toolkit's own error handling does) and a JSON error body; without a context (called
    directly) the error is raised.
    """
    try:
        answer_type = response_type(accept)
        image = decode_request(request_body, content_type)
        return answer(forward(preprocess(image, model)[None], model)[0], model, accept), answer_type
    except InferenceError as exc:
        if context is None:
            raise
        logger.info("refused: %s %s", exc.status_code, exc.message)
        context.set_response_status(code=exc.status_code, phrase=exc.phrase)
        return exc.body(), JSON
    except Exception:  # a bug or a failed forward pass: logged whole, answered without the traceback
        if context is None:
            raise
        logger.exception("inference failed")
        context.set_response_status(code=500, phrase="Internal Server Error")
        return json.dumps({"error": {"code": "internal_error",
                                     "message": "the model failed; see the endpoint's logs"}}), JSON
