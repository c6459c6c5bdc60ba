"""Proxy event → images and options: every accepted input form and every malformed one."""
import base64
import json

import pytest


@pytest.fixture(scope="module")
def modules(lambda_code):
    from predict_lambda import api_errors
    from predict_lambda import payload
    from predict_lambda import settings

    return payload, api_errors, settings.Settings(endpoint_name="e", class_names=tuple("abcdefg"),
                                                  max_images=3, max_body_bytes=1000)


IMG = b"\xff\xd8pretend-jpeg-bytes"
B64 = base64.b64encode(IMG).decode()


def event(body, content_type="application/json", query=None, b64=False):
    if not isinstance(body, str):
        body = json.dumps(body)
    return {"body": body, "headers": {"Content-Type": content_type} if content_type else {},
            "queryStringParameters": query, "isBase64Encoded": b64}


@pytest.mark.parametrize("ev, count", [
    (event({"image": B64}), 1),
    (event({"images": [B64, B64]}), 2),
    (event(B64), 1),                                   # the original's bare base64 string
    (event([B64, B64, B64]), 3),                       # the original's list
    (event(B64, content_type=None), 1),                # no content type: JSON
    (event(f'"{B64}"', content_type="text/plain"), 1),
    (event(B64.rstrip("="), content_type=None), 1),    # unquoted, unpadded base64 text
    (event({"image": "data:image/jpeg;base64," + B64}), 1),
    (event({"image": base64.urlsafe_b64encode(IMG).decode()}), 1),
    (event(B64, content_type="image/jpeg", b64=True), 1),   # raw body, base64 from API Gateway
    (event(B64, content_type="image/png; charset=binary", b64=True), 1),
    (event(base64.b64encode(json.dumps({"image": B64}).encode()).decode(), b64=True), 1),
], ids=["image", "images", "bare-string", "bare-list", "no-content-type", "text-plain", "unquoted",
        "data-url", "urlsafe", "raw-jpeg", "raw-png", "json-base64-flagged"])
def test_input_forms(modules, ev, count):
    payload, _, settings = modules
    request = payload.parse(ev, settings)
    assert request.images == [IMG] * count
    assert (request.top_k, request.raw) == (5, False)


@pytest.mark.parametrize("ev, top_k, raw", [
    (event({"image": B64, "top_k": 2, "raw": True}), 2, True),
    (event({"image": B64}, query={"top_k": "7", "raw": "true"}), 7, True),
    (event({"image": B64, "top_k": 1}, query={"top_k": "3"}), 1, False),  # the body wins
    (event(B64, content_type="image/jpeg", query={"raw": "0"}, b64=True), 5, False),
])
def test_options(modules, ev, top_k, raw):
    payload, _, settings = modules
    request = payload.parse(ev, settings)
    assert (request.top_k, request.raw) == (top_k, raw)


@pytest.mark.parametrize("ev, error, message", [
    (event("{not json"), "BadRequest", "not valid JSON"),
    (event("{not json", content_type="application/json"), "BadRequest", "not valid JSON"),
    (event({"image": "***not base64***"}), "InvalidBase64", "not valid base64"),
    (event({"images": [B64, "%%%"]}), "InvalidBase64", "image 1"),
    (event({"image": 42}), "BadRequest", "base64 string"),
    (event({"images": B64}), "BadRequest", "list"),
    (event({"image": B64, "images": [B64]}), "BadRequest", "not both"),
    (event({"picture": B64}), "BadRequest", "expected"),
    (event(17), "BadRequest", "expected"),
    (event([]), "BadRequest", "no image"),
    (event([B64] * 4), "TooManyImages", "4 images in one request; at most 3"),
    (event("x" * 1001), "PayloadTooLarge", "1001 bytes; the limit is 1000 bytes"),
    (event("QUFB" * 400, content_type="image/jpeg", b64=True), "PayloadTooLarge", "limit is 1000"),
    (event("not base64!", content_type="image/jpeg", b64=True), "BadRequest", "flagged base64"),
    (event("a,b", content_type="text/csv"), "UnsupportedMediaType", "text/csv"),
    (event("\xff\xd8garbled", content_type="image/jpeg"), "UnsupportedMediaType", "binary media"),
    (event({"image": B64, "top_k": 0}), "InvalidParameter", "from 1 to 7"),
    (event({"image": B64, "top_k": 8}), "InvalidParameter", "from 1 to 7"),
    (event({"image": B64}, query={"top_k": "two"}), "InvalidParameter", "integer"),
    (event({"image": B64, "top_k": 2.5}), "InvalidParameter", "integer"),
    (event({"image": B64}, query={"raw": "maybe"}), "InvalidParameter", "raw"),
], ids=["json", "json-typed", "base64", "base64-in-list", "not-string", "images-not-list", "both",
        "no-image-key", "number", "empty-list", "too-many", "too-large", "too-large-binary",
        "bad-binary", "media-type", "raw-not-binary", "top-k-0", "top-k-8", "top-k-text", "top-k-float", "raw-text"])
def test_malformed_requests(modules, ev, error, message):
    payload, api_errors, settings = modules
    with pytest.raises(getattr(api_errors, error), match=message):
        payload.parse(ev, settings)


def test_error_statuses(modules):
    _, api_errors, _ = modules
    statuses = {cls.__name__: cls("m").status for cls in (
        api_errors.BadRequest, api_errors.InvalidBase64, api_errors.TooManyImages,
        api_errors.PayloadTooLarge, api_errors.UnsupportedMediaType, api_errors.InvalidImage,
        api_errors.EndpointUnavailable, api_errors.EndpointThrottled, api_errors.EndpointTimeout)}
    assert statuses == {"BadRequest": 400, "InvalidBase64": 400, "TooManyImages": 400,
                        "PayloadTooLarge": 413, "UnsupportedMediaType": 415, "InvalidImage": 422,
                        "EndpointUnavailable": 503, "EndpointThrottled": 503, "EndpointTimeout": 504}
    assert api_errors.EndpointThrottled("m", retry_after=2).headers == {"Retry-After": "2"}


def roomy(settings):
    """The same settings with a body limit that lets large hostile bodies reach the parser."""
    import dataclasses

    return dataclasses.replace(settings, max_body_bytes=10_000_000)


@pytest.mark.parametrize("body", ["[" * 50_000, '{"images": ' + "[" * 50_000 + "]" * 50_000 + "}"],
                         ids=["unclosed", "closed"])
def test_deeply_nested_json_is_a_bad_request(modules, body):
    payload, errors, settings = modules
    with pytest.raises(errors.BadRequest, match="nested"):
        payload.parse(event(body), roomy(settings))


@pytest.mark.parametrize("body", [f'{{"image": "{B64}", "top_k": 1e400}}',
                                  f'{{"image": "{B64}", "top_k": Infinity}}',
                                  f'{{"image": "{B64}", "top_k": -Infinity}}',
                                  f'{{"image": "{B64}", "top_k": NaN}}'],
                         ids=["1e400", "Infinity", "-Infinity", "NaN"])
def test_non_finite_numbers_are_refused(modules, body):
    payload, errors, settings = modules
    with pytest.raises(errors.InvalidParameter, match="top_k must be a finite integer"):
        payload.parse(event(body), roomy(settings))


def test_a_non_finite_raw_flag_is_an_invalid_parameter(modules):
    payload, errors, settings = modules
    with pytest.raises(errors.InvalidParameter, match="raw must be true or false"):
        payload.parse(event(f'{{"image": "{B64}", "raw": NaN}}'), settings)


@pytest.mark.parametrize("top_k", ["1e400", "Infinity", "nan", "-inf"])
def test_non_finite_top_k_in_the_query_is_refused(modules, top_k):
    payload, errors, settings = modules
    with pytest.raises(errors.InvalidParameter):
        payload.parse(event({"image": B64}, query={"top_k": top_k}), settings)


def test_images_are_counted_before_any_is_decoded(modules, monkeypatch):
    payload, errors, settings = modules
    decoded = []
    monkeypatch.setattr(payload.base64, "b64decode", lambda *a, **k: decoded.append(a) or b"")

    with pytest.raises(errors.TooManyImages):
        payload.parse(event({"images": [B64] * 50}), roomy(settings))
    assert decoded == []


@pytest.mark.parametrize("body", [
    "[" * 50_000,
    '{"images": ' + "[" * 50_000 + "]" * 50_000 + "}",
    "{" * 50_000,
    json.dumps({"images": [[B64]]}),
    json.dumps({"image": B64, "options": {"nested": [1]}}),
    '[["]]",[1],"[["]]',  # brackets in strings do not hide the depth-3 list
], ids=["unclosed", "closed", "objects", "list-in-list", "three-levels", "masked-by-strings"])
def test_json_nested_deeper_than_a_request_is_refused_before_it_is_parsed(modules, monkeypatch, body):
    # Given a body nested deeper than {"images": [...]}, and a JSON parser that records its calls
    payload, errors, settings = modules
    parsed = []
    monkeypatch.setattr(payload.json, "loads", lambda *a, **k: parsed.append(a) or [])

    # When it is parsed, then it is a bad request, and the deep part was never handed to json.loads
    with pytest.raises(errors.BadRequest, match="nested deeper than the 2 levels"):
        payload.parse(event(body), roomy(settings))
    assert all(len(a[0]) < 100 for a in parsed)


@pytest.mark.parametrize("body", [
    json.dumps({"image": B64, "note": "[[[[{{{{"}),
    json.dumps({"images": [B64], "note": '\\"]]]]"'}),
    json.dumps({"image": B64, "top_k": 2, "options": [1, 2]}),
], ids=["brackets-in-a-string", "escaped-quote-then-brackets", "two-levels"])
def test_brackets_inside_strings_and_two_levels_are_accepted(modules, body):
    payload, _, settings = modules
    assert payload.parse(event(body), settings).images == [IMG]


def test_unbalanced_json_keeps_the_parsers_message(modules):
    payload, errors, settings = modules
    with pytest.raises(errors.BadRequest, match="not valid JSON .*line 1 column"):
        payload.parse(event('{"images": ["' + B64 + '"'), settings)
