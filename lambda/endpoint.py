"""One SageMaker runtime client per Lambda container, and the mapping of its errors to API errors.

`InvokeEndpoint` is the only call this Lambda makes, so the client is lean: the request is signed with
botocore's own SigV4 signer and credential chain and sent over urllib3's pool of keep-alive connections
(both ship with botocore in every Lambda Python runtime). botocore's generic client spent about 1.1 ms
more per call on request serialisation, event hooks and response parsing on a 2-core machine (2.4 ms
against 1.3 ms over a bare POST to the local endpoint), a twentieth of a whole prediction; what it would
do for this one operation is done here: the endpoint URL (`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` /
`AWS_ENDPOINT_URL` honoured, as botocore does), timeouts, retries of throttling and transient failures
with jittered exponential backoff (as botocore's "standard" mode retries them), and the runtime's error
shapes.

The client is created on first use and reused (its pool serves the concurrent calls of a batch), and
botocore/urllib3 are imported then, not at module level: `import handler` stays cheap. Timeouts stay
below the Lambda timeout, which stays below API Gateway's 29 s.
"""
from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from api_errors import (ApiError, EndpointThrottled, EndpointTimeout, EndpointUnavailable, InvalidImage,
                        ModelFailed, UnsupportedMediaType)
from settings import Settings

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


class RuntimeClient:
    """`invoke(endpoint_name, body, content_type, accept) -> bytes` against the SageMaker runtime."""

    def __init__(self, settings: Settings):
        import botocore.session
        import urllib3

        session = botocore.session.get_session()
        self.region = (session.get_config_variable("region") or os.environ.get("AWS_REGION")
                       or "us-east-1")
        self.credentials = session.get_credentials()
        self.base_url = (settings.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME")
                         or os.environ.get("AWS_ENDPOINT_URL")
                         or f"https://runtime.sagemaker.{self.region}.amazonaws.com"
                         + (".cn" if self.region.startswith("cn-") else "")).rstrip("/")
        self.max_attempts = max(1, settings.endpoint_max_attempts)
        self.timeout = urllib3.Timeout(connect=settings.connect_timeout_seconds,
                                       read=settings.endpoint_timeout_seconds)
        self.http = urllib3.PoolManager(
            maxsize=max(settings.concurrency, 10), retries=False, ca_certs=os.environ.get("AWS_CA_BUNDLE"),
            timeout=self.timeout,
            socket_options=urllib3.connection.HTTPConnection.default_socket_options + _keepalive())

    def invoke(self, endpoint_name: str, body: bytes, content_type: str, accept: str,
               deadline: float | None = None) -> bytes:
        """The response body; RuntimeError_ for an error answer, urllib3's errors for the transport,
        DeadlineExceeded when `deadline` (time.monotonic()) passes first. A read timeout is not
        retried: the endpoint may still be working on the image, and the deadline is near."""
        import urllib3

        url = f"{self.base_url}/endpoints/{quote(endpoint_name, safe='')}/invocations"
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.http.request("POST", url, body=body, timeout=self._timeout(deadline),
                                             headers=self._signed(url, body, {"Content-Type": content_type,
                                                                              "Accept": accept}))
            except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.NewConnectionError,
                    urllib3.exceptions.ProtocolError):
                if attempt == self.max_attempts:
                    raise
            else:
                if response.status == 200:
                    return response.data
                error = _runtime_error(response)
                if attempt == self.max_attempts or not (error.code in _THROTTLED
                                                        or error.status in _TRANSIENT_STATUS):
                    raise error
            pause = random.random() * min(MAX_BACKOFF_S, 0.1 * 2 ** attempt)  # full jitter
            if deadline is not None and time.monotonic() + pause >= deadline:
                raise DeadlineExceeded()
            time.sleep(pause)
        raise AssertionError("unreachable")

    def _timeout(self, deadline: float | None):
        """The configured timeouts, cut short to what is left before `deadline`."""
        import urllib3

        if deadline is None:
            return self.timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded()
        return urllib3.Timeout(connect=min(self.timeout.connect_timeout, left),
                               read=min(self.timeout.read_timeout, left))

    def _signed(self, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(self.credentials.get_frozen_credentials(), SIGNING_NAME, self.region).add_auth(request)
        return dict(request.headers.items())


def _keepalive() -> list[tuple[int, int, int]]:
    import socket

    return [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]


def _runtime_error(response) -> RuntimeError_:
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


def probabilities(client: RuntimeClient, settings: Settings, image: bytes, index: int,
                  deadline: float | None = None) -> list[float]:
    """The endpoint's probability list for one image, or the ApiError that says why not."""
    import urllib3

    try:
        body = client.invoke(settings.endpoint_name, image, CONTENT_TYPE, "application/json", deadline)
    except RuntimeError_ as exc:
        raise _from_runtime_error(exc, index) from None
    except (DeadlineExceeded, urllib3.exceptions.ReadTimeoutError):
        if deadline is not None and time.monotonic() >= deadline - 0.05:
            raise EndpointTimeout("the model endpoint did not answer before the request's "
                                  "deadline") from None
        raise EndpointTimeout(f"the model endpoint did not answer within "
                              f"{settings.endpoint_timeout_seconds:g} s") from None
    except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.NewConnectionError,
            urllib3.exceptions.ProtocolError):
        raise EndpointUnavailable("the model endpoint cannot be reached; try again shortly",
                                  retry_after=5) from None
    except urllib3.exceptions.HTTPError as exc:
        raise EndpointUnavailable(f"the model endpoint call failed ({type(exc).__name__})") from None
    return _parse_probabilities(body, len(settings.class_names))


def _from_runtime_error(exc: RuntimeError_, index: int) -> ApiError:
    if exc.code == "ModelError":
        status = int(exc.fields.get("OriginalStatusCode") or 0)
        detail = exc.fields.get("OriginalMessage") or exc.message
        if status == 415:
            return UnsupportedMediaType(f"image {index}: the model does not accept it ({detail})")
        if 400 <= status < 500:
            return InvalidImage(f"image {index}: not a decodable image ({_short(detail)})")
        return ModelFailed(f"image {index}: the model failed ({_short(detail)})")
    if exc.code in _THROTTLED or exc.status == 429:
        return EndpointThrottled("the model endpoint is busy; retry after the Retry-After delay",
                                 retry_after=2)
    if exc.code in _UNAVAILABLE or exc.status in _TRANSIENT_STATUS:
        return EndpointUnavailable("the model endpoint is unavailable; try again shortly",
                                   retry_after=5)
    return ModelFailed(f"the model endpoint answered {exc.code or 'an error'}")


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _parse_probabilities(body: bytes, num_classes: int) -> list[float]:
    try:
        values: Any = json.loads(body)
        if values and isinstance(values[0], list):  # a batch of one
            values = values[0]
        probs = [float(v) for v in values]
    except (ValueError, TypeError, IndexError, KeyError):
        raise ModelFailed("the model endpoint answered something other than a probability list") from None
    if len(probs) != num_classes:
        raise ModelFailed(f"the model answered {len(probs)} probabilities for {num_classes} classes; "
                          "the deployed model and CLASS_NAMES disagree")
    return probs
