"""CORS for browser clients: which origins may read the API's answers, and the preflight (OPTIONS) answer.

The allowed origins come from CORS_ALLOWED_ORIGINS (a JSON list Terraform sets from its
`cors_allowed_origins` variable); none, the default, means no CORS header at all. The Lambda decides for
its own answers and the preflight; API Gateway's own errors (bad key, throttled, too large) carry the same
origins through the REST API's gateway responses (terraform/modules/api/browser.tf).
"""
from __future__ import annotations

from typing import Any

ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "content-type, x-api-key"
EXPOSE_HEADERS = "retry-after, x-amzn-requestid"
MAX_AGE_S = "600"  # browsers keep the preflight 10 minutes: one Lambda call per origin and page, not per POST


def request_origin(event: dict[str, Any]) -> str:
    headers = event.get("headers") if isinstance(event, dict) else None
    if not isinstance(headers, dict):  # a malformed event: no origin (predict reports the rest)
        return ""
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == "origin":
            return value if isinstance(value, str) else ""
    return ""


def response_headers(origin: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """The CORS headers of an answer to a request from `origin` (empty without allowed origins)."""
    if not allowed:
        return {}
    if "*" in allowed:
        return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSE_HEADERS}
    if origin in allowed:
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSE_HEADERS,
                "Vary": "Origin"}
    return {"Vary": "Origin"}  # the answer depends on the origin: caches must not share it


def preflight_headers(origin: str, allowed: tuple[str, ...]) -> dict[str, str]:
    headers = response_headers(origin, allowed)
    if "Access-Control-Allow-Origin" not in headers:
        return headers  # a refused origin: the browser blocks the request
    return {**headers, "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS, "Access-Control-Max-Age": MAX_AGE_S}


def with_headers(response: dict[str, Any], origin: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """`response` (a proxy answer) with the CORS headers for `origin` added."""
    extra = response_headers(origin, allowed)
    if not extra:
        return response
    return {**response, "headers": {**(response.get("headers") or {}), **extra}}
