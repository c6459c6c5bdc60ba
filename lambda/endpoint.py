"""One SageMaker runtime client per Lambda container, and the mapping of its errors to API errors.

The client is created on first use and reused (its connection pool serves the concurrent calls of a
batch). Timeouts stay below the Lambda timeout, which stays below API Gateway's 29 s.
"""
from __future__ import annotations

import json
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import (BotoCoreError, ClientError, ConnectionClosedError,
                                 ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError)

from api_errors import (ApiError, EndpointThrottled, EndpointTimeout, EndpointUnavailable, InvalidImage,
                        ModelFailed, UnsupportedMediaType)
from settings import Settings

# The built-in algorithm's content type, which the original used; our inference.py accepts it too.
CONTENT_TYPE = "application/x-image"
_THROTTLED = {"ThrottlingException", "Throttling", "TooManyRequestsException", "ModelNotReadyException"}
_UNAVAILABLE = {"ServiceUnavailable", "ValidationError", "InternalFailure", "InternalDependencyException"}


def make_client(settings: Settings):
    config = Config(
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.endpoint_timeout_seconds,
        retries={"mode": "standard", "total_max_attempts": settings.endpoint_max_attempts},
        max_pool_connections=max(settings.concurrency, 10),
        tcp_keepalive=True,
    )
    # botocore directly: boto3 adds nothing here but ~90 ms of imports (s3transfer) to the cold start.
    session = botocore.session.get_session()
    return session.create_client("sagemaker-runtime", endpoint_url=settings.endpoint_url, config=config)


def probabilities(client, settings: Settings, image: bytes, index: int) -> list[float]:
    """The endpoint's probability list for one image, or the ApiError that says why not."""
    try:
        response = client.invoke_endpoint(EndpointName=settings.endpoint_name, Body=image,
                                          ContentType=CONTENT_TYPE, Accept="application/json")
        body = response["Body"].read()
    except ClientError as exc:
        raise _from_client_error(exc, index) from None
    except ReadTimeoutError:
        raise EndpointTimeout(f"the model endpoint did not answer within "
                              f"{settings.endpoint_timeout_seconds:g} s") from None
    except (ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError):
        raise EndpointUnavailable("the model endpoint cannot be reached; try again shortly",
                                  retry_after=5) from None
    except BotoCoreError as exc:
        raise EndpointUnavailable(f"the model endpoint call failed ({type(exc).__name__})") from None
    return _parse_probabilities(body, len(settings.class_names))


def _from_client_error(exc: ClientError, index: int) -> ApiError:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    if code == "ModelError":
        status = int(exc.response.get("OriginalStatusCode") or 0)
        detail = exc.response.get("OriginalMessage") or error.get("Message", "")
        if status == 415:
            return UnsupportedMediaType(f"image {index}: the model does not accept it ({detail})")
        if 400 <= status < 500:
            return InvalidImage(f"image {index}: not a decodable image ({_short(detail)})")
        return ModelFailed(f"image {index}: the model failed ({_short(detail)})")
    if code in _THROTTLED:
        return EndpointThrottled("the model endpoint is busy; retry after the Retry-After delay",
                                 retry_after=2)
    if code in _UNAVAILABLE:
        return EndpointUnavailable("the model endpoint is unavailable; try again shortly",
                                   retry_after=5)
    return ModelFailed(f"the model endpoint answered {code or 'an error'}")


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
