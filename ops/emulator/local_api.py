"""A local API Gateway: serves the Lambda handler over HTTP the way a REST API with a Lambda proxy
integration does.

- Only the deployed routes exist (`POST /<stage>/predict`; `GET /<stage>/`, the try-it page, and
  `OPTIONS /<stage>/predict`, the CORS preflight, when Terraform made them; read from the local AWS);
  anything else answers what API Gateway answers for a missing resource or method: 403
  `{"message": "Missing Authentication Token"}`. `GET /` (no stage) redirects to the stage's page.
- The gateway's own errors carry the headers of the REST API's gateway responses (CORS), as deployed.
- Access to `POST /<stage>/predict` as deployed (ops.emulator.api_access, read from the local AWS with `--api-id`):
  an `AWS_IAM` method needs a SigV4 signature by the local AWS's credentials; an API key, when required,
  must be one in a usage plan of the stage (403 `{"message": "Forbidden"}` otherwise); the stage's and the
  key's plan throttle and quota answer 429 with the deployed gateway responses' `Retry-After`. Without
  `--api-id`, the one key in $DOGS_API_KEY, unlimited.
- Bodies over API Gateway's 10 MB payload limit: 413 `{"message": "Request Too Long"}`; so are requests
  whose proxy event is over Lambda's 6 MB synchronous-invocation limit (a binary body grows by 4/3 in
  base64), which on AWS never reach the function.
- The request becomes a proxy event (payload format 1.0) — binary media types arrive base64-encoded with
  `isBase64Encoded` — and the handler's `{"statusCode", "headers", "body"}` becomes the response. A handler
  that raises or answers malformed output gives 502 `{"message": "Internal server error"}`.
Run against the local stack, it reads the Lambda's environment and timeout from what Terraform applied
(`lambda_environment`) and points the handler at the local endpoint through
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`, the standard boto3 setting.
The proxy event and response are ops.emulator.lambda_proxy's; the deployed API is read once (ops.emulator.api_access).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.wrappers import Request, Response

from ops.emulator import api_access
from ops.emulator.api_access import PAGE_ROUTE, PREDICT_ROUTE, PREFLIGHT_ROUTE, Route  # noqa: F401 (the gateway's)
from ops.emulator.lambda_proxy import (HANDLER, Handler, LambdaContext, build_event, event_size, load_handler,
                              proxy_response, with_identity)

logger = logging.getLogger("dogs.local_api")
API_GATEWAY_MAX_PAYLOAD = 10 * 1024 * 1024  # https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
# Lambda's synchronous Invoke payload quota, "6 MB" (https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html).
# AWS documents no gateway answer for an event over it. What a REST API answers was observed and
# published (github.com/koki-develop/lgtm-generator issue 10, 2021): 413, x-amzn-ErrorType
# BadRequestException, `{"message": "Request Too Long"}` — what is answered here. Which gateway response
# type maps its headers is not published; REQUEST_TOO_LARGE (the 10 MB limit's) is our choice.
LAMBDA_MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
# The Terraform stack's default binary media types, plus the built-in algorithm's application/x-image.
DEFAULT_BINARY_TYPES = ("image/jpeg", "image/png", "image/webp", "application/octet-stream",
                        "application/x-image")


@dataclass(frozen=True)
class Gateway:
    api_key: str = ""
    stage: str = "beta"
    resource: str = "/predict"
    binary_media_types: tuple[str, ...] = DEFAULT_BINARY_TYPES
    lambda_timeout_s: float = 30.0
    function_name: str = "dogs-predict"
    api_id: str = "local"
    access: api_access.Access | None = None  # None: the one api_key, no usage plan
    routes: tuple[Route, ...] = (PREDICT_ROUTE,)
    # Gateway responses: response type (DEFAULT_4XX, ...) → {header: mapping expression}, as deployed.
    gateway_responses: dict[str, dict[str, str]] = field(default_factory=dict)

    def route(self, method: str, path: str) -> Route | None:
        for route in self.routes:
            if route.method == method and path.rstrip("/") == f"/{self.stage}{route.resource}".rstrip("/"):
                return route
        return None


def create_app(handler: Handler, gw: Gateway):
    """A WSGI app: API Gateway in front of `handler(event, context)`."""

    @Request.application
    def app(req: Request) -> Response:
        request_id = str(uuid.uuid4())
        headers = {"x-amzn-RequestId": request_id, "x-amzn-apigateway-api-id": gw.api_id}
        route = gw.route(req.method, req.path)
        if route is None and req.path == "/" and gw.route("GET", f"/{gw.stage}/"):
            return Response(status=302, headers={"Location": f"/{gw.stage}/"})  # a local convenience
        if route is None:
            return _gateway_error(403, "Missing Authentication Token", headers, gw, req,
                                  "MISSING_AUTHENTICATION_TOKEN")
        if (req.content_length or 0) > API_GATEWAY_MAX_PAYLOAD:
            return _gateway_error(413, "Request Too Long", headers, gw, req, "REQUEST_TOO_LARGE")
        body = req.stream.read(API_GATEWAY_MAX_PAYLOAD + 1)
        if len(body) > API_GATEWAY_MAX_PAYLOAD:
            return _gateway_error(413, "Request Too Long", headers, gw, req, "REQUEST_TOO_LARGE")
        identity = api_access.Identity()
        if route.api_key_required:  # the predict method; the page and the preflight are open
            try:
                identity = admit(req, body, gw)
            except api_access.Refused as refused:
                return _gateway_error(refused.status, refused.message, headers, gw, req,
                                      refused.response_type, refused.error_type)
        event = with_identity(build_event(req, body, request_id, resource=route.resource, stage=gw.stage,
                                          api_id=gw.api_id, binary_media_types=gw.binary_media_types),
                              identity)
        if event_size(event) > LAMBDA_MAX_SYNC_PAYLOAD:
            return _gateway_error(413, "Request Too Long", headers, gw, req, "REQUEST_TOO_LARGE",
                                  "BadRequestException")
        context = LambdaContext(gw.function_name, gw.lambda_timeout_s)
        try:
            result = handler(event, context)
            return proxy_response(result, headers)
        except Exception:  # what API Gateway answers when the integration fails
            logger.exception("the Lambda handler failed (request %s)", request_id)
            return _gateway_error(502, "Internal server error", headers, gw, req)

    return app


def admit(req: Request, body: bytes, gw: Gateway) -> api_access.Identity:
    """The caller, as the deployed method's access rules see it (ops.emulator.api_access)."""
    access = gw.access or _single_key_access(gw.api_key)
    return access.admit(req.method, req.url, req.headers, body)


_SINGLE_KEY: dict[str, api_access.Access] = {}


def _single_key_access(api_key: str) -> api_access.Access:
    return _SINGLE_KEY.setdefault(api_key, api_access.single_key(api_key))


def _gateway_error(status: int, message: str, headers: dict[str, str], gw: Gateway | None = None,
                   req: Request | None = None, response_type: str = "",
                   error_type: str | None = None) -> Response:
    """API Gateway's own error: its message, x-amzn-ErrorType, and the headers the deployed gateway
    response for `response_type` (else DEFAULT_4XX/5XX) maps."""
    mapped = gateway_response_headers(gw, req, response_type, status) if gw and req else {}
    error_type = error_type or {403: "ForbiddenException", 413: "RequestTooLarge"}.get(
        status, "InternalServerErrorException")
    return Response(json.dumps({"message": message}), status=status, content_type="application/json",
                    headers={**headers, **mapped, "x-amzn-ErrorType": error_type})


def gateway_response_headers(gw: Gateway, req: Request, response_type: str,
                             status: int) -> dict[str, str]:
    """The headers the deployed gateway response for this error maps (its own type, else DEFAULT_4XX or
    DEFAULT_5XX), evaluated as API Gateway does: 'literal' or method.request.header.<name>."""
    default = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
    mappings = gw.gateway_responses.get(response_type) or gw.gateway_responses.get(default) or {}
    headers = {}
    for name, expression in mappings.items():
        if expression.startswith("'") and expression.endswith("'") and len(expression) >= 2:
            headers[name] = expression[1:-1]
        elif expression.startswith("method.request.header."):
            value = req.headers.get(expression.removeprefix("method.request.header."))
            if value:
                headers[name] = value
    return headers


def environment_routes(env: dict[str, str]) -> tuple[Route, ...]:
    """Without a deployed API (--environment): the routes Terraform's defaults would make."""
    from predict_lambda.settings import parse_origins

    origins = parse_origins(env.get("CORS_ALLOWED_ORIGINS") or "[]")
    return (PREDICT_ROUTE, PAGE_ROUTE, *((PREFLIGHT_ROUTE,) if origins else ()))


def lambda_environment(aws_url: str, region: str, function_name: str) -> tuple[dict[str, str], float,
                                                                                   str]:
    """(environment variables, timeout in s, handler string) of the function Terraform applied."""
    import boto3

    client = boto3.client("lambda", region_name=region, endpoint_url=aws_url)
    config = client.get_function_configuration(FunctionName=function_name)
    env = (config.get("Environment") or {}).get("Variables") or {}
    return dict(env), float(config.get("Timeout", 3)), config.get("Handler", HANDLER)


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    api_key = os.environ.get("DOGS_API_KEY", "")  # an environment variable, not argv: argv is public
    deployed_api = args.api_id != "local" and bool(args.aws_url)
    if not api_key and not deployed_api:
        parser.error("set DOGS_API_KEY to the API key clients must send (or give --api-id and "
                     "--aws-url: the deployed API's keys)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.environment:
        env, timeout, handler_spec = _environment_file(parser, args.environment), args.timeout, HANDLER
    elif args.function_name and args.aws_url:
        env, timeout, handler_spec = lambda_environment(args.aws_url, args.region, args.function_name)
    else:
        parser.error("give --function-name and --aws-url (the deployed function), or --environment")
    os.environ.update(env)
    os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = args.endpoint_url
    os.environ.setdefault("AWS_DEFAULT_REGION", args.region)
    handler = load_handler(handler_spec)
    api = api_access.read_deployed_api(args.aws_url, args.region, args.api_id, args.stage, "/predict",
                                       ca_bundle=os.environ.get("AWS_CA_BUNDLE")) if deployed_api else None
    gw = gateway(args, api, api_key=api_key, timeout=timeout, env=env)
    logger.info(json.dumps({"event": "listening", "url": f"http://{args.host}:{args.port}/{args.stage}"
                            f"{gw.resource}", "function": args.function_name}))
    import waitress

    waitress.serve(create_app(handler, gw), host=args.host, port=args.port, threads=args.threads,
                   ident="local-api", max_request_body_size=API_GATEWAY_MAX_PAYLOAD * 2)


def gateway(args: argparse.Namespace, api: api_access.DeployedApi | None, *, api_key: str,
            timeout: float, env: dict[str, str]) -> Gateway:
    """The gateway as deployed (`api`), else as the options and the Lambda's environment imply."""
    if args.binary_media_types:
        binary_types = tuple(t.strip() for t in args.binary_media_types.split(",") if t.strip())
    else:
        binary_types = (api.binary_media_types if api else ()) or DEFAULT_BINARY_TYPES
    return Gateway(api_key=api_key, stage=args.stage, lambda_timeout_s=timeout,
                   function_name=args.function_name or "local", api_id=args.api_id,
                   binary_media_types=binary_types, access=api.access if api else None,
                   routes=api.routes if api else environment_routes(env),
                   gateway_responses=api.gateway_responses if api else {})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops.emulator.local_api", description=__doc__.split("\n")[0])
    parser.add_argument("--function-name", help="the deployed Lambda function's name (with --aws-url)")
    parser.add_argument("--aws-url", help="the local AWS (moto) URL Terraform applied to")
    parser.add_argument("--environment", type=Path,
                        help="a JSON object of the handler's environment variables, instead of the "
                             "deployed function's (no local AWS needed; with --timeout)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="the Lambda timeout in s with --environment (default: 10)")
    parser.add_argument("--region", default="us-east-1", help="AWS region (default: us-east-1)")
    parser.add_argument("--endpoint-url", required=True,
                        help="the local endpoint's URL (becomes AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME)")
    parser.add_argument("--stage", default="beta", help="API stage name (default: beta)")
    parser.add_argument("--api-id", default="local", help="API id, for the request context")
    parser.add_argument("--binary-media-types",
                        help="content types handed to the Lambda base64-encoded, comma-separated "
                             "(default: the deployed API's, read with --api-id)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="listen port (default: 3000)")
    parser.add_argument("--threads", type=int, default=8, help="server threads (default: 8)")
    return parser


def _environment_file(parser: argparse.ArgumentParser, path: Path) -> dict[str, str]:
    try:
        env = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        parser.error(f"--environment {path}: {exc}")
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        parser.error(f"--environment {path}: expected a JSON object of strings")
    return env


if __name__ == "__main__":
    main()
