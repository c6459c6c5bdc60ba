"""The handler's JPEG/PNG header sniffing, checked against Pillow on real and generated images."""
import io
import sys

import pytest
from PIL import Image

from tests.fixtures.api import jpeg_header, png_header


@pytest.fixture(scope="module")
def image_header(lambda_code):
    from predict_lambda import image_header

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


def lines_run(function, *args) -> int:
    """How many lines of Python `function` runs: the work of a scan, counted rather than timed."""
    count = 0

    def trace(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return trace

    sys.settrace(trace)
    try:
        function(*args)
    finally:
        sys.settrace(None)
    return count


def test_a_run_of_fill_bytes_costs_one_step_however_long(image_header):
    # Given the same JPEG header with 10 and with 100,000 fill bytes before its frame header
    header = jpeg_header(640, 480)
    short, long = (header[:2] + b"\xff" * n + header[2:] for n in (10, 100_000))

    # Then both parse to the same size, with the same work
    assert image_header.image_size(short) == image_header.image_size(long) == ("jpeg", 640, 480)
    assert lines_run(image_header.image_size, long) == lines_run(image_header.image_size, short)


def test_a_real_photo_with_fill_bytes_before_its_markers_still_parses(image_header, photos):
    _, jpeg = next(iter(photos.values()))
    padded = jpeg[:2] + jpeg[2:].replace(b"\xff\xdb", b"\xff" * 1000 + b"\xff\xdb", 1)
    assert image_header.image_size(padded)[1:] == Image.open(io.BytesIO(jpeg)).size


def test_the_scan_for_a_frame_header_stops_after_a_bounded_number_of_markers(image_header):
    # Given a JPEG whose frame header follows more empty APP0 segments than any photo has
    header = jpeg_header(640, 480)
    segments = b"\xff\xe0\x00\x02" * 1000  # image_header.MAX_JPEG_MARKERS

    # Then it is refused, as a body of nothing but tiny segments or restart markers is
    for data in (header[:2] + segments + header[2:], b"\xff\xd8" + b"\xff\xd0" * 2_000_000):
        with pytest.raises(image_header.NotAnImage, match="among the first 1000 markers"):
            image_header.check_image(data, max_pixels=40_000_000)
