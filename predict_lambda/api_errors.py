"""The API's typed errors: each one is an HTTP status, a stable code and a message for the client.

The handler maps exactly these to `{"error": {"code", "message"}}`; anything else is a bug, logged with the
request id and answered with a bare 500 (never a traceback).
"""
from __future__ import annotations


class ApiError(Exception):
    status = 500
    code = "internal_error"
    headers: dict[str, str] = {}

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class InvalidBase64(ApiError):
    status, code = 400, "invalid_base64"


class InvalidParameter(ApiError):
    status, code = 400, "invalid_parameter"


class TooManyImages(ApiError):
    status, code = 400, "too_many_images"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class InvalidImage(ApiError):
    status, code = 422, "invalid_image"


class ModelFailed(ApiError):
    status, code = 502, "model_error"


class EndpointUnavailable(ApiError):
    status, code = 503, "endpoint_unavailable"

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class EndpointThrottled(EndpointUnavailable):
    code = "endpoint_throttled"


class EndpointTimeout(ApiError):
    status, code = 504, "endpoint_timeout"
