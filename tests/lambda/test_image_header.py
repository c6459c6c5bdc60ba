"""The handler's JPEG/PNG header sniffing, checked against Pillow on real and generated images."""
import io

import pytest
from PIL import Image

from tests.fixtures.api import jpeg_header, png_header


@pytest.fixture(scope="module")
def image_header(lambda_code):
    import image_header

    return image_header


@pytest.mark.parametrize("name", ["jpeg", "png_alpha", "grayscale", "cmyk"])
def test_size_matches_pillow(image_header, sample_images, name):
    data = sample_images[name]
    _, width, height = image_header.image_size(data)
    assert (width, height) == Image.open(io.BytesIO(data)).size


def test_real_photos_all_parse(image_header, photos):
    for _, data in photos.values():
        kind, width, height = image_header.image_size(data)
        assert kind == "jpeg" and (width, height) == Image.open(io.BytesIO(data)).size


@pytest.mark.parametrize("data", [png_header(20000, 20000), jpeg_header(20000, 20000)],
                         ids=["png", "jpeg"])
def test_absurd_size_is_rejected(image_header, data):
    assert image_header.image_size(data)[1:] == (20000, 20000)
    with pytest.raises(image_header.NotAnImage, match="20000x20000"):
        image_header.check_image(data, max_pixels=40_000_000)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"hello, this is text", "not a JPEG or PNG"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "without a frame header"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "IHDR"),
    (b"\xff\xd8\x00\x00\x00\x00", "broken JPEG header"),
    (jpeg_header(0, 10), "0x10"),
], ids=["empty", "text", "jpeg-cut-before-frame", "png-cut", "jpeg-garbage", "zero-width"])
def test_non_images_are_rejected(image_header, data, message):
    with pytest.raises(image_header.NotAnImage, match=message):
        image_header.check_image(data, max_pixels=40_000_000)
