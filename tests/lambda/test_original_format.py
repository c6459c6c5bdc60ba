"""`?format=original`: the original project's answer, as ../shared/seed/README.md describes it — the Lambda
returns `{"statusCode": 200, "body": [[p0..pN-1], ...]}`, one list of every class probability per image,
in class-id order, no labels."""
from __future__ import annotations

import base64
import json
import math

import pytest


def event(body, query):
    return {"body": json.dumps(body), "headers": {"content-type": "application/json"},
            "queryStringParameters": query, "isBase64Encoded": False,
            "requestContext": {"requestId": "req-original"}}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("form", ["bare-string", "list"])
def test_the_originals_request_gets_the_originals_answer(predictor, photos, api_settings, loaded_tiny,
                                                         form):
    jpegs = [jpeg for _, jpeg in photos.values()][:2]
    body = b64(jpegs[0]) if form == "bare-string" else [b64(j) for j in jpegs]
    response = predictor(event(body, {"format": "original"}))
    assert response["statusCode"] == 200, response["body"]
    answer = json.loads(response["body"])
    assert isinstance(answer, list) and len(answer) == (1 if form == "bare-string" else 2)
    for jpeg, probs in zip(jpegs, answer):
        assert len(probs) == len(api_settings.class_names)
        assert math.isclose(sum(probs), 1.0, abs_tol=1e-4)
        expected = json.loads(loaded_tiny.invoke(jpeg, "application/x-image", "application/json"))
        assert probs == pytest.approx(expected, abs=1e-6)  # the endpoint's class-id order


def test_the_labelled_answer_ranks_the_same_probabilities(predictor, photos):
    _, jpeg = next(iter(photos.values()))
    original = json.loads(predictor(event(b64(jpeg), {"format": "original"}))["body"])[0]
    labelled = json.loads(predictor(event(b64(jpeg), {"format": "labelled"}))["body"])
    top = labelled["predictions"][0]["top"][0]
    assert top["class_id"] == max(range(len(original)), key=original.__getitem__)
    assert top["probability"] == pytest.approx(original[top["class_id"]], abs=1e-6)


def test_errors_keep_the_error_body(predictor):
    response = predictor(event("QUJD", {"format": "original"}))
    assert response["statusCode"] == 422
    assert set(json.loads(response["body"])["error"]) == {"code", "message"}


def test_an_unknown_format_is_named(predictor, photos):
    _, jpeg = next(iter(photos.values()))
    response = predictor(event(b64(jpeg), {"format": "v1"}))
    assert response["statusCode"] == 400
    error = json.loads(response["body"])["error"]
    assert error["code"] == "invalid_parameter" and "labelled, original" in error["message"]
