"""The handler's SageMaker runtime client (botocore's) against a scripted HTTP server: what it sends (signed
InvokeEndpoint requests), what it retries, and how each answer becomes an API error."""
from __future__ import annotations

import base64
import json
import socket
import threading

import pytest

from tests.fixtures.api import ThreadServer, jpeg_header


class ScriptedRuntime:
    """Answers each POST with the next scripted (status, headers, body); records the requests."""

    def __init__(self, answers: list[tuple[int, dict[str, str], bytes]]):
        self.answers = list(answers)
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with self.lock:
            self.requests.append({"path": environ["PATH_INFO"], "body": body,
                                  "headers": {k[5:].replace("_", "-").lower(): v
                                              for k, v in environ.items() if k.startswith("HTTP_")},
                                  "content_type": environ.get("CONTENT_TYPE"),
                                  "connection": environ.get("REMOTE_PORT")})
            status, headers, answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        start_response(f"{status} X", [("Content-Length", str(len(answer))), *headers.items()])
        return [answer]


def runtime_error(code: str, status: int, **fields) -> tuple[int, dict[str, str], bytes]:
    return status, {"x-amzn-ErrorType": f"{code}:", "Content-Type": "application/json"}, \
        json.dumps({"message": f"{code} here", **fields}).encode()


OK = (200, {"Content-Type": "application/json"}, json.dumps([0.25, 0.75]).encode())


@pytest.fixture
def modules(lambda_code, fake_aws_credentials):
    handler, settings = lambda_code
    return handler.endpoint, settings


def serve(modules, answers, **settings_fields):
    endpoint, settings = modules
    runtime = ScriptedRuntime(answers)
    server = ThreadServer(runtime)
    config = settings.Settings(endpoint_name="dogs-live", class_names=("a", "b"),
                               endpoint_url=server.url, **settings_fields)
    return endpoint, config, endpoint.make_client(config), runtime, server


def test_a_signed_invoke_endpoint_request_reaches_the_runtime(modules):
    endpoint, config, client, runtime, server = serve(modules, [OK])
    try:
        assert endpoint.probabilities(client, config, b"\xff\xd8jpeg", 0) == [0.25, 0.75]
    finally:
        server.close()
    [sent] = runtime.requests
    assert sent["path"] == "/endpoints/dogs-live/invocations"
    assert sent["body"] == b"\xff\xd8jpeg" and sent["content_type"] == "application/x-image"
    assert sent["headers"]["accept"] == "application/json; verbose=true"  # asks for the known-breed fields
    auth = sent["headers"]["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=") and "/us-east-1/sagemaker/aws4_request" in auth
    assert "host;" in auth and "x-amz-date" in auth and "Signature=" in auth
    assert sent["headers"]["x-amz-date"].endswith("Z")


def test_a_verbose_answer_carries_the_known_breed_verdict(modules):
    verbose = (200, {"Content-Type": "application/json"}, json.dumps(
        {"probabilities": [0.25, 0.75], "known_breed_score": 0.125, "is_known_breed": False}).encode())
    endpoint, config, client, _, server = serve(modules, [verbose])
    try:
        answer = endpoint.answer(client, config, b"img", 0)
    finally:
        server.close()
    assert answer == endpoint.ModelAnswer([0.25, 0.75], 0.125, False)


@pytest.mark.parametrize("fields", [{"known_breed_score": 1.5, "is_known_breed": True},
                                    {"known_breed_score": "high", "is_known_breed": True},
                                    {"known_breed_score": 0.5, "is_known_breed": "yes"},
                                    {"known_breed_score": 0.5}],
                         ids=["score-above-1", "score-text", "verdict-text", "verdict-missing"])
def test_a_malformed_known_breed_verdict_is_the_models_failure(modules, fields):
    body = json.dumps({"probabilities": [0.25, 0.75], **fields}).encode()
    endpoint, config, client, _, server = serve(modules, [(200, {}, body)])
    try:
        with pytest.raises(Exception) as caught:
            endpoint.answer(client, config, b"img", 0)
    finally:
        server.close()
    assert caught.value.status == 502 and "known-breed" in caught.value.message


def test_throttling_is_retried_then_succeeds(modules):
    endpoint, config, client, runtime, server = serve(
        modules, [runtime_error("ThrottlingException", 400), OK], endpoint_max_attempts=2)
    try:
        assert endpoint.probabilities(client, config, b"img", 0) == [0.25, 0.75]
    finally:
        server.close()
    assert len(runtime.requests) == 2


def test_throttling_on_every_attempt_is_503_with_retry_after(modules):
    endpoint, config, client, runtime, server = serve(
        modules, [runtime_error("ThrottlingException", 400)], endpoint_max_attempts=3)
    try:
        with pytest.raises(endpoint.EndpointThrottled) as caught:
            endpoint.probabilities(client, config, b"img", 0)
    finally:
        server.close()
    assert len(runtime.requests) == 3
    assert caught.value.status == 503 and caught.value.headers["Retry-After"]


@pytest.mark.parametrize("original,error", [(400, "InvalidImage"), (415, "UnsupportedMediaType"),
                                            (500, "ModelFailed")])
def test_a_model_error_is_not_retried_and_keeps_the_containers_status(modules, original, error):
    endpoint, config, client, runtime, server = serve(
        modules, [runtime_error("ModelError", 424, OriginalStatusCode=original,
                                OriginalMessage="cannot identify image file")], endpoint_max_attempts=3)
    try:
        with pytest.raises(getattr(endpoint, error)) as caught:
            endpoint.probabilities(client, config, b"img", 4)
    finally:
        server.close()
    assert len(runtime.requests) == 1
    assert "image 4" in caught.value.message


@pytest.mark.parametrize("status,error,answered", [(422, "InvalidImage", 422), (500, "ModelFailed", 502),
                                                   (503, "ModelFailed", 502)])
def test_the_local_endpoints_model_error_keeps_its_class_at_the_handler(modules, status, error, answered):
    """A 5xx from the model stays a 5xx to the client (and a 4xx a 4xx), as the local endpoint words it."""
    from ops.core.artifact import InferenceFailed
    from ops.emulator.local_endpoint import create_app

    def failing(body, content_type, accept):
        raise InferenceFailed(status, b'{"error": {"code": "x", "message": "no"}}', "application/json")

    endpoint, settings = modules
    server = ThreadServer(create_app(failing, "dogs-live"))
    config = settings.Settings(endpoint_name="dogs-live", class_names=("a", "b"),
                               endpoint_url=server.url, endpoint_max_attempts=1)
    try:
        with pytest.raises(getattr(endpoint, error)) as caught:
            endpoint.probabilities(endpoint.make_client(config), config, b"img", 2)
    finally:
        server.close()
    assert caught.value.status == answered and "image 2" in caught.value.message


def test_a_transient_server_error_is_retried_and_then_unavailable(modules):
    endpoint, config, client, runtime, server = serve(
        modules, [(503, {}, b"<html>busy</html>")], endpoint_max_attempts=2)
    try:
        with pytest.raises(endpoint.EndpointUnavailable):
            endpoint.probabilities(client, config, b"img", 0)
    finally:
        server.close()
    assert len(runtime.requests) == 2


def test_the_runtime_url_comes_from_the_standard_settings(modules, monkeypatch):
    endpoint, settings = modules
    config = settings.Settings(endpoint_name="e", class_names=("a",))
    monkeypatch.delenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert endpoint.make_client(config).meta.endpoint_url == "https://runtime.sagemaker.eu-west-1.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    assert endpoint.make_client(config).meta.endpoint_url == "http://127.0.0.1:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:2")
    assert endpoint.make_client(config).meta.endpoint_url == "http://127.0.0.1:2"


def test_the_client_has_the_lambdas_timeouts_retries_and_pool(modules):
    endpoint, settings = modules
    config = settings.Settings(endpoint_name="e", class_names=("a",), endpoint_timeout_seconds=12,
                               connect_timeout_seconds=1.5, endpoint_max_attempts=3, concurrency=16)
    client_config = endpoint.make_client(config).meta.config
    assert (client_config.read_timeout, client_config.connect_timeout) == (12, 1.5)
    assert client_config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert client_config.max_pool_connections == 16 and client_config.tcp_keepalive


def test_calls_reuse_one_keep_alive_connection(modules):
    endpoint, config, client, runtime, server = serve(modules, [OK])
    try:
        for _ in range(3):
            assert endpoint.probabilities(client, config, b"img", 0) == [0.25, 0.75]
    finally:
        server.close()
    assert len({r["connection"] for r in runtime.requests}) == 1


class ClosingRuntime:
    """A raw HTTP server that reads one request per connection, then answers it and closes the
    connection without saying so (as a server does when an idle keep-alive connection times out), or,
    with `answer=False`, closes it without answering (a server that fails mid-request)."""

    def __init__(self, answer: bool = True):
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests = 0
        self.closed = threading.Semaphore(0)  # released after each connection is closed
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1
                if self.answer:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: " + str(len(OK[2])).encode() + b"\r\n\r\n" + OK[2])
            self.closed.release()

    def close(self):
        self.sock.close()


def test_a_connection_the_server_closed_while_idle_is_not_reused(modules):
    endpoint, settings = modules
    runtime = ClosingRuntime()
    config = settings.Settings(endpoint_name="e", class_names=("a", "b"), endpoint_url=runtime.url,
                               endpoint_max_attempts=1)  # no second attempt to hide a failed first
    client = endpoint.make_client(config)
    try:
        for _ in range(3):
            assert endpoint.probabilities(client, config, b"img", 0) == [0.25, 0.75]
            assert runtime.closed.acquire(timeout=5)  # the server has closed it: idle and dead
    finally:
        runtime.close()
    assert runtime.requests == 3


@pytest.mark.parametrize("attempts", [1, 2])
def test_a_request_the_server_dropped_is_sent_once_per_attempt(modules, attempts):
    endpoint, settings = modules
    runtime = ClosingRuntime(answer=False)
    config = settings.Settings(endpoint_name="e", class_names=("a", "b"), endpoint_url=runtime.url,
                               endpoint_max_attempts=attempts)
    try:
        with pytest.raises(endpoint.EndpointUnavailable):
            endpoint.probabilities(endpoint.make_client(config), config, b"img", 0)
    finally:
        runtime.close()
    assert runtime.requests == attempts


def test_a_bad_ca_bundle_is_an_unreachable_endpoint_not_a_crash(modules, tmp_path, monkeypatch):
    endpoint, settings = modules
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, then fails the TLS handshake
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "none.pem"))
    config = settings.Settings(endpoint_name="e", class_names=("a", "b"), endpoint_max_attempts=1,
                               endpoint_url=f"https://127.0.0.1:{listener.getsockname()[1]}")
    try:
        with pytest.raises(endpoint.EndpointUnavailable, match="cannot be reached"):
            endpoint.probabilities(endpoint.make_client(config), config, b"img", 0)
    finally:
        listener.close()


def test_an_endpoint_that_refuses_connections_is_unavailable(modules):
    from ops.emulator.processes import free_port

    endpoint, settings = modules
    config = settings.Settings(endpoint_name="e", class_names=("a", "b"),
                               endpoint_url=f"http://127.0.0.1:{free_port()}", endpoint_max_attempts=2)
    with pytest.raises(endpoint.EndpointUnavailable, match="cannot be reached") as caught:
        endpoint.probabilities(endpoint.make_client(config), config, b"img", 0)
    assert caught.value.status == 503 and caught.value.headers["Retry-After"] == "5"


@pytest.mark.parametrize("original", [None, 99, 600], ids=["null", "below-100", "above-599"])
def test_a_model_error_with_an_odd_status_is_the_models_failure(modules, original):
    endpoint, config, client, runtime, server = serve(
        modules, [runtime_error("ModelError", 424, OriginalStatusCode=original,
                                OriginalMessage="boom")], endpoint_max_attempts=1)
    try:
        with pytest.raises(endpoint.ModelFailed):
            endpoint.probabilities(client, config, b"img", 0)
    finally:
        server.close()


@pytest.mark.parametrize("answer", [b"[NaN, 0.5]", b"[Infinity, 0.5]", b"[1e400, 0.5]"],
                         ids=["NaN", "Infinity", "1e400"])
def test_non_finite_probabilities_are_the_models_failure(modules, answer):
    endpoint, config, client, runtime, server = serve(
        modules, [(200, {"Content-Type": "application/json"}, answer)], endpoint_max_attempts=1)
    try:
        with pytest.raises(endpoint.ModelFailed, match="finite|probabilit"):
            endpoint.probabilities(client, config, b"img", 0)
    finally:
        server.close()


def test_a_nan_from_the_endpoint_is_a_502_in_strict_json(lambda_code, modules):
    # Given a Lambda whose endpoint answers a probability list with NaN in it
    handler, _ = lambda_code
    endpoint, config, client, runtime, server = serve(
        modules, [(200, {"Content-Type": "application/json"}, b"[NaN, 0.5]")], endpoint_max_attempts=1)
    event = {"body": json.dumps({"image": base64.b64encode(jpeg_header(8, 8)).decode(), "raw": True}),
             "headers": {"content-type": "application/json"}, "isBase64Encoded": False}
    try:
        response = handler.Predictor(config)(event)
    finally:
        server.close()

    # Then the answer is the model's failure, in JSON a strict parser reads
    assert response["statusCode"] == 502
    error = json.loads(response["body"], parse_constant=lambda name: pytest.fail(f"{name} in the body"))
    assert error["error"]["code"] == "model_error" and "finite" in error["error"]["message"]
