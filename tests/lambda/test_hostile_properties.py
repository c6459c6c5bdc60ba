"""Property tests (Hypothesis) over the Lambda's request parser and image header checks (issue 16): whatever
arrives, the answer is a parsed request within the limits or a typed 4xx error, never another exception;
what is well formed comes back exactly; headers say the size they were written with."""
from __future__ import annotations

import base64
import json
import struct

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fixtures.api import png_header

CLASSES = tuple(f"breed-{i}" for i in range(7))
MAX_IMAGES = 3
PROFILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONTENT_TYPES = ["application/json", "text/plain", "", "application/vnd.x+json", "image/jpeg",
                 "image/png", "application/x-image", "application/octet-stream", "text/csv",
                 "multipart/form-data", "APPLICATION/JSON; charset=utf-8", "image/jpeg; x=y"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=25)
OPTIONS = st.one_of(st.none(), st.integers(-10**20, 10**20), st.floats(), st.booleans(),
                    st.text(max_size=12), st.lists(st.integers(), max_size=2))


@pytest.fixture(scope="module")
def lam(lambda_code):
    from predict_lambda import api_errors
    from predict_lambda import image_header
    from predict_lambda import payload
    from predict_lambda import settings as lambda_settings

    config = lambda_settings.Settings(endpoint_name="e", class_names=CLASSES, max_images=MAX_IMAGES,
                                      max_body_bytes=200_000)
    return payload, image_header, api_errors, config


def event(body: str | bytes | None, content_type: str, b64: bool = False, query=None) -> dict:
    if isinstance(body, bytes):
        body = base64.b64encode(body).decode() if b64 else body.decode("utf-8", "surrogateescape")
    return {"body": body, "headers": {"Content-Type": content_type}, "isBase64Encoded": b64,
            "queryStringParameters": query}


def outcome(lam, ev):
    """The parsed request, or the 4xx error it raised; anything else fails the property."""
    payload, _, api_errors, config = lam
    try:
        request = payload.parse(ev, config)
    except api_errors.ApiError as exc:
        assert 400 <= exc.status < 500, (exc.status, exc)
        assert exc.code and str(exc)
        return exc
    assert 1 <= len(request.images) <= MAX_IMAGES
    assert 1 <= request.top_k <= len(CLASSES)
    assert isinstance(request.raw, bool)
    return request


@PROFILE
@given(body=st.binary(max_size=2000), content_type=st.sampled_from(CONTENT_TYPES), b64=st.booleans())
@example(body=b"[" * 50_000, content_type="application/json", b64=False)
@example(body=b'{"a":' * 20_000, content_type="application/json", b64=False)
@example(body=b"\xff" * 1000, content_type="image/jpeg", b64=True)
def test_any_bytes_parse_or_are_a_4xx(lam, body, content_type, b64):
    outcome(lam, event(body, content_type, b64))


@PROFILE
@given(doc=JSON_VALUES, top_k=OPTIONS, raw=OPTIONS, query=st.dictionaries(
    st.sampled_from(["top_k", "raw", "x"]), st.text(max_size=25), max_size=3))
def test_any_json_document_parses_or_is_a_4xx(lam, doc, top_k, raw, query):
    wrapped = {"image": doc, "top_k": top_k, "raw": raw} if isinstance(doc, str) else doc
    outcome(lam, event(json.dumps(wrapped), "application/json", query=query))


@PROFILE
@given(depth=st.integers(1, 200_000), opener=st.sampled_from(["[", "{\"a\":", "[{\"b\":"]),
       closed=st.booleans())
def test_nesting_of_any_depth_is_refused_or_parsed_never_a_recursion_error(lam, depth, opener, closed):
    closer = {"[": "]", "{\"a\":": "}", "[{\"b\":": "}]"}[opener]
    body = opener * depth + "1" + (closer * depth if closed else "")
    result = outcome(lam, event(body, "application/json"))
    assert not hasattr(result, "images")  # no image anywhere in there


@PROFILE
@given(top_k=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
                       st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "2.0", " 3 ", "0x3"])))
def test_top_k_is_a_finite_integer_in_range_or_invalid_parameter(lam, top_k):
    literal = top_k if isinstance(top_k, str) else json.dumps(top_k)  # NaN/Infinity as JSON writes them
    result = outcome(lam, event('{"image": "QUJD", "top_k": %s}' % literal, "application/json"))
    if hasattr(result, "top_k"):
        assert result.top_k == int(str(top_k).strip())
    else:
        assert result.code in ("invalid_parameter", "bad_request")


@PROFILE
@given(images=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=MAX_IMAGES),
       urlsafe=st.booleans(), top_k=st.integers(1, len(CLASSES)))
def test_well_formed_requests_come_back_exactly(lam, images, urlsafe, top_k):
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    body = json.dumps({"images": [encode(i).decode() for i in images], "top_k": top_k})
    request = outcome(lam, event(body, "application/json"))
    assert (request.images, request.top_k) == (images, top_k)


@PROFILE
@given(count=st.integers(MAX_IMAGES + 1, 10_000))
def test_too_many_images_are_counted_not_decoded(lam, count):
    body = json.dumps({"images": ["!not base64!"] * count})  # decoding any one would be invalid_base64
    assert outcome(lam, event(body, "application/json")).code == "too_many_images"


def jpeg(width: int, height: int, segments: list[bytes], fill: int) -> bytes:
    """SOI, APPn segments, fill bytes before the frame header, SOF0 with the size."""
    out = b"\xff\xd8"
    for i, data in enumerate(segments):
        out += b"\xff" + bytes([0xE0 + i % 16]) + struct.pack(">H", len(data) + 2) + data
    return out + b"\xff" * fill + b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 3) + b"\0" * 9


@PROFILE
@given(width=st.integers(1, 65535), height=st.integers(1, 65535),
       segments=st.lists(st.binary(max_size=200), max_size=20), fill=st.integers(0, 5000))
def test_a_jpeg_header_says_the_size_it_was_written_with(lam, width, height, segments, fill):
    _, image_header, _, _ = lam
    assert image_header.image_size(jpeg(width, height, segments, fill)) == ("jpeg", width, height)


@PROFILE
@given(width=st.integers(0, 2**32 - 1), height=st.integers(0, 2**32 - 1))
def test_a_png_header_says_its_size_and_the_pixel_cap_holds(lam, width, height):
    _, image_header, _, _ = lam
    data = png_header(width, height)
    assert image_header.image_size(data) == ("png", width, height)
    try:
        image_header.check_image(data, 40_000_000)
    except image_header.NotAnImage:
        assert width * height > 40_000_000 or width == 0 or height == 0
    else:
        assert 0 < width * height <= 40_000_000


@PROFILE
@given(data=st.binary(max_size=3000), prefix=st.sampled_from([b"", b"\xff\xd8", b"\x89PNG\r\n\x1a\n"]))
@example(data=b"\xff" * 100_000, prefix=b"\xff\xd8")
@example(data=b"\xff\xe0\x00\x02" * 5000, prefix=b"\xff\xd8")
def test_any_bytes_are_an_image_size_or_not_an_image(lam, data, prefix):
    _, image_header, _, _ = lam
    try:
        kind, width, height = image_header.image_size(prefix + data)
    except image_header.NotAnImage as exc:
        assert str(exc)
    else:
        assert kind in ("jpeg", "png") and 0 <= width < 2**32 and 0 <= height < 2**32
