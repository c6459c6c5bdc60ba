"""One SageMaker runtime client per Lambda container, and the mapping of its errors to API errors.

`InvokeEndpoint` is the only call this Lambda makes, through botocore's own `sagemaker-runtime` client
(boto3 and botocore ship in every Lambda Python runtime): made once, on the first request, with connect
and read timeouts below the Lambda's, botocore's "standard" retries (throttling and transient failures,
jittered backoff) and a keep-alive pool as large as the handler's concurrent calls. The endpoint URL is
botocore's own resolution (`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` / `AWS_ENDPOINT_URL`, `AWS_CA_BUNDLE`),
or `Settings.endpoint_url`. boto3 is imported with the client, not at module level: `import handler`
stays cheap. The request's deadline (the Lambda's remaining time) is the handler's to keep.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .api_errors import (ApiError, EndpointThrottled, EndpointTimeout, EndpointUnavailable, InvalidImage,
                        ModelFailed, PayloadTooLarge, UnsupportedMediaType)
from .settings import Settings

if TYPE_CHECKING:
    from botocore.client import BaseClient

# The built-in algorithm's content type, which the original used; our inference.py accepts it too.
CONTENT_TYPE = "application/x-image"
_THROTTLED = {"ThrottlingException", "Throttling", "TooManyRequestsException", "ModelNotReadyException"}
_UNAVAILABLE = {"ServiceUnavailable", "ValidationError", "InternalFailure", "InternalDependencyException"}
_TRANSIENT_STATUS = {500, 502, 503, 504}


def make_client(settings: Settings) -> BaseClient:
    """The runtime client, with the Lambda's timeouts, retries and pool."""
    import boto3
    from botocore.config import Config

    return boto3.client("sagemaker-runtime", endpoint_url=settings.endpoint_url, config=Config(
        connect_timeout=settings.connect_timeout_seconds, read_timeout=settings.endpoint_timeout_seconds,
        retries={"mode": "standard", "total_max_attempts": max(1, settings.endpoint_max_attempts)},
        max_pool_connections=max(settings.concurrency, 10), tcp_keepalive=True))


@dataclass(frozen=True)
class ModelAnswer:
    """The endpoint's answer for one image: class probabilities, and the known-breed verdict if any."""
    probabilities: list[float]
    known_breed_score: float | None = None
    is_known_breed: bool | None = None


def probabilities(client: BaseClient, settings: Settings, image: bytes, index: int) -> list[float]:
    """The endpoint's probability list for one image, or the ApiError that says why not."""
    return answer(client, settings, image, index).probabilities


def answer(client: BaseClient, settings: Settings, image: bytes, index: int) -> ModelAnswer:
    """The endpoint's answer for one image, or the ApiError that says why not."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

    try:
        response = client.invoke_endpoint(EndpointName=settings.endpoint_name, Body=image,
                                          ContentType=CONTENT_TYPE, Accept=settings.endpoint_accept)
        body = response["Body"].read()
    except ClientError as exc:
        raise _from_client_error(exc.response, index) from None
    except ReadTimeoutError:
        raise EndpointTimeout(f"the model endpoint did not answer within "
                              f"{settings.endpoint_timeout_seconds:g} s") from None
    except (ConnectionError, HTTPClientError):  # refused, unreachable, TLS, connect timeout, dropped
        raise EndpointUnavailable("the model endpoint cannot be reached; try again shortly",
                                  retry_after=5) from None
    return _parse_answer(body, len(settings.class_names))


def _from_client_error(response: dict[str, Any], index: int) -> ApiError:
    """The API error for the runtime's error answer (botocore's parsed `ClientError.response`, whose
    top level holds a ModelError's own fields)."""
    code = response.get("Error", {}).get("Code", "")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code == "ModelError":  # the container's own status and message, inside the runtime's 424
        status = _status_code(response.get("OriginalStatusCode"))
        detail = _model_message(response.get("OriginalMessage") or response["Error"].get("Message", ""))
        if status == 415:
            return UnsupportedMediaType(f"image {index}: the model does not accept it ({detail})")
        if status == 413:
            return PayloadTooLarge(f"image {index}: too large for the model ({_short(detail)})")
        if 400 <= status < 500:
            return InvalidImage(f"image {index}: not a decodable image ({_short(detail)})")
        return ModelFailed(f"image {index}: the model failed (status {status or 'unknown'})")
    if code in _THROTTLED or status == 429:
        return EndpointThrottled("the model endpoint is busy; retry after the Retry-After delay",
                                 retry_after=2)
    if code in _UNAVAILABLE or status in _TRANSIENT_STATUS:
        return EndpointUnavailable("the model endpoint is unavailable; try again shortly",
                                   retry_after=5)
    return ModelFailed(f"the model endpoint answered {code or 'an error'}")


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
