"""The serving handlers' request handling (no trained model needed for these)."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from training import inference


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("content_type", ["application/x-image", "image/jpeg", "image/png",
                                          "Image/JPEG; charset=binary"])
def test_decode_request_accepts_image_types(content_type):
    body = encode(Image.new("RGB", (40, 30), (200, 10, 10)), "JPEG")

    image = inference.decode_request(body, content_type)

    assert image.mode == "RGB" and image.size == (40, 30)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "", None])
def test_decode_request_refuses_other_content_types(content_type):
    body = encode(Image.new("RGB", (8, 8)), "PNG")

    with pytest.raises(inference.UnsupportedContentType, match="application/x-image"):
        inference.decode_request(body, content_type)


@pytest.mark.parametrize("body", [b"", b"not an image", b"\xff\xd8\xff\xe0" + b"\0" * 50],
                         ids=["empty", "text", "truncated-jpeg"])
def test_decode_request_refuses_undecodable_bytes(body):
    with pytest.raises(inference.InvalidImage):
        inference.decode_request(body, "application/x-image")


def test_decode_request_refuses_a_decompression_bomb():
    # 1-bit 8000x8000 PNG: a few kB on the wire, 64 Mpixels decoded
    bomb = encode(Image.new("1", (8000, 8000)), "PNG")
    assert len(bomb) < 100_000

    with pytest.raises(inference.InvalidImage, match="pixels|too large"):
        inference.decode_request(bomb, "image/png")


@pytest.mark.parametrize("mode,fmt", [("L", "JPEG"), ("CMYK", "JPEG"), ("RGBA", "PNG"),
                                      ("LA", "PNG"), ("P", "PNG")])
def test_decode_request_converts_to_rgb(mode, fmt):
    body = encode(Image.new(mode, (16, 16)), fmt)

    assert inference.decode_request(body, "application/x-image").mode == "RGB"


def test_transparent_pixels_become_white():
    body = encode(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), "PNG")

    assert inference.decode_request(body, "image/png").getpixel((0, 0)) == (255, 255, 255)


class Context:
    """What transform_fn uses of a model server's request context (TorchServe's ts.context.Context)."""

    def __init__(self):
        self.status = None

    def set_response_status(self, code=200, phrase=""):
        self.status = (code, phrase)


class EchoModel:
    """Stands in for a loaded Predictor where no forward pass is reached."""


@pytest.mark.parametrize("body,content_type,accept,status,code", [
    (b"x", "text/plain", "application/json", 415, "unsupported_media_type"),
    (b"not an image", "image/jpeg", "application/json", 422, "invalid_image"),
    (b"", "image/jpeg", "application/json", 422, "invalid_image"),
    (encode(Image.new("1", (8000, 8000)), "PNG"), "image/png", "application/json", 413, "image_too_large"),
    (b"x", "image/jpeg", "text/csv", 406, "not_acceptable"),
], ids=["content-type", "undecodable", "empty", "too-many-pixels", "accept"])
def test_transform_fn_answers_refusals_with_their_status_and_a_json_error(body, content_type, accept,
                                                                          status, code):
    context = Context()

    answer, answer_type = inference.transform_fn(EchoModel(), body, content_type, accept, context)

    assert context.status[0] == status
    assert answer_type == "application/json"
    error = json.loads(answer)["error"]
    assert error["code"] == code and error["message"] and "Traceback" not in answer


def test_refusals_are_the_toolkits_own_error_type():
    from sagemaker_inference.errors import BaseInferenceToolkitError

    with pytest.raises(BaseInferenceToolkitError) as refused:
        inference.decode_request(b"x", "text/plain")
    assert refused.value.status_code == 415 and refused.value.phrase == "Unsupported Media Type"


def test_transform_fn_without_a_context_raises():
    with pytest.raises(inference.UnsupportedContentType):
        inference.transform_fn(EchoModel(), b"x", "text/plain", "application/json")


@pytest.mark.parametrize("accept", ["application/json", "*/*", None, "text/html, application/json;q=0.9"])
def test_response_type_is_json(accept):
    assert inference.response_type(accept) == "application/json"


@pytest.mark.parametrize("env,threads", [
    ({}, 4), ({"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}, 2), ({"SAGEMAKER_MODEL_SERVER_WORKERS": "8"}, 1),
    ({"DOGS_INFERENCE_THREADS": "3", "SAGEMAKER_MODEL_SERVER_WORKERS": "4"}, 3),
    ({"SAGEMAKER_MODEL_SERVER_WORKERS": "x"}, 4),
], ids=["all-cores", "two-workers", "more-workers-than-cores", "explicit", "bad-value"])
def test_threads_share_the_cores_among_the_workers(monkeypatch, env, threads):
    monkeypatch.delenv("DOGS_INFERENCE_THREADS", raising=False)
    monkeypatch.delenv("SAGEMAKER_MODEL_SERVER_WORKERS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(inference.os, "cpu_count", lambda: 4)

    assert inference.intra_op_threads() == threads


def test_transform_fn_answers_a_failure_of_its_own_as_500_without_a_traceback():
    context = Context()
    body = encode(Image.new("RGB", (40, 30), (200, 10, 10)), "JPEG")

    answer, answer_type = inference.transform_fn(EchoModel(), body, "image/jpeg", "application/json", context)

    assert context.status[0] == 500 and answer_type == "application/json"
    assert json.loads(answer)["error"]["code"] == "internal_error" and "Traceback" not in answer


def blank_png(width: int, height: int, color_type: int = 6) -> bytes:
    """A valid, fully transparent 8-bit PNG (colour type 6 RGBA, 4 LA) of any size, written row by row
    (a 6000x6000 RGBA one is about 150 kB: what a client can send for 144 MB of decoded pixels)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bands = {6: 4, 4: 2}[color_type]
    packer, row = zlib.compressobj(9), b"\0" * (1 + width * bands)  # filter byte 0, then the pixels
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_an_rgba_png_of_more_decoded_bytes_than_allowed_is_413_before_decoding():
    # Given 6000x6000 RGBA: under MAX_PIXELS, but 144 MB decoded (and as much again to flatten it)
    body = blank_png(6000, 6000)
    assert len(body) < 200_000

    with pytest.raises(inference.ImageTooLarge, match="6000x6000 pixels of RGBA, 144 MB decoded"):
        inference.decode_request(body, "image/png")

    answer, _ = inference.transform_fn(EchoModel(), body, "image/png", "application/json", Context())
    assert json.loads(answer)["error"]["code"] == "image_too_large"


def test_an_rgba_png_at_the_decoded_bytes_cap_decodes_with_white_for_transparency():
    # 5000x6000 RGBA: exactly MAX_DECODED_BYTES
    image = inference.decode_request(blank_png(5000, 6000), "image/png")

    assert image.mode == "RGB" and image.size == (5000, 6000)
    assert image.getpixel((0, 0)) == image.getpixel((4999, 5999)) == (255, 255, 255)


@pytest.mark.parametrize("mode,size,expected", [
    ("RGB", (100, 10), 3000), ("RGBA", (100, 10), 4000), ("L", (100, 10), 1000),
    ("LA", (100, 10), 2000), ("I;16", (100, 10), 2000), ("P-transparent", (100, 10), 4000)])
def test_decoded_bytes_count_bands_and_bytes_per_band(mode, size, expected):
    image = Image.new("P" if mode == "P-transparent" else mode, size)
    if mode == "P-transparent":
        image.info["transparency"] = 0

    assert inference.decoded_bytes(image) == expected


def _semi_transparent(mode: str) -> Image.Image:
    import numpy as np

    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 4), dtype=np.uint8)
    rgba = Image.fromarray(pixels, "RGBA")
    return rgba if mode == "RGBA" else Image.fromarray(pixels[..., [0, 3]], "LA")


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_semi_transparent_pixels_blend_with_white_as_alpha_compositing_does(mode):
    image = _semi_transparent(mode)
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    expected = Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")

    decoded = inference.decode_request(encode(image, "PNG"), "image/png")

    assert decoded.mode == "RGB" and decoded.tobytes() == expected.tobytes()


def test_a_palette_image_with_a_transparent_entry_becomes_white_there():
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 200, 10, 10] + [0, 0, 0] * 254)
    image.putpixel((0, 0), 0)
    image.info["transparency"] = 0

    decoded = inference.decode_request(encode(image, "PNG"), "image/png")

    assert decoded.getpixel((0, 0)) == (255, 255, 255) and decoded.getpixel((1, 1)) == (200, 10, 10)
