"""Just enough of the JPEG and PNG formats to reject what is not an image, or is absurdly large, before
spending an endpoint call on it. The endpoint still decodes the image and has the final word.

JPEG: a sequence of marker segments; the frame header (SOF0..SOF15 except DHT/JPG/DAC) holds the size
(ITU T.81, B.2.2). PNG: the signature, then the IHDR chunk with width and height (RFC 2083, 4.1.1).
"""
from __future__ import annotations

import re
import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# How many markers may come before the frame header: photos have 3-4 (dogs-10) to a few dozen (APPn for
# Exif, XMP and ICC chunks, DQT, DHT); a body of 5 MB of tiny segments would have over a million.
MAX_JPEG_MARKERS = 1000
_NOT_FILL = re.compile(rb"[^\xff]")
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class NotAnImage(ValueError):
    """The bytes are not a JPEG or PNG image, or its header is broken or absurd."""


def image_size(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) from the header of a JPEG or PNG; NotAnImage for anything else."""
    if not data:
        raise NotAnImage("the image is empty (0 bytes)")
    if data.startswith(PNG_SIGNATURE):
        return ("png", *_png_size(data))
    if data.startswith(b"\xff\xd8"):
        return ("jpeg", *_jpeg_size(data))
    raise NotAnImage("not a JPEG or PNG image")


def check_image(data: bytes, max_pixels: int) -> str:
    """The format of a plausible image; NotAnImage when it is none or has more than max_pixels."""
    kind, width, height = image_size(data)
    if width <= 0 or height <= 0:
        raise NotAnImage(f"the {kind.upper()} header says {width}x{height} pixels")
    if width * height > max_pixels:
        raise NotAnImage(f"the image is {width}x{height} pixels; at most {max_pixels} pixels "
                         "are accepted")
    return kind


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise NotAnImage("a PNG without its IHDR header")
    return struct.unpack(">II", data[16:24])


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    for _ in range(MAX_JPEG_MARKERS):
        if pos + 4 > len(data):
            break
        if data[pos] != 0xFF:
            raise NotAnImage("a broken JPEG header (no marker where one belongs)")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill bytes, any number of them (T.81 B.1.1.2): skipped as one run, in C
            run_end = _NOT_FILL.search(data, pos + 1)
            if run_end is None:
                break
            pos = run_end.start() - 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker in _SOF_MARKERS:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        if marker in (0xD9, 0xDA) or length < 2:  # end of image or scan before any frame header
            break
        pos += 2 + length
    else:
        raise NotAnImage(f"no JPEG frame header among the first {MAX_JPEG_MARKERS} markers")
    raise NotAnImage("a JPEG without a frame header (truncated or not a JPEG)")
