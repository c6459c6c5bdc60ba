"""API Gateway (REST, proxy) → SageMaker endpoint → labelled breeds. Lambda handler: `predict_lambda.handler.handler`.

POST /predict with an image (JSON base64, a list of them, or a raw JPEG/PNG body) answers
`{"predictions": [{"top": [{"breed", "class_id", "probability"}, ...]}], "model": "<model id>"}`; a model
with a known-breed score adds `known_breed_score` and `is_known_breed` to each prediction. With
`?format=original` the original project's answer, `[[p0, ..., pN-1], ...]` (class-id order, no labels).
Every client error is `{"error": {"code", "message"}}` with its status; see api/openapi.yaml.
Module level holds only the standard library: a cheap cold start. boto3 (in every Lambda Python runtime)
is imported with the endpoint client, created on the first request, once per container.
"""
from __future__ import annotations

import functools
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import cors, endpoint, image_header, payload, try_it_page
from .api_errors import ApiError, EndpointTimeout, InvalidImage
from .settings import Settings, SettingsError

logger = logging.getLogger("dogs.api")
# Leave a margin before the Lambda's own timeout to answer 504 ourselves.
DEADLINE_MARGIN_S = 1.0


class Predictor:
    """What one warm Lambda container keeps between requests: settings, client, thread pool."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = endpoint.make_client(settings)
        self.pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="invoke")

    def __call__(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """One API Gateway request: OPTIONS (CORS preflight), GET / (the try-it page), POST /predict."""
        origin, allowed = cors.request_origin(event), self.settings.cors_allowed_origins
        method = event.get("httpMethod")
        if method == "OPTIONS":
            return {"statusCode": 204, "isBase64Encoded": False, "body": "",
                    "headers": cors.preflight_headers(origin, allowed)}
        response = try_it_page.response() if method == "GET" else self.predict(event, context)
        return cors.with_headers(response, origin, allowed)

    def predict(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        started = time.perf_counter()
        request_id = _request_id(event, context)
        images, outcome = 0, "ok"
        try:
            request = payload.parse(event, self.settings)
            images = len(request.images)
            for i, image in enumerate(request.images):
                _check_image(image, i, self.settings.max_image_pixels)
            probs = self._predict(request.images, _deadline(context))
            response = _respond(200, self._answer(probs, request))
        except ApiError as exc:
            outcome = exc.code
            response = _respond(exc.status, {"error": {"code": exc.code, "message": exc.message}},
                                exc.headers)
        except Exception:  # a bug: log it with the request id, tell the client nothing more
            logger.exception(json.dumps({"request_id": request_id, "outcome": "internal_error"}))
            outcome = "internal_error"
            response = _respond(500, {"error": {"code": "internal_error", "message":
                                                f"internal error; request id {request_id}"}})
        logger.info(json.dumps({
            "request_id": request_id, "images": images, "status": response["statusCode"],
            "outcome": outcome, "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            "model": self.settings.model_id}))
        return response

    def _predict(self, images: list[bytes], deadline: float | None) -> list[endpoint.ModelAnswer]:
        """Every image's answer, the calls concurrent (a bounded pool), waited on until `deadline`
        (time.monotonic()); the first failing image in request order decides the error."""
        if deadline is not None and deadline <= time.monotonic():
            raise _past_deadline()
        futures = [self.pool.submit(endpoint.answer, self.client, self.settings, image, i)
                   for i, image in enumerate(images)]
        results = []
        for future in futures:
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                results.append(future.result(timeout=timeout))
            except TimeoutError:
                for f in futures:
                    f.cancel()
                raise _past_deadline() from None
        return results

    def _answer(self, answers: list[endpoint.ModelAnswer], request: payload.PredictionRequest) -> Any:
        if request.response_format == "original":
            return original_body([answer.probabilities for answer in answers])
        return self._body(answers, request.top_k, request.raw)

    def _body(self, answers: list[endpoint.ModelAnswer], top_k: int, raw: bool) -> dict[str, Any]:
        names = self.settings.class_names
        predictions = []
        for answer in answers:
            p = answer.probabilities
            ranked = sorted(range(len(p)), key=p.__getitem__, reverse=True)[:top_k]
            item: dict[str, Any] = {"top": [{"breed": names[i], "class_id": i,
                                             "probability": round(p[i], 6)} for i in ranked]}
            if answer.known_breed_score is not None:
                item["is_known_breed"] = answer.is_known_breed
                item["known_breed_score"] = round(answer.known_breed_score, 6)
            if raw:
                item["probabilities"] = p
            predictions.append(item)
        return {"predictions": predictions, "model": self.settings.model_id}


def original_body(probs: list[list[float]]) -> list[list[float]]:
    """The original's body: one list of every class probability per image, in class-id order (the
    endpoint's own order), in request order."""
    return [list(p) for p in probs]


def _check_image(image: bytes, index: int, max_pixels: int) -> None:
    try:
        image_header.check_image(image, max_pixels)
    except image_header.NotAnImage as exc:
        raise InvalidImage(f"image {index}: {exc}") from None


def _past_deadline() -> EndpointTimeout:
    return EndpointTimeout("the model endpoint did not answer before the request's deadline")


def _request_id(event: dict[str, Any], context: Any) -> str:
    return (getattr(context, "aws_request_id", None)
            or (event.get("requestContext") or {}).get("requestId") or "-")


def _deadline(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + remaining() / 1000 - DEADLINE_MARGIN_S


def _respond(status: int, body: Any, headers: dict[str, str] | None = None) -> dict:
    return {"statusCode": status, "isBase64Encoded": False,
            "headers": {"Content-Type": "application/json", **(headers or {})},
            "body": json.dumps(body, separators=(",", ":"), allow_nan=False)}


@functools.lru_cache(maxsize=1)
def _predictor() -> Predictor:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return Predictor(settings)


def configure_logging(level: str) -> None:
    """LOG_LEVEL for the handler's own logs. botocore and urllib3 stay at WARNING whatever it says: at
    DEBUG botocore.auth writes the canonical request with the session token in it."""
    logging.getLogger().setLevel(level)
    logger.setLevel(level)
    for name in ("botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    try:
        predictor = _predictor()
    except SettingsError as exc:  # a deployment bug: say so in the log, not to the client
        logger.error(json.dumps({"request_id": _request_id(event, context), "outcome": "misconfigured",
                                 "detail": str(exc)}))
        return _respond(500, {"error": {"code": "internal_error",
                                        "message": "the service is misconfigured"}})
    return predictor(event, context)
