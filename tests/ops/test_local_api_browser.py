"""The local API's browser routes over HTTP, as API Gateway answers them: GET /<stage>/ (the try-it page),
OPTIONS /<stage>/predict (the CORS preflight, no key) and the gateway responses' CORS headers on the
gateway's own errors; a gateway without them (the default) sends no CORS header."""
from __future__ import annotations

import base64
import dataclasses
import secrets

import pytest
import requests

from ops.emulator import local_api as gateway
from tests.fixtures.api import ThreadServer

APP = "http://localhost:8080"
GATEWAY_CORS = {"Access-Control-Allow-Origin": f"'{APP}'", "Vary": "'Origin'"}


@pytest.fixture(scope="module")
def browser_api(lambda_code, api_settings):
    """(base URL of the stage, API key) of a local API with the page, the preflight and CORS for APP."""
    handler, _ = lambda_code
    predictor = handler.Predictor(dataclasses.replace(api_settings, cors_allowed_origins=(APP,)))
    key = secrets.token_urlsafe(16)
    gw = gateway.Gateway(api_key=key, routes=(gateway.PREDICT_ROUTE, gateway.PAGE_ROUTE,
                                              gateway.PREFLIGHT_ROUTE),
                         gateway_responses={"DEFAULT_4XX": GATEWAY_CORS, "DEFAULT_5XX": GATEWAY_CORS})
    server = ThreadServer(gateway.create_app(predictor, gw))
    yield server.url, key
    server.close()


def preflight(url):
    return requests.options(url, timeout=30, headers={
        "Origin": APP, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-api-key"})


def test_the_preflight_needs_no_key(browser_api):
    base, _ = browser_api
    response = preflight(f"{base}/beta/predict")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert "x-api-key" in response.headers["Access-Control-Allow-Headers"]


def test_an_allowed_origin_reads_the_answer(browser_api, photos):
    base, key = browser_api
    _, jpeg = next(iter(photos.values()))
    response = requests.post(f"{base}/beta/predict", json=base64.b64encode(jpeg).decode(), timeout=120,
                             headers={"x-api-key": key, "Origin": APP})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP


@pytest.mark.parametrize("path, key, status", [("/beta/predict", "wrong", 403),
                                               ("/beta/nothing", "", 403)],
                         ids=["bad-key", "no-such-route"])
def test_the_gateways_own_errors_carry_its_gateway_responses(browser_api, path, key, status):
    base, _ = browser_api
    response = requests.post(base + path, json="QUJD", timeout=30, headers={"x-api-key": key,
                                                                             "Origin": APP})
    assert response.status_code == status
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert response.headers["Vary"] == "Origin"


def test_an_echoing_gateway_response_echoes_the_origin(local_api):
    gw = gateway.Gateway(api_key="k", gateway_responses={"DEFAULT_4XX": {
        "Access-Control-Allow-Origin": "method.request.header.Origin"}})
    server = ThreadServer(gateway.create_app(lambda e, c: {}, gw))
    try:
        response = requests.post(f"{server.url}/beta/predict", timeout=30, headers={"Origin": APP})
        assert response.status_code == 403 and response.headers["Access-Control-Allow-Origin"] == APP
        plain = requests.post(f"{server.url}/beta/predict", timeout=30)
        assert "Access-Control-Allow-Origin" not in plain.headers
    finally:
        server.close()


def test_the_page_is_at_the_stage_root_and_the_root_leads_there(browser_api):
    base, _ = browser_api
    page = requests.get(f"{base}/beta/", timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<title>Dog breeds" in page.text
    root = requests.get(base, timeout=30, allow_redirects=False)
    assert root.status_code == 302 and root.headers["Location"] == "/beta/"


def test_by_default_there_is_no_preflight_and_no_cors_header(local_api):
    url, key = local_api
    response = preflight(url)
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}
    denied = requests.post(url, json="QUJD", timeout=30, headers={"x-api-key": "no", "Origin": APP})
    answered = requests.post(url, json="QUJD", timeout=30, headers={"x-api-key": key, "Origin": APP})
    for response in (response, denied, answered):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]
