"""CORS in the handler: no origins (the default) sends no CORS header at all; allowed origins get the
preflight and CORS headers on every answer, errors included; other origins get none."""
from __future__ import annotations

import base64
import dataclasses
import json

import pytest

APP = "https://app.example.com"


def event(method, origin=None, body=None):
    headers = {"content-type": "application/json", **({"Origin": origin} if origin else {})}
    return {"httpMethod": method, "resource": "/predict", "headers": headers,
            "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
            "queryStringParameters": None, "requestContext": {"requestId": "req-cors"}}


@pytest.fixture(scope="module")
def with_origins(lambda_code, api_settings):
    handler, _ = lambda_code

    def make(*origins):
        return handler.Predictor(dataclasses.replace(api_settings, cors_allowed_origins=origins))
    return make


def cors_headers(response) -> dict:
    return {k: v for k, v in (response.get("headers") or {}).items()
            if k.lower().startswith("access-control-")}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_by_default_no_answer_has_cors_headers(predictor, photos):
    _, jpeg = next(iter(photos.values()))
    for response in (predictor(event("POST", APP, b64(jpeg))), predictor(event("POST", APP, "QUJD")),
                     predictor(event("OPTIONS", APP))):
        assert cors_headers(response) == {}
    assert predictor(event("POST", APP, b64(jpeg)))["statusCode"] == 200


def test_an_allowed_origins_preflight(with_origins):
    response = with_origins(APP, "http://localhost:8080")(event("OPTIONS", APP))
    assert response["statusCode"] == 204 and response["body"] == ""
    headers = cors_headers(response)
    assert headers["Access-Control-Allow-Origin"] == APP
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert {"content-type", "x-api-key"} <= set(headers["Access-Control-Allow-Headers"].split(", "))
    assert response["headers"]["Vary"] == "Origin"


@pytest.mark.parametrize("body, status", [("photo", 200), ("QUJD", 422), ([], 400)],
                         ids=["ok", "invalid-image", "bad-request"])
def test_allowed_origins_read_answers_and_errors(with_origins, photos, body, status):
    _, jpeg = next(iter(photos.values()))
    response = with_origins(APP)(event("POST", APP, b64(jpeg) if body == "photo" else body))
    assert response["statusCode"] == status
    assert cors_headers(response)["Access-Control-Allow-Origin"] == APP
    assert "retry-after" in cors_headers(response)["Access-Control-Expose-Headers"]


def test_another_origin_gets_no_allow_origin(with_origins):
    for method in ("OPTIONS", "POST"):
        response = with_origins(APP)(event(method, "https://evil.example", "QUJD"))
        assert "Access-Control-Allow-Origin" not in response["headers"]
        assert response["headers"]["Vary"] == "Origin"


def test_a_star_allows_any_origin(with_origins):
    response = with_origins("*")(event("OPTIONS", "https://anyone.example"))
    assert cors_headers(response)["Access-Control-Allow-Origin"] == "*"


def test_the_origins_come_from_the_lambda_environment(lambda_code):
    _, settings = lambda_code
    env = {"ENDPOINT_NAME": "e", "CLASS_NAMES": '["a"]', "CORS_ALLOWED_ORIGINS": json.dumps([APP])}
    assert settings.Settings.from_env(env).cors_allowed_origins == (APP,)
    assert settings.Settings.from_env({**env, "CORS_ALLOWED_ORIGINS": "[]"}).cors_allowed_origins == ()
    with pytest.raises(settings.SettingsError, match="CORS_ALLOWED_ORIGINS"):
        settings.Settings.from_env({**env, "CORS_ALLOWED_ORIGINS": '"https://a"'})


def test_get_is_the_try_it_page(predictor):
    response = predictor({**event("GET"), "resource": "/"})
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("text/html")
    assert 'id="photos"' in response["body"] and "x-api-key" in response["body"]
