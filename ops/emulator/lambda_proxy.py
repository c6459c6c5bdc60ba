"""The Lambda proxy integration (payload format 1.0), as API Gateway's REST API does it: an HTTP request
becomes the event, the handler's `{"statusCode", "headers", "body"}` becomes the response, and the handler
is imported the way the Lambda runtime imports it.

Binary media types arrive base64-encoded with `isBase64Encoded`; the request context carries the stage,
the request id and the caller's identity (the API key's id, the IAM caller's access key).
"""
from __future__ import annotations

import base64
import importlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from werkzeug.wrappers import Request, Response

from ops.emulator import api_access

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object the handler uses."""
    function_name: str
    timeout_s: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.started + self.timeout_s - time.monotonic()) * 1000), 0)


def is_binary(content_type: str, binary_types: tuple[str, ...]) -> bool:
    main = content_type.split(";")[0].strip().lower()
    for pattern in binary_types:
        if pattern == "*/*" or pattern == main or (
                pattern.endswith("/*") and main.startswith(pattern[:-1])):
            return True
    return False


def build_event(req: Request, body: bytes, request_id: str, *, resource: str, stage: str, api_id: str,
                binary_media_types: tuple[str, ...]) -> dict[str, Any]:
    """The REST API proxy integration event (payload format 1.0) for one request."""
    binary = is_binary(req.headers.get("Content-Type", ""), binary_media_types)
    headers = {k: v for k, v in req.headers.items()}
    multi_headers: dict[str, list[str]] = {}
    for k, v in req.headers.items():
        multi_headers.setdefault(k, []).append(v)
    query = {k: v for k, v in req.args.items()} or None
    multi_query = {k: req.args.getlist(k) for k in req.args} or None
    return {
        "resource": resource,
        "path": resource,
        "httpMethod": req.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000", "apiId": api_id, "stage": stage,
            "resourcePath": resource, "httpMethod": req.method, "path": req.path,
            "requestId": request_id, "requestTimeEpoch": int(time.time() * 1000),
            "protocol": req.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "identity": {"sourceIp": req.remote_addr, "userAgent": req.headers.get("User-Agent"),
                         "apiKey": req.headers.get("x-api-key")},
        },
        "body": (base64.b64encode(body).decode() if binary else body.decode("utf-8", "replace"))
        if body else None,
        "isBase64Encoded": bool(binary and body),
    }


def event_size(event: dict[str, Any]) -> int:
    """The bytes of the Invoke payload the event makes (compact JSON, the smallest it can be)."""
    return len(json.dumps(event, separators=(",", ":")).encode())


def with_identity(event: dict[str, Any], identity: api_access.Identity) -> dict[str, Any]:
    """The request context's identity as API Gateway fills it: the key's id, the IAM caller's key."""
    event["requestContext"]["identity"].update(apiKeyId=identity.api_key_id,
                                               accessKey=identity.access_key)
    return event


def proxy_response(result: dict[str, Any], headers: dict[str, str]) -> Response:
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise ValueError(f"malformed Lambda proxy response: {str(result)[:200]}")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    response = Response(data, status=result["statusCode"])
    response.headers.pop("Content-Type", None)
    for k, v in (result.get("headers") or {}).items():
        response.headers[k] = str(v)
    for k, values in (result.get("multiValueHeaders") or {}).items():
        for v in values:
            response.headers.add(k, str(v))
    for k, v in headers.items():
        response.headers[k] = v
    return response


HANDLER = "predict_lambda.handler.handler"  # terraform/main.tf's handler: the zip holds the package


def load_handler(spec: str = HANDLER) -> Handler:
    """Import the Lambda's handler as the Lambda runtime does: `module.function`, the zip's root (here, the
    project's) on the import path."""
    module_name, _, func = spec.rpartition(".")
    return getattr(importlib.import_module(module_name), func)
