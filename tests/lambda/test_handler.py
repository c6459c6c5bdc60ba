"""The handler called as the Lambda runtime calls it, against the real local endpoint (tiny artifact)."""
from __future__ import annotations

import base64
import json
import logging

import pytest

from tests.fixtures.api import jpeg_header


class Context:
    aws_request_id = "req-0123"

    def get_remaining_time_in_millis(self) -> int:
        return 25_000


def event(body, content_type="application/json", query=None):
    return {"body": body if isinstance(body, str) else json.dumps(body),
            "headers": {"content-type": content_type}, "queryStringParameters": query,
            "isBase64Encoded": False, "requestContext": {"requestId": "api-req-1", "stage": "beta"}}


@pytest.fixture
def lambda_env(monkeypatch, api_settings, lambda_code):
    """The environment Terraform gives the Lambda, pointing at the local endpoint."""
    handler, _ = lambda_code
    monkeypatch.setenv("ENDPOINT_NAME", api_settings.endpoint_name)
    monkeypatch.setenv("CLASS_NAMES", json.dumps(list(api_settings.class_names)))
    monkeypatch.setenv("MODEL_ID", api_settings.model_id)
    monkeypatch.setenv("MAX_IMAGES", "4")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", api_settings.endpoint_url)
    handler._predictor.cache_clear()
    yield handler
    handler._predictor.cache_clear()


def test_handler_reads_its_settings_from_the_lambda_environment(lambda_env, photos):
    _, jpeg = next(iter(photos.values()))
    ok = lambda_env.handler(event({"image": base64.b64encode(jpeg).decode()}), Context())
    assert ok["statusCode"] == 200, ok["body"]
    too_many = lambda_env.handler(event([base64.b64encode(jpeg).decode()] * 5), Context())
    assert too_many["statusCode"] == 400
    assert "at most 4" in json.loads(too_many["body"])["error"]["message"]


def test_misconfigured_lambda_is_a_500_without_details(lambda_env, monkeypatch, caplog):
    monkeypatch.setenv("CLASS_NAMES", "not json")
    response = lambda_env.handler(event("QUJD"), Context())
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"error": {"code": "internal_error",
                                                      "message": "the service is misconfigured"}}
    assert "CLASS_NAMES" in caplog.text


@pytest.mark.parametrize("body, status, outcome, images", [
    ("good", 200, "ok", 1), ("bad-image", 422, "invalid_image", 1), ("{", 400, "bad_request", 0)])
def test_one_structured_log_line_per_request(predictor, photos, caplog, body, status, outcome, images):
    _, jpeg = next(iter(photos.values()))
    encoded = base64.b64encode(jpeg if body == "good" else jpeg[:300]).decode()
    with caplog.at_level(logging.INFO, logger="dogs.api"):
        response = predictor(event({"image": encoded} if body != "{" else "{"), Context())
    assert response["statusCode"] == status
    lines = [r.getMessage() for r in caplog.records if r.name == "dogs.api"]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["request_id"] == "req-0123"
    assert (record["status"], record["outcome"], record["images"]) == (status, outcome, images)
    assert isinstance(record["latency_ms"], float) and record["latency_ms"] >= 0
    if body == "good":  # a call to the endpoint takes measurable time; a refused body may take < 0.05 ms
        assert record["latency_ms"] > 0
    assert encoded[:40] not in caplog.text


def test_a_handler_bug_is_a_500_with_the_request_id_and_no_traceback(predictor, caplog):
    response = predictor({"body": "QUJD", "headers": "not a dict"}, Context())  # a broken event
    assert response["statusCode"] == 500
    body = json.loads(response["body"])
    assert body["error"]["code"] == "internal_error" and "req-0123" in body["error"]["message"]
    assert "Traceback" not in response["body"]
    assert "Traceback" in caplog.text  # but the log keeps it


def test_batch_calls_the_endpoint_concurrently(predictor, photos, silent_endpoint, lambda_code):
    """Four images against a hung endpoint: four connections at once, one timeout's wait, then 504."""
    import dataclasses
    import time

    handler, _ = lambda_code
    slow = handler.Predictor(dataclasses.replace(predictor.settings, endpoint_url=silent_endpoint.url,
                                                 endpoint_timeout_seconds=1.5, endpoint_max_attempts=1))
    images = [base64.b64encode(jpeg).decode() for _, jpeg in photos.values()]
    started = time.monotonic()
    response = slow(event({"images": images}), Context())
    elapsed = time.monotonic() - started
    assert response["statusCode"] == 504
    assert len(silent_endpoint.connections) == len(images) == 4
    assert elapsed < 1.5 * 2.5  # serial calls would take 4 × 1.5 s


def test_the_deadline_answers_504_before_the_lambda_timeout(predictor, photos, silent_endpoint,
                                                             lambda_code):
    import dataclasses
    import time

    handler, _ = lambda_code

    class ShortContext(Context):
        def get_remaining_time_in_millis(self) -> int:
            return 2_000  # 1 s left once the handler's margin is taken

    slow = handler.Predictor(dataclasses.replace(predictor.settings, endpoint_url=silent_endpoint.url,
                                                 endpoint_timeout_seconds=20))
    _, jpeg = next(iter(photos.values()))
    started = time.monotonic()
    response = slow(event({"image": base64.b64encode(jpeg).decode()}), ShortContext())
    assert response["statusCode"] == 504
    assert time.monotonic() - started < 1.9

    class NoTimeLeft(Context):
        def get_remaining_time_in_millis(self) -> int:
            return 500  # less than the handler's margin: the deadline has passed
    calls = len(silent_endpoint.connections)
    response = slow(event({"image": base64.b64encode(jpeg).decode()}), NoTimeLeft())
    assert response["statusCode"] == 504 and "deadline" in json.loads(response["body"])["error"]["message"]
    assert len(silent_endpoint.connections) == calls  # no call at all


def test_importing_the_handler_stays_light():
    """Cold start: the standard library and botocore only, nothing a Lambda zip would have to carry."""
    import subprocess
    import sys

    from ops.core.config import PROJECT_ROOT

    code = ("import sys; from predict_lambda import handler; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'PIL', 'numpy', 'requests', "
            "'boto3', 's3transfer', 'flask', 'werkzeug', 'training', 'ops', 'yaml'}))")
    run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_no_credential_reaches_the_logs_even_at_debug(lambda_env, photos, monkeypatch, caplog):
    # Given the Lambda at LOG_LEVEL=DEBUG with a session token, as Lambda's role credentials have
    token, secret = "SECRET-SESSION-TOKEN-0123456789", "SECRET-ACCESS-KEY-0123456789"
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    caplog.set_level(logging.DEBUG)
    _, jpeg = next(iter(photos.values()))

    # When it signs and sends a request to the endpoint
    answer = lambda_env.handler(event({"image": base64.b64encode(jpeg).decode()}), Context())

    # Then the request went through, and neither the token nor the key is in any log record
    assert answer["statusCode"] == 200, answer["body"]
    assert caplog.records, "nothing was logged at DEBUG"
    leaked = [r.name for r in caplog.records if token in r.getMessage() or secret in r.getMessage()]
    assert leaked == []


def strict_json(text: str):
    """JSON as a strict parser reads it: NaN and Infinity are not JSON."""
    def refuse(name):
        raise ValueError(f"{name} in a response")
    return json.loads(text, parse_constant=refuse)


TINY = base64.b64encode(jpeg_header(64, 64)).decode()


@pytest.mark.parametrize("body, query, status, code", [
    ("[" * 50_000, None, 400, "bad_request"),
    ('{"images": ' + "[" * 50_000 + "]" * 50_000 + "}", None, 400, "bad_request"),
    (f'{{"image": "{TINY}", "top_k": 1e400}}', None, 400, "invalid_parameter"),
    (f'{{"image": "{TINY}", "top_k": Infinity}}', None, 400, "invalid_parameter"),
    (f'{{"image": "{TINY}", "top_k": NaN}}', None, 400, "invalid_parameter"),
    ({"image": TINY}, {"top_k": "1e400"}, 400, "invalid_parameter"),
    ({"image": TINY}, {"top_k": "Infinity"}, 400, "invalid_parameter"),
    ({"images": [TINY] * 20_000}, None, 400, "too_many_images"),
    ({"image": base64.b64encode(b"\xff\xd8" + b"\xff" * 1_000_000).decode()}, None, 422, "invalid_image"),
    ({"image": base64.b64encode(b"\xff\xd8" + b"\xff\xe0\x00\x02" * 100_000).decode()}, None, 422,
     "invalid_image"),
], ids=["deep-unclosed", "deep-closed", "top-k-1e400", "top-k-infinity", "top-k-nan", "query-1e400",
        "query-infinity", "many-images", "fill-bytes", "tiny-segments"])
def test_hostile_requests_are_client_errors_with_the_apis_error_body(predictor, body, query, status, code):
    response = predictor(event(body, query=query), Context())
    assert (response["statusCode"], strict_json(response["body"])["error"]["code"]) == (status, code)


def test_each_prediction_says_whether_it_is_one_of_the_breeds(predictor, photos, tiny_artifact):
    """Against the real local endpoint serving the tiny artifact (a known-breed score, a stored threshold)."""
    import tarfile

    with tarfile.open(tiny_artifact) as tar:
        threshold = json.load(tar.extractfile("model.json"))["known_breed"]["threshold"]
    images = [base64.b64encode(jpeg).decode() for _, jpeg in photos.values()]
    response = predictor(event({"images": images}), Context())
    assert response["statusCode"] == 200, response["body"]
    for prediction in json.loads(response["body"])["predictions"]:
        assert 0 <= prediction["known_breed_score"] <= 1 and prediction["top"]
        assert prediction["is_known_breed"] == (prediction["known_breed_score"] >= threshold)
