"""API Gateway proxy event (REST API, payload v1) → the images and options of one prediction request.

Accepted bodies:
- JSON `{"image": "<base64>"}` or `{"images": ["<base64>", ...]}`, options `top_k` and `raw` beside them;
- the original project's JSON: a bare base64 string, or a list of them;
- a raw `image/jpeg`, `image/png` or `application/x-image` body (API Gateway hands it over base64-encoded).
Query options `?top_k=3&raw=true` work for every form (a body option wins). `?format=original` asks for
the original's answer: the bare per-image probability lists in class-id order (query only: the original's
bodies have nowhere to hold it).
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from .api_errors import (BadRequest, InvalidBase64, InvalidParameter, PayloadTooLarge, TooManyImages,
                        UnsupportedMediaType)
from .settings import Settings

JSON_TYPES = {"application/json", "text/plain", ""}
IMAGE_TYPES = {"image/jpeg", "image/jpg", "image/png", "application/x-image", "application/octet-stream"}
_BARE_BASE64 = re.compile(rb"\s*[A-Za-z0-9+/_-]{16,}={0,2}\s*")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}
# `labelled`: {"predictions": [...], "model": ...}; `original`: [[p0, ..., pN-1], ...] as the original answered.
FORMATS = ("labelled", "original")
# {"images": [...]}: an object holding a list is as deep as any request shape goes.
MAX_JSON_DEPTH = 2
_TOO_DEEP = (f"the JSON body is nested deeper than the {MAX_JSON_DEPTH} levels a request has "
             '({"images": ["<base64>", ...]}), or its brackets do not balance')
# A string, or an unterminated one to the end: possessive, so no input makes it backtrack (quadratic).
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_CURLY_AS_SQUARE = str.maketrans("{}", "[]")


@dataclass(frozen=True)
class PredictionRequest:
    images: list[bytes]
    top_k: int
    raw: bool
    response_format: str = "labelled"


def parse(event: dict[str, Any], settings: Settings) -> PredictionRequest:
    body = _body_bytes(event, settings)
    content_type = _content_type(event)
    query = event.get("queryStringParameters") or {}
    if content_type in IMAGE_TYPES:
        if body and not event.get("isBase64Encoded"):
            raise UnsupportedMediaType(
                f"this API does not take raw {content_type} bodies (not among its binary media "
                'types); send JSON {"image": "<base64>"} instead')
        images, options = [body], {}
    elif content_type in JSON_TYPES or content_type.endswith("+json"):
        images, options = _json_images(body, settings.max_images)
    else:
        raise UnsupportedMediaType(
            f"content type {content_type!r} is not supported; send application/json, image/jpeg or "
            "image/png")
    if not images:
        raise BadRequest("no image in the request; send {\"image\": \"<base64>\"}")
    if len(images) > settings.max_images:
        raise TooManyImages(f"{len(images)} images in one request; at most {settings.max_images}")
    top_k = _top_k(options.get("top_k", query.get("top_k")), settings)
    raw = _flag("raw", options.get("raw", query.get("raw")))
    return PredictionRequest(images=images, top_k=top_k, raw=raw,
                             response_format=_response_format(query.get("format")))


def _header(event: dict[str, Any], name: str) -> str:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value or ""
    return ""


def _content_type(event: dict[str, Any]) -> str:
    return _header(event, "content-type").split(";")[0].strip().lower()


def _body_bytes(event: dict[str, Any], settings: Settings) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        # Checked before decoding: the encoded form is what travelled and what the limit is about.
        _check_size(len(body) * 3 // 4, settings)
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the request body is flagged base64 but is not valid base64") from None
    data = body.encode("utf-8", "surrogateescape")
    _check_size(len(data), settings)
    return data


def _check_size(size: int, settings: Settings) -> None:
    if size > settings.max_body_bytes:
        raise PayloadTooLarge(f"the request body is {size} bytes; the limit is "
                              f"{settings.max_body_bytes} bytes ({settings.max_body_bytes / 2**20:.1f} MiB)")


def _json_images(body: bytes, max_images: int) -> tuple[list[bytes], dict[str, Any]]:
    if _BARE_BASE64.fullmatch(body):  # the original's clients also sent the base64 text unquoted
        return [decode_base64(body.decode("ascii"), "the image")], {}
    doc = _load_json(body)
    if isinstance(doc, str):
        return [decode_base64(doc, "the image")], {}
    if isinstance(doc, list):
        return _decode_list(doc, max_images), {}
    if not isinstance(doc, dict):
        raise BadRequest('expected {"image": "<base64>"} or {"images": ["<base64>", ...]}')
    if "image" in doc and "images" in doc:
        raise BadRequest('send either "image" or "images", not both')
    if "image" in doc:
        if not isinstance(doc["image"], str):
            raise BadRequest('"image" must be a base64 string')
        return [decode_base64(doc["image"], "the image")], doc
    if "images" in doc:
        if not isinstance(doc["images"], list):
            raise BadRequest('"images" must be a list of base64 strings')
        return _decode_list(doc["images"], max_images), doc
    raise BadRequest('expected {"image": "<base64>"} or {"images": ["<base64>", ...]}')


def _load_json(body: bytes) -> Any:
    """The JSON document, once its nesting is known to be shallow: json.loads recurses once per level, so
    50,000 `[` would end in a RecursionError. NaN and Infinity parse (as floats) so that an option holding
    one is refused by name, as an invalid parameter."""
    try:
        text = body.decode(json.detect_encoding(body), "surrogatepass")  # as json.loads reads bytes
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON ({exc})") from None
    unmatched = _unmatched_brackets(text)
    # Each bracket left stands for at most one level more: with two or fewer the body is at most 4 deep,
    # safe for json.loads, whose message then says where a truncated body breaks off.
    if len(unmatched) > MAX_JSON_DEPTH:
        raise BadRequest(_TOO_DEEP)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON ({exc})") from None
    if unmatched:  # it parsed, so its brackets balance: some nest deeper than MAX_JSON_DEPTH
        raise BadRequest(_TOO_DEEP)
    return doc


def _unmatched_brackets(text: str) -> str:
    """The brackets of `text` (outside strings, `{}` as `[]`) left once every pair nested at most
    MAX_JSON_DEPTH deep is gone: "" when the nesting is within bounds. Each round takes out the innermost
    pairs, so a balanced document d levels deep leaves d - MAX_JSON_DEPTH levels. All in C: a hostile
    body costs no Python loop."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:  # every request: it cannot nest deeper
        return ""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).translate(_CURLY_AS_SQUARE)
    for _ in range(MAX_JSON_DEPTH):
        brackets = brackets.replace("[]", "")
    return brackets


def _decode_list(items: list[Any], max_images: int) -> list[bytes]:
    """Each image decoded, once the list is known to be short enough (decoding costs CPU)."""
    if len(items) > max_images:
        raise TooManyImages(f"{len(items)} images in one request; at most {max_images}")
    if not all(isinstance(item, str) for item in items):
        raise BadRequest("every image must be a base64 string")
    return [decode_base64(item, f"image {i}") for i, item in enumerate(items)]


def decode_base64(text: str, what: str) -> bytes:
    """Standard or URL-safe base64, padding optional, an optional `data:image/...;base64,` prefix."""
    if text.startswith("data:") and "," in text:
        text = text.partition(",")[2]
    text = "".join(text.split())
    text += "=" * (-len(text) % 4)
    try:
        altchars = b"-_" if ("-" in text or "_" in text) else None
        return base64.b64decode(text, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidBase64(f"{what} is not valid base64") from None


def _top_k(value: Any, settings: Settings) -> int:
    if value is None:
        return min(settings.default_top_k, len(settings.class_names))
    try:
        if isinstance(value, (bool, float)):  # JSON's 2.0, 1e400 (inf), NaN, Infinity
            raise ValueError
        top_k = int(value)
        if str(top_k) != str(value).strip():
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise InvalidParameter(f"top_k must be a finite integer, not {value!r}") from None
    if not 1 <= top_k <= len(settings.class_names):
        raise InvalidParameter(f"top_k must be from 1 to {len(settings.class_names)}, not {top_k}")
    return top_k


def _response_format(value: Any) -> str:
    text = "labelled" if value is None else str(value).strip().lower()
    if text not in FORMATS:
        raise InvalidParameter(f"format must be one of {', '.join(FORMATS)}, not {value!r}")
    return text


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidParameter(f"{name} must be true or false, not {value!r}")
