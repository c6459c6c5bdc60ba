"""One SageMaker runtime client per Lambda container, and the mapping of its errors to API errors.

`InvokeEndpoint` is the only call this Lambda makes, so the client is lean: the request is signed with
botocore's own SigV4 signer and credential chain (botocore ships in every Lambda Python runtime) and sent
over the standard library's `http.client`, on keep-alive connections this module keeps. Measured on a
2-core machine against the local endpoint (`benchmarks/runtime_client_bench.py`, three runs, the median
excess over a bare POST of the same round): this client +0.42 / +0.48 / +0.42 ms, the same signed request
over urllib3's pool (which this client used before) +0.91 / +0.90 / +0.81 ms, botocore's generic client
+1.80 / +1.54 / +1.65 ms (request serialisation, event hooks, response parsing); a whole prediction's
overhead is 4-5 ms. What those libraries would do for this one operation is done here: the endpoint URL
(`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` / `AWS_ENDPOINT_URL` honoured, as botocore does; `AWS_CA_BUNDLE` for
TLS), connect and read timeouts, keep-alive connections reused (checked for a close by the server before
reuse), retries of throttling and transient failures with jittered exponential backoff (as botocore's
"standard" mode retries them), and the runtime's error shapes.

The client is created on first use and reused (its connections serve the concurrent calls of a batch),
and botocore is imported then, not at module level: `import handler` stays cheap. Timeouts stay below
the Lambda timeout, which stays below API Gateway's 29 s.
"""
from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from .api_errors import (ApiError, EndpointThrottled, EndpointTimeout, EndpointUnavailable, InvalidImage,
                        ModelFailed, PayloadTooLarge, UnsupportedMediaType)
from .settings import Settings

if TYPE_CHECKING:
    import http.client

# The built-in algorithm's content type, which the original used; our inference.py accepts it too.
CONTENT_TYPE = "application/x-image"
SIGNING_NAME = "sagemaker"  # the runtime signs as "sagemaker" (botocore's service model)
_THROTTLED = {"ThrottlingException", "Throttling", "TooManyRequestsException", "ModelNotReadyException"}
_UNAVAILABLE = {"ServiceUnavailable", "ValidationError", "InternalFailure", "InternalDependencyException"}
_TRANSIENT_STATUS = {500, 502, 503, 504}
MAX_BACKOFF_S = 2.0


@dataclass
class RuntimeError_(Exception):
    """An error answer of the runtime API: its code, HTTP status and body fields."""
    code: str
    status: int
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return str(self.fields.get("message") or self.fields.get("Message") or "")


class DeadlineExceeded(Exception):
    """The request's deadline passed before the endpoint answered."""


class ConnectFailed(Exception):
    """No connection to the endpoint: refused, unreachable, TLS failed or the connect timed out."""


class ConnectionLost(Exception):
    """The connection broke before a whole answer came back."""


class ReadTimeout(Exception):
    """The endpoint did not answer within the read timeout."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Any  # http.client's message: case-insensitive get()
    data: bytes


class Connections:
    """Keep-alive HTTP(S) connections to one endpoint host, reused last in, first out. A connection the
    server has closed while it sat idle (readable: its end of file) is dropped before reuse, as urllib3
    does; a request is never sent twice here (the caller's attempts decide that)."""

    def __init__(self, base_url: str, keep: int, ca_bundle: str | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"endpoint URL {base_url!r} is not http(s)://host[:port]")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)  # given, so an IPv6 host is not parsed
        self.path_prefix = parts.path.rstrip("/")
        self.keep = keep
        self._context = None
        self._ca_bundle = ca_bundle
        self._idle: list = []  # http.client connections (imported with the first one: a cheap cold start)
        self._lock = threading.Lock()

    def request(self, path: str, body: bytes, headers: dict[str, str], connect_timeout: float,
                read_timeout: float) -> Answer:
        """One POST on an idle connection that is still open, or on a new one."""
        return self._exchange(self._take() or self._connect(connect_timeout), path, body, headers,
                              read_timeout)

    def _take(self):
        while True:
            with self._lock:
                if not self._idle:
                    return None
                conn = self._idle.pop()
            if not _dropped(conn.sock):
                return conn
            conn.close()

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        import http.client
        import socket

        try:
            if self.https:
                if self._context is None:
                    import ssl

                    self._context = ssl.create_default_context(cafile=self._ca_bundle)
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                                   context=self._context)
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            conn.connect()  # http.client sets TCP_NODELAY: the body follows the headers at once
        except OSError as exc:  # refused, unreachable, timed out, TLS, a bad AWS_CA_BUNDLE
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from None
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return conn

    def _exchange(self, conn: http.client.HTTPConnection, path: str, body: bytes,
                  headers: dict[str, str], read_timeout: float) -> Answer:
        import http.client

        try:
            conn.sock.settimeout(read_timeout)
            conn.request("POST", self.path_prefix + path, body=body, headers=headers)
            response = conn.getresponse()
            answer = Answer(response.status, response.headers, response.read())
        except TimeoutError:
            conn.close()
            raise ReadTimeout() from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ConnectionLost(f"{type(exc).__name__}: {exc}") from None
        if response.will_close:
            conn.close()
        else:
            with self._lock:
                if len(self._idle) < self.keep:
                    self._idle.append(conn)
                    conn = None
            if conn is not None:
                conn.close()
        return answer


def _dropped(sock) -> bool:
    """Whether an idle connection's socket is closed or has something to read (its end of file, or
    bytes no request asked for): either way it cannot carry the next request."""
    import select

    if sock is None:
        return True
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class RuntimeClient:
    """`invoke(endpoint_name, body, content_type, accept) -> bytes` against the SageMaker runtime."""

    def __init__(self, settings: Settings):
        import botocore.session

        session = botocore.session.get_session()
        self.region = (session.get_config_variable("region") or os.environ.get("AWS_REGION")
                       or "us-east-1")
        self.credentials = session.get_credentials()
        self.base_url = (settings.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME")
                         or os.environ.get("AWS_ENDPOINT_URL")
                         or f"https://runtime.sagemaker.{self.region}.amazonaws.com"
                         + (".cn" if self.region.startswith("cn-") else "")).rstrip("/")
        self.max_attempts = max(1, settings.endpoint_max_attempts)
        self.connect_timeout = settings.connect_timeout_seconds
        self.read_timeout = settings.endpoint_timeout_seconds
        self.connections = Connections(self.base_url, keep=max(settings.concurrency, 10),
                                       ca_bundle=os.environ.get("AWS_CA_BUNDLE"))

    def invoke(self, endpoint_name: str, body: bytes, content_type: str, accept: str,
               deadline: float | None = None) -> bytes:
        """The response body; RuntimeError_ for an error answer, ConnectFailed / ConnectionLost when
        the transport fails on every attempt, ReadTimeout, DeadlineExceeded when `deadline`
        (time.monotonic()) passes first. A read timeout is not retried: the endpoint may still be
        working on the image, and the deadline is near."""
        path = f"/endpoints/{quote(endpoint_name, safe='')}/invocations"
        url = self.base_url + path
        for attempt in range(1, self.max_attempts + 1):
            connect_timeout, read_timeout = self._timeouts(deadline)
            try:
                answer = self.connections.request(
                    path, body, self._signed(url, body, {"Content-Type": content_type, "Accept": accept}),
                    connect_timeout, read_timeout)
            except (ConnectFailed, ConnectionLost):
                if attempt == self.max_attempts:
                    raise
            else:
                if answer.status == 200:
                    return answer.data
                error = _runtime_error(answer)
                if attempt == self.max_attempts or not (error.code in _THROTTLED
                                                        or error.status in _TRANSIENT_STATUS):
                    raise error
            pause = random.random() * min(MAX_BACKOFF_S, 0.1 * 2 ** attempt)  # full jitter
            if deadline is not None and time.monotonic() + pause >= deadline:
                raise DeadlineExceeded()
            time.sleep(pause)
        raise AssertionError("unreachable")

    def _timeouts(self, deadline: float | None) -> tuple[float, float]:
        """(connect, read) timeouts, cut short to what is left before `deadline`."""
        if deadline is None:
            return self.connect_timeout, self.read_timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded()
        return min(self.connect_timeout, left), min(self.read_timeout, left)

    def _signed(self, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(self.credentials.get_frozen_credentials(), SIGNING_NAME, self.region).add_auth(request)
        return dict(request.headers.items())


def _runtime_error(response: Answer) -> RuntimeError_:
    """The error of a runtime answer: code from `x-amzn-ErrorType` (or the body), fields from the body."""
    try:
        fields = json.loads(response.data or b"{}")
        fields = fields if isinstance(fields, dict) else {}
    except ValueError:
        fields = {"message": response.data.decode("utf-8", "replace")[:500]}
    code = (response.headers.get("x-amzn-ErrorType") or fields.get("__type") or fields.get("code")
            or "").split(":")[0].split("#")[-1]
    return RuntimeError_(code or f"HTTP{response.status}", response.status, fields)


def make_client(settings: Settings) -> RuntimeClient:
    return RuntimeClient(settings)


@dataclass(frozen=True)
class ModelAnswer:
    """The endpoint's answer for one image: class probabilities, and the known-breed verdict if any."""
    probabilities: list[float]
    known_breed_score: float | None = None
    is_known_breed: bool | None = None


def probabilities(client: RuntimeClient, settings: Settings, image: bytes, index: int,
                  deadline: float | None = None) -> list[float]:
    """The endpoint's probability list for one image, or the ApiError that says why not."""
    return answer(client, settings, image, index, deadline).probabilities


def answer(client: RuntimeClient, settings: Settings, image: bytes, index: int,
           deadline: float | None = None) -> ModelAnswer:
    """The endpoint's answer for one image, or the ApiError that says why not."""
    try:
        body = client.invoke(settings.endpoint_name, image, CONTENT_TYPE, settings.endpoint_accept, deadline)
    except RuntimeError_ as exc:
        raise _from_runtime_error(exc, index) from None
    except (DeadlineExceeded, ReadTimeout):
        if deadline is not None and time.monotonic() >= deadline - 0.05:
            raise EndpointTimeout("the model endpoint did not answer before the request's "
                                  "deadline") from None
        raise EndpointTimeout(f"the model endpoint did not answer within "
                              f"{settings.endpoint_timeout_seconds:g} s") from None
    except (ConnectFailed, ConnectionLost):
        raise EndpointUnavailable("the model endpoint cannot be reached; try again shortly",
                                  retry_after=5) from None
    return _parse_answer(body, len(settings.class_names))


def _from_runtime_error(exc: RuntimeError_, index: int) -> ApiError:
    if exc.code == "ModelError":
        status = _status_code(exc.fields.get("OriginalStatusCode"))
        detail = _model_message(exc.fields.get("OriginalMessage") or exc.message)
        if status == 415:
            return UnsupportedMediaType(f"image {index}: the model does not accept it ({detail})")
        if status == 413:
            return PayloadTooLarge(f"image {index}: too large for the model ({_short(detail)})")
        if 400 <= status < 500:
            return InvalidImage(f"image {index}: not a decodable image ({_short(detail)})")
        return ModelFailed(f"image {index}: the model failed (status {status or 'unknown'})")
    if exc.code in _THROTTLED or exc.status == 429:
        return EndpointThrottled("the model endpoint is busy; retry after the Retry-After delay",
                                 retry_after=2)
    if exc.code in _UNAVAILABLE or exc.status in _TRANSIENT_STATUS:
        return EndpointUnavailable("the model endpoint is unavailable; try again shortly",
                                   retry_after=5)
    return ModelFailed(f"the model endpoint answered {exc.code or 'an error'}")


def _status_code(value: Any) -> int:
    """The container's HTTP status from a ModelError, 0 when it is not one."""
    try:
        status = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return status if 100 <= status <= 599 else 0


def _model_message(original: str) -> str:
    """The message of the container's JSON error body (`{"error": {"message"}}`), else its first line
    (SageMaker's toolkit follows its own messages with a traceback, which is not the client's)."""
    try:
        return str(json.loads(original)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        lines = str(original).strip().splitlines()
        return lines[0] if lines else ""


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _parse_answer(body: bytes, num_classes: int) -> ModelAnswer:
    """The probability array (the built-in contract), or the verbose object around it."""
    try:
        values: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise ModelFailed("the model endpoint answered something other than a probability list") from None
    if not isinstance(values, dict):
        return ModelAnswer(_parse_probabilities(values, num_classes))
    probs = _parse_probabilities(values.get("probabilities"), num_classes)
    score, known = values.get("known_breed_score"), values.get("is_known_breed")
    if score is None and known is None:
        return ModelAnswer(probs)
    if (isinstance(score, bool) or not isinstance(score, (int, float)) or not isinstance(known, bool)
            or not 0.0 <= float(score) <= 1.0):
        raise ModelFailed("the model endpoint answered a known-breed score that is not a number in "
                          "[0, 1] with a boolean verdict")
    return ModelAnswer(probs, float(score), known)


def _parse_probabilities(values: Any, num_classes: int) -> list[float]:
    try:
        if values and isinstance(values[0], list):  # a batch of one
            values = values[0]
        probs = [float(v) for v in values]
    except (ValueError, TypeError, IndexError, KeyError, RecursionError):
        raise ModelFailed("the model endpoint answered something other than a probability list") from None
    if not all(math.isfinite(p) for p in probs):
        raise ModelFailed("the model endpoint answered probabilities that are not finite numbers")
    if len(probs) != num_classes:
        raise ModelFailed(f"the model answered {len(probs)} probabilities for {num_classes} classes; "
                          "the deployed model and CLASS_NAMES disagree")
    return probs
