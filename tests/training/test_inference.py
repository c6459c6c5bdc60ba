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
def test_input_fn_accepts_image_types(content_type):
    body = encode(Image.new("RGB", (40, 30), (200, 10, 10)), "JPEG")

    image = inference.input_fn(body, content_type)

    assert image.mode == "RGB" and image.size == (40, 30)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "", None])
def test_input_fn_refuses_other_content_types(content_type):
    body = encode(Image.new("RGB", (8, 8)), "PNG")

    with pytest.raises(inference.UnsupportedContentType, match="application/x-image"):
        inference.input_fn(body, content_type)


@pytest.mark.parametrize("body", [b"", b"not an image", b"\xff\xd8\xff\xe0" + b"\0" * 50],
                         ids=["empty", "text", "truncated-jpeg"])
def test_input_fn_refuses_undecodable_bytes(body):
    with pytest.raises(inference.InvalidImage):
        inference.input_fn(body, "application/x-image")


def test_input_fn_refuses_a_decompression_bomb():
    # 1-bit 8000x8000 PNG: a few kB on the wire, 64 Mpixels decoded
    bomb = encode(Image.new("1", (8000, 8000)), "PNG")
    assert len(bomb) < 100_000

    with pytest.raises(inference.InvalidImage, match="pixels|too large"):
        inference.input_fn(bomb, "image/png")


@pytest.mark.parametrize("mode,fmt", [("L", "JPEG"), ("CMYK", "JPEG"), ("RGBA", "PNG"),
                                      ("LA", "PNG"), ("P", "PNG")])
def test_input_fn_converts_to_rgb(mode, fmt):
    body = encode(Image.new(mode, (16, 16)), fmt)

    assert inference.input_fn(body, "application/x-image").mode == "RGB"


def test_transparent_pixels_become_white():
    body = encode(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), "PNG")

    assert inference.input_fn(body, "image/png").getpixel((0, 0)) == (255, 255, 255)


def test_output_fn_is_a_json_array_in_class_order():
    assert json.loads(inference.output_fn([0.25, 0.75], "application/json")) == [0.25, 0.75]
    assert json.loads(inference.output_fn([1.0], None)) == [1.0]


def test_output_fn_refuses_other_accept_types():
    with pytest.raises(inference.UnsupportedAccept):
        inference.output_fn([1.0], "text/csv")
