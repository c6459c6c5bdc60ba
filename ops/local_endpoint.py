"""A local SageMaker endpoint: serves a trained `model.tar.gz` over HTTP with SageMaker's contracts.

- The container contract: `GET /ping`, `POST /invocations` (what SageMaker sends a model container).
- The runtime API that boto3's `sagemaker-runtime` client calls, `POST /endpoints/<name>/invocations`, with
  its error shapes (botocore's sagemaker-runtime service model): a model failure is `ModelError` (HTTP 424)
  carrying `OriginalStatusCode`/`OriginalMessage`; an unknown endpoint is `ValidationError` (400). So the
  Lambda handler reaches it unchanged through `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`.

It finds its model the way SageMaker does (`model_source`): endpoint → endpoint configuration → model →
`ModelDataUrl`, read from the local AWS that Terraform applied to and downloaded from its S3, so what
Terraform deployed is what answers. The model itself is loaded through the artifact's own `inference.py`
(`ops.artifact.load_artifact`).
"""
from __future__ import annotations

import argparse
import json
import logging
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from flask import Flask, Response, request

from training.errors import UserError

logger = logging.getLogger("dogs.local_endpoint")
RUNTIME_PATH = "/endpoints/<name>/invocations"


class EndpointSourceError(UserError, RuntimeError):
    """The deployed endpoint, its configuration, model or artifact cannot be found."""


@dataclass(frozen=True)
class ModelSource:
    endpoint_name: str
    model_name: str
    model_data_url: str


def model_source(sagemaker_client, endpoint_name: str) -> ModelSource:
    """Follow endpoint → endpoint config → (first production variant's) model → its ModelDataUrl."""
    from botocore.exceptions import ClientError

    try:
        config_name = sagemaker_client.describe_endpoint(EndpointName=endpoint_name)["EndpointConfigName"]
        config = sagemaker_client.describe_endpoint_config(EndpointConfigName=config_name)
        model_name = config["ProductionVariants"][0]["ModelName"]
        model = sagemaker_client.describe_model(ModelName=model_name)
    except ClientError as exc:
        raise EndpointSourceError(f"endpoint {endpoint_name!r}: {exc.response['Error'].get('Message')}; "
                                  "run `invoke deploy --target local` first") from None
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    url = container.get("ModelDataUrl") or (container.get("ModelDataSource", {}).get("S3DataSource", {})
                                            .get("S3Uri"))
    if not url:
        raise EndpointSourceError(f"model {model_name!r} of endpoint {endpoint_name!r} has no ModelDataUrl")
    return ModelSource(endpoint_name, model_name, url)


def download(s3_client, s3_uri: str, dest_dir: Path) -> Path:
    """Download `s3://bucket/key` into dest_dir (temp name, then rename); returns the file's path."""
    parsed = urlparse(s3_uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise EndpointSourceError(f"{s3_uri!r} is not an s3://bucket/key URI")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / Path(parsed.path).name
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        s3_client.download_file(parsed.netloc, parsed.path.lstrip("/"), str(tmp))
        tmp.replace(dest)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) or "botocore" in type(exc).__module__:
            raise EndpointSourceError(f"cannot download {s3_uri}: {exc}") from None
        raise
    return dest


def fetch_deployed_model(aws_url: str, region: str, endpoint_name: str, dest_dir: Path) -> tuple[
        ModelSource, Path]:
    """The deployed endpoint's model artifact, downloaded from the local AWS at aws_url."""
    import boto3

    session = boto3.Session(region_name=region)
    source = model_source(session.client("sagemaker", endpoint_url=aws_url), endpoint_name)
    path = download(session.client("s3", endpoint_url=aws_url), source.model_data_url, dest_dir)
    return source, path


def original_status(exc: Exception) -> int:
    """The HTTP status a SageMaker inference container answers for an inference error."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "UnsupportedContentType" in names:
        return 415
    if "InvalidImage" in names or isinstance(exc, ValueError):
        return 400
    return 500


def create_app(invoke: Callable[[bytes, str, str], bytes], endpoint_name: str,
               ready: Callable[[], bool] = lambda: True, max_in_flight: int = 64) -> Flask:
    """A WSGI app around `invoke(body, content_type, accept) -> bytes` (a loaded model's invoke).

    Beyond `max_in_flight` concurrent runtime invocations it sheds load the way SageMaker's runtime
    throttles: `ThrottlingException`, which clients retry with backoff.
    """
    app = Flask("local_endpoint")
    lock = threading.Lock()  # torch on 2 cores: one forward pass at a time is fastest
    capacity = threading.BoundedSemaphore(max_in_flight)
    app.config["MAX_CONTENT_LENGTH"] = 6 * 1024 * 1024  # SageMaker's real-time payload limit

    def run_model() -> tuple[int, bytes, str]:
        content_type = request.headers.get("Content-Type", "application/x-image")
        accept = request.headers.get("Accept", "application/json")
        if accept in ("", "*/*"):
            accept = "application/json"
        try:
            with lock:
                return 200, invoke(request.get_data(), content_type, accept), accept
        except Exception as exc:  # the container's error, reported the way SageMaker reports it
            status = original_status(exc)
            if status == 500:
                logger.exception("inference failed")
            return status, str(exc).encode(), "text/plain"

    @app.get("/ping")
    def ping():
        return Response(status=200 if ready() else 503)

    @app.post("/invocations")
    def invocations():
        status, body, content_type = run_model()
        return Response(body, status=status, content_type=content_type)

    @app.post(RUNTIME_PATH)
    def runtime_invoke(name: str):
        request_id = str(uuid.uuid4())
        if name != endpoint_name:
            return _runtime_error("ValidationError", 400, request_id,
                                  f"Endpoint {name} of account 000000000000 not found.")
        if not capacity.acquire(blocking=False):
            return _runtime_error("ThrottlingException", 400, request_id,
                                  f"Rate exceeded: more than {max_in_flight} invocations in flight.")
        try:
            status, body, content_type = run_model()
        finally:
            capacity.release()
        if status == 200:
            return Response(body, status=200, content_type=content_type,
                            headers={"x-Amzn-Invoked-Production-Variant": "AllTraffic",
                                     "x-amzn-RequestId": request_id})
        message = body.decode("utf-8", "replace")
        return _runtime_error("ModelError", 424, request_id,
                              f"Received client error ({status}) from primary with message "
                              f'"{message}". See the endpoint\'s logs.',
                              OriginalStatusCode=status, OriginalMessage=message,
                              LogStreamArn=f"arn:aws:logs:local:000000000000:log-group:"
                                           f"/aws/sagemaker/Endpoints/{endpoint_name}")

    @app.errorhandler(413)
    def too_large(_exc):
        return _runtime_error("ValidationError", 413, str(uuid.uuid4()),
                              "Request body exceeds the 6 MB payload limit.")

    return app


def _runtime_error(code: str, status: int, request_id: str, message: str, **fields: Any) -> Response:
    return Response(json.dumps({"message": message, **fields}), status=status,
                    content_type="application/json",
                    headers={"x-amzn-ErrorType": f"{code}:", "x-amzn-RequestId": request_id})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.local_endpoint", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a model.tar.gz to serve directly (default: the "
                        "deployed endpoint's model, read from --aws-url)")
    parser.add_argument("--endpoint-name", required=True, help="the SageMaker endpoint name to answer to")
    parser.add_argument("--aws-url", help="the local AWS (moto) URL Terraform applied to")
    parser.add_argument("--region", default="us-east-1", help="AWS region (default: us-east-1)")
    parser.add_argument("--work-dir", type=Path, help="where to download the model (default: .dogs/)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="listen port (default: 8080)")
    parser.add_argument("--threads", type=int, default=4, help="server threads (default: 4)")
    parser.add_argument("--max-in-flight", type=int, default=64,
                        help="concurrent invocations beyond which it throttles (default: 64)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        model_path = args.model
        if model_path is None:
            if not args.aws_url:
                parser.error("give --model or --aws-url")
            from ops import state

            work = args.work_dir or state.home() / "local_endpoint"
            source, model_path = fetch_deployed_model(args.aws_url, args.region, args.endpoint_name, work)
            logger.info(json.dumps({"event": "model_source", **source.__dict__}))
        from ops.artifact import load_artifact

        model = load_artifact(model_path)
    except UserError as exc:
        raise SystemExit(f"error: {exc}") from None
    app = create_app(model.invoke, args.endpoint_name, max_in_flight=args.max_in_flight)
    logger.info(json.dumps({"event": "listening", "url": f"http://{args.host}:{args.port}",
                            "endpoint_name": args.endpoint_name, "model_id": model.model_id}))
    import waitress

    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="local-endpoint")


if __name__ == "__main__":
    main()
