"""The API over real HTTP: local API (API Gateway) → handler → local endpoint serving the tiny artifact.

Every input form, batch, top_k, raw, every error status, checked against api/openapi.yaml; the last test
checks the servers still answer correctly after all of it.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import math

import pytest
import requests
import yaml
from openapi_schema_validator import OAS30Validator

from ops.emulator import local_api as gateway
from ops.core.config import PROJECT_ROOT
from tests.fixtures.api import ThreadServer

SPEC = yaml.safe_load((PROJECT_ROOT / "api" / "openapi.yaml").read_text())


def check_against_openapi(response: requests.Response) -> dict:
    """The response's JSON body, after checking status, content type and body against the spec."""
    operation = SPEC["paths"]["/predict"]["post"]
    assert str(response.status_code) in operation["responses"], response.status_code
    spec = operation["responses"][str(response.status_code)]
    assert response.headers["Content-Type"].startswith("application/json")
    schema = {**spec["content"]["application/json"]["schema"], "components": SPEC["components"]}
    body = response.json()
    OAS30Validator(schema).validate(body)
    for header in spec.get("headers", {}):
        assert header in response.headers, f"{header} missing from a {response.status_code}"
    return body


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def post(api, *, headers=None, **kwargs) -> requests.Response:
    url, key = api
    return requests.post(url, headers={"x-api-key": key, **(headers or {})}, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def num_classes(api_settings) -> int:
    return len(api_settings.class_names)


FORMS = {
    "json-image": lambda img: {"json": {"image": b64(img)}},
    "json-images": lambda img: {"json": {"images": [b64(img)]}},
    "original-string": lambda img: {"json": b64(img)},
    "original-list": lambda img: {"json": [b64(img)]},
    "raw-jpeg": lambda img: {"data": img, "headers": {"Content-Type": "image/jpeg"}},
    "raw-x-image": lambda img: {"data": img, "headers": {"Content-Type": "application/x-image"}},
}


@pytest.mark.parametrize("form", FORMS)
def test_every_input_form_predicts_the_same(local_api, photos, form, api_settings):
    _, jpeg = next(iter(photos.values()))
    kwargs = FORMS[form](jpeg)
    body = check_against_openapi(post(local_api, headers=kwargs.pop("headers", None), **kwargs))
    reference = check_against_openapi(post(local_api, json={"image": b64(jpeg)}))
    assert body == reference
    assert body["model"] == api_settings.model_id
    top = body["predictions"][0]["top"]
    assert len(top) == min(5, len(api_settings.class_names))
    assert [t["probability"] for t in top] == sorted((t["probability"] for t in top), reverse=True)
    assert all(t["breed"] == api_settings.class_names[t["class_id"]] for t in top)


@pytest.mark.parametrize("name, content_type", [("png_alpha", "image/png"), ("grayscale", "image/jpeg"),
                                                ("cmyk", "image/jpeg")])
def test_unusual_but_valid_images_predict(local_api, sample_images, name, content_type):
    response = post(local_api, data=sample_images[name], headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    assert len(check_against_openapi(response)["predictions"]) == 1


def test_batch_answers_in_request_order(local_api, photos):
    images = [jpeg for _, jpeg in photos.values()]
    batch = check_against_openapi(post(local_api, json={"images": [b64(i) for i in images],
                                                        "raw": True}))
    singles = [check_against_openapi(post(local_api, json={"image": b64(i), "raw": True}))
               for i in images]
    assert len(batch["predictions"]) == len(images)
    for got, single in zip(batch["predictions"], singles):
        assert got["top"] == single["predictions"][0]["top"]
        assert got["probabilities"] == pytest.approx(single["predictions"][0]["probabilities"])
    # different photos give different probabilities: the order is really the request's
    assert batch["predictions"][0]["probabilities"] != batch["predictions"][1]["probabilities"]


@pytest.mark.parametrize("query, body, expected", [({"top_k": "2"}, {}, 2), ({}, {"top_k": 1}, 1),
                                                   ({"top_k": "3"}, {"top_k": 1}, 1)],
                         ids=["query", "body", "body-wins"])
def test_top_k(local_api, photos, query, body, expected):
    _, jpeg = next(iter(photos.values()))
    result = check_against_openapi(post(local_api, params=query, json={"image": b64(jpeg), **body}))
    assert len(result["predictions"][0]["top"]) == expected
    assert "probabilities" not in result["predictions"][0]


def test_raw_returns_the_full_probability_list(local_api, photos, num_classes):
    _, jpeg = next(iter(photos.values()))
    result = check_against_openapi(post(local_api, params={"raw": "true"}, json=[b64(jpeg)] * 2))
    for prediction in result["predictions"]:
        probs = prediction["probabilities"]
        assert len(probs) == num_classes and math.isclose(sum(probs), 1.0, abs_tol=1e-4)
        best = max(range(num_classes), key=probs.__getitem__)
        assert prediction["top"][0]["class_id"] == best


def _error(response: requests.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = check_against_openapi(response)
    assert body["error"]["code"] == code
    assert "Traceback" not in response.text
    return body["error"]["message"]


@pytest.mark.parametrize("kwargs, status, code", [
    ({"data": b'{"image": ', "headers": {"Content-Type": "application/json"}}, 400, "bad_request"),
    ({"json": {"image": "this is *not* base64"}}, 400, "invalid_base64"),
    ({"json": {"image": "QUJD", "top_k": "many"}}, 400, "invalid_parameter"),
    ({"data": b"a,b\n1,2", "headers": {"Content-Type": "text/csv"}}, 415, "unsupported_media_type"),
], ids=["malformed-json", "malformed-base64", "bad-top-k", "csv"])
def test_malformed_requests(local_api, kwargs, status, code):
    _error(post(local_api, headers=kwargs.pop("headers", None), **kwargs), status, code)


@pytest.mark.parametrize("name", ["truncated_jpeg", "text_named_jpg", "empty", "huge_png_header",
                                  "huge_jpeg_header"])
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "raw"])
def test_undecodable_images_are_422(local_api, sample_images, name, as_json):
    data = sample_images[name]
    kwargs = ({"json": {"image": b64(data)}} if as_json
              else {"data": data, "headers": {"Content-Type": "image/jpeg"}})
    message = _error(post(local_api, headers=kwargs.pop("headers", None), **kwargs), 422,
                     "invalid_image")
    assert message.startswith("image 0:")


def test_a_bad_image_in_a_batch_is_named(local_api, photos, sample_images):
    good = [b64(jpeg) for _, jpeg in photos.values()][:2]
    message = _error(post(local_api, json={"images": [*good, b64(sample_images["truncated_jpeg"])]}),
                     422, "invalid_image")
    assert message.startswith("image 2:")


def test_too_many_images(local_api, photos, api_settings):
    _, jpeg = next(iter(photos.values()))
    message = _error(post(local_api, json={"images": [b64(jpeg)] * 100}), 400, "too_many_images")
    assert f"at most {api_settings.max_images}" in message and "100 images" in message


def test_body_over_the_lambda_limit_is_413_with_the_limit(local_api, api_settings):
    message = _error(post(local_api, json={"image": "A" * (5 * 2**20)}), 413, "payload_too_large")
    assert str(api_settings.max_body_bytes) in message


@pytest.mark.parametrize("kwargs", [
    {"json": {"image": "A" * (6 * 2**20 + 1)}},  # the event is over 6 MB with no growth
    # 4.6 MiB of photo: 6.13 MiB in base64, over the invoke limit though under API Gateway's 10 MB
    {"data": b"\xff\xd8" + b"\0" * int(4.6 * 2**20), "headers": {"Content-Type": "image/jpeg"}},
])
def test_an_event_over_lambdas_6_mb_never_reaches_it(local_api, kwargs):
    response = post(local_api, **kwargs)
    assert response.status_code == 413
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert check_against_openapi(response) == {"message": "Request Too Long"}


def test_a_photo_whose_event_fits_reaches_the_lambda(local_api, api_settings):
    # 4.4 MiB: 5.87 MiB in base64, so the Lambda gets it and answers with its own limit
    response = post(local_api, data=b"\xff\xd8" + b"\0" * int(4.4 * 2**20),
                    headers={"Content-Type": "image/jpeg"})
    assert str(api_settings.max_body_bytes) in _error(response, 413, "payload_too_large")


def test_body_over_the_api_gateway_limit_is_413(local_api):
    response = post(local_api, data=b"\xff\xd8" + b"\0" * (20 * 2**20),
                    headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 413
    assert check_against_openapi(response) == {"message": "Request Too Long"}


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_api_key_is_required(local_api, key):
    url, _ = local_api
    response = requests.post(url, headers={"x-api-key": key} if key else {}, json="QUJD", timeout=30)
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


@pytest.mark.parametrize("method, path", [("POST", "/prod/predict"), ("POST", "/beta/other"),
                                          ("GET", "/beta/predict"), ("POST", "/predict")])
def test_only_the_stage_path_exists(local_api, method, path):
    url, key = local_api
    base = url.rsplit("/beta/predict", 1)[0]
    response = requests.request(method, base + path, headers={"x-api-key": key}, timeout=30)
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


@pytest.fixture
def api_with(predictor, lambda_code):
    """A local API whose handler calls another endpoint (a gone or a hung one)."""
    handler, _ = lambda_code
    made = []

    def make(**changes):
        settings = dataclasses.replace(predictor.settings, **changes)
        server = ThreadServer(gateway.create_app(handler.Predictor(settings),
                                                 gateway.Gateway(api_key="k")))
        made.append(server)
        return f"{server.url}/beta/predict", "k"

    yield make
    for server in made:
        server.close()


def test_unknown_endpoint_is_503_with_retry_after(api_with, photos, local_endpoint):
    _, jpeg = next(iter(photos.values()))
    response = post(api_with(endpoint_name="no-such-endpoint"), json={"image": b64(jpeg)})
    _error(response, 503, "endpoint_unavailable")
    assert int(response.headers["Retry-After"]) >= 1


def test_unreachable_endpoint_is_503(api_with, photos):
    from ops.emulator.processes import free_port

    _, jpeg = next(iter(photos.values()))
    response = post(api_with(endpoint_url=f"http://127.0.0.1:{free_port()}", endpoint_max_attempts=1),
                    json={"image": b64(jpeg)})
    _error(response, 503, "endpoint_unavailable")
    assert "Retry-After" in response.headers


def test_hung_endpoint_is_504(api_with, photos, silent_endpoint):
    _, jpeg = next(iter(photos.values()))
    response = post(api_with(endpoint_url=silent_endpoint.url, endpoint_timeout_seconds=1,
                             endpoint_max_attempts=1), json={"image": b64(jpeg)})
    assert "1 s" in _error(response, 504, "endpoint_timeout")


@pytest.fixture(scope="module")
def narrow_endpoint(tiny_artifact, tmp_path_factory):
    """A second local endpoint with capacity for one invocation at a time."""
    from ops.emulator import processes

    port = processes.free_port()
    server = processes.start("narrow-endpoint", "ops.emulator.local_endpoint", [
        "--model", str(tiny_artifact), "--endpoint-name", "dogs-test", "--port", str(port),
        "--max-in-flight", "1", "--threads", "8"], port, "/ping", tmp_path_factory.mktemp("narrow"))
    yield server
    server.stop()


def test_a_throttled_endpoint_is_503_with_retry_after(api_with, photos, narrow_endpoint):
    images = [b64(jpeg) for _, jpeg in photos.values()] * 2  # 8 concurrent calls, room for 1
    response = post(api_with(endpoint_url=narrow_endpoint.url, endpoint_max_attempts=1,
                             max_images=8), json={"images": images})
    _error(response, 503, "endpoint_throttled")
    assert int(response.headers["Retry-After"]) >= 1


def test_still_answers_correctly_after_everything(local_api, photos, loaded_tiny):
    """Run last in this module: the servers survived all of the above."""
    _, jpeg = next(iter(photos.values()))
    result = check_against_openapi(post(local_api, json={"image": b64(jpeg), "raw": True}))
    expected = json.loads(loaded_tiny.invoke(jpeg, "application/x-image", "application/json"))
    assert result["predictions"][0]["probabilities"] == pytest.approx(expected, abs=1e-5)
