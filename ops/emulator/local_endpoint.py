"""A local SageMaker endpoint: serves a trained `model.tar.gz` over HTTP with SageMaker's contracts.

- The container contract: `GET /ping`, `POST /invocations` (what SageMaker sends a model container).
- The runtime API that boto3's `sagemaker-runtime` client calls, `POST /endpoints/<name>/invocations`, with
  its error shapes (botocore's sagemaker-runtime service model): a model failure is `ModelError` (HTTP 424)
  carrying `OriginalStatusCode`/`OriginalMessage` and worded as SageMaker words it ("Received client
  error (4xx)" or "Received server error (5xx) from primary with message ..."); an unknown endpoint is
  `ValidationError` (400). So the Lambda handler reaches it unchanged through
  `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`.

It finds its model the way SageMaker does (`model_source`): endpoint → endpoint configuration → model →
`ModelDataUrl`, read from the local AWS that Terraform applied to and downloaded from its S3, so what
Terraform deployed is what answers. The model itself is loaded through the artifact's own `inference.py`
(`ops.core.artifact.load_artifact`).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import logging
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from training.errors import UserError
from training.files import replacing

logger = logging.getLogger("dogs.local_endpoint")
RUNTIME_PATH = "/endpoints/<name>/invocations"
MAX_PAYLOAD = 6 * 1024 * 1024  # SageMaker's real-time payload limit
# Serving defaults, chosen by `invoke bench` figures (docs/benchmarks.md). On 2 cores, EfficientNet-Lite0
# with ONNX Runtime: one intra-op thread per forward pass and one pass per core served the most requests
# (two threads on one pass run it only ~1.6x faster; two passes side by side do twice the work). Micro-
# batching concurrent requests into one pass added nothing (ONNX Runtime's per-image cost is the same at
# batch 1 and 4 here) and nothing like it runs in SageMaker's container, so it was removed.
DEFAULT_INTRA_OP_THREADS = 1


def default_lanes(intra_op_threads: int) -> int:
    """Forward passes at once: as many as the cores hold at `intra_op_threads` each."""
    return max(1, (os.cpu_count() or 1) // max(1, intra_op_threads))


def laned_invoke(model, lanes: int) -> Callable[[bytes, str, str], bytes]:
    """`model.invoke` (an ops.core.artifact.LoadedModel's) with each request decoded in its own server
    thread and at most `lanes` forward passes at once, as TorchServe runs one pass per worker. Its
    `timing` holds the calling thread's last request's stages (the Server-Timing header)."""
    import numpy as np

    channels, height, width = model.description.get("image_shape") or (3, 224, 224)
    model.forward(np.zeros((1, channels, height, width), dtype=np.float32))  # memory planned before
    lane = threading.BoundedSemaphore(lanes)  # the first request, not during it
    timing = threading.local()

    def invoke(body: bytes, content_type: str, accept: str = "application/json") -> bytes:
        started = time.perf_counter()
        item = model.prepare(body, content_type)
        prepared = time.perf_counter()
        with lane:
            waited = time.perf_counter()
            outputs = model.outputs(item[None])[0]
        done = time.perf_counter()
        timing.values = {"preprocess": prepared - started, "queue": waited - prepared,
                         "forward": done - waited}
        return model.respond(outputs, accept)

    invoke.timing = timing
    return invoke


class EndpointSourceError(UserError, RuntimeError):
    """The deployed endpoint, its configuration, model or artifact cannot be found."""


@dataclass(frozen=True)
class ModelSource:
    endpoint_name: str
    model_name: str
    model_data_url: str
    environment: dict[str, str] = field(default_factory=dict)  # the model container's, as deployed


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
    return ModelSource(endpoint_name, model_name, url, dict(container.get("Environment") or {}))


def download(s3_client, s3_uri: str, dest_dir: Path) -> Path:
    """Download `s3://bucket/key` into dest_dir (temp name, synced, then renamed); returns its path."""
    parsed = urlparse(s3_uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise EndpointSourceError(f"{s3_uri!r} is not an s3://bucket/key URI")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / Path(parsed.path).name
    try:
        with replacing(dest) as tmp:
            s3_client.download_file(parsed.netloc, parsed.path.lstrip("/"), str(tmp))
    except Exception as exc:
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
    from ops.core.aws_clients import s3_client

    path = download(s3_client(session, endpoint_url=aws_url), source.model_data_url, dest_dir)
    return source, path


def error_answer(exc: Exception) -> tuple[int, bytes]:
    """The status and body SageMaker's inference container answers for a failed request: the
    handler's own for a refusal (its `status_code` and JSON `body()`, or an InferenceFailed answer);
    500 for anything else (logged; the body says no more than that)."""
    from ops.core.artifact import InferenceFailed

    if isinstance(exc, InferenceFailed):
        return exc.status_code, exc.body
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500 and callable(getattr(exc, "body", None)):
        return status, exc.body().encode()
    logger.error("inference failed", exc_info=exc)
    return 500, json.dumps({"error": {"code": "internal_error",
                                      "message": "the model failed; see the endpoint's logs"}}).encode()


def create_app(invoke: Callable[[bytes, str, str], bytes], endpoint_name: str,
               ready: Callable[[], bool] = lambda: True, max_in_flight: int = 64,
               serialize: bool = True) -> Callable:
    """A WSGI app around `invoke(body, content_type, accept) -> bytes` (a loaded model's invoke).

    With `serialize`, one invoke runs at a time (an invoke that is not thread-safe); an invoke from
    `laned_invoke` orders its own forward passes. Beyond `max_in_flight` concurrent
    runtime invocations it sheds load the way SageMaker's runtime throttles: `ThrottlingException`,
    which clients retry with backoff. Plain werkzeug (routing, request, response): on this path a
    framework's per-request work is a visible share of the latency.
    """
    return _EndpointApp(invoke, endpoint_name, ready, max_in_flight, serialize)


class _EndpointApp:
    """The WSGI app `create_app` makes: the container contract and the runtime API over one invoke."""
    URLS = Map([Rule("/ping", endpoint="ping", methods=["GET"]),
                Rule("/invocations", endpoint="invocations", methods=["POST"]),
                Rule(RUNTIME_PATH, endpoint="runtime", methods=["POST"])])

    def __init__(self, invoke: Callable[[bytes, str, str], bytes], endpoint_name: str,
                 ready: Callable[[], bool], max_in_flight: int, serialize: bool):
        self.invoke, self.endpoint_name, self.ready = invoke, endpoint_name, ready
        self.max_in_flight = max_in_flight
        self.lock = threading.Lock() if serialize else contextlib.nullcontext()
        self.capacity = threading.BoundedSemaphore(max_in_flight)

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = MAX_PAYLOAD
        try:
            view, args = self.URLS.bind_to_environ(environ).match()
            response = getattr(self, view)(request, **args)
        except RequestEntityTooLarge:
            response = _runtime_error("ValidationError", 413, str(uuid.uuid4()),
                                      "Request body exceeds the 6 MB payload limit.")
        except HTTPException as exc:  # 404, 405
            response = exc.get_response(environ)
        return response(environ, start_response)

    def run_model(self, request: Request) -> tuple[int, bytes, str]:
        content_type = request.headers.get("Content-Type", "")  # none: refused, as the container does
        accept = request.headers.get("Accept", "application/json")
        if accept in ("", "*/*"):
            accept = "application/json"
        body = request.get_data()
        try:
            with self.lock:
                return 200, self.invoke(body, content_type, accept), "application/json"
        except Exception as exc:  # the container's error, reported the way SageMaker reports it
            status, answer = error_answer(exc)
            return status, answer, "application/json"

    def ping(self, request: Request) -> Response:
        return Response(status=200 if self.ready() else 503)

    def server_timing(self) -> dict[str, str]:
        """Where this thread's last invocation spent its time, as a Server-Timing header (ms)."""
        values = getattr(getattr(self.invoke, "timing", None), "values", None)
        if not values:
            return {}
        return {"Server-Timing": ", ".join(f"{k};dur={v * 1000:.3f}" for k, v in values.items())}

    def invocations(self, request: Request) -> Response:
        status, body, content_type = self.run_model(request)
        return Response(body, status=status, content_type=content_type,
                        headers=self.server_timing() if status == 200 else None)

    def runtime(self, request: Request, name: str) -> Response:
        request_id = str(uuid.uuid4())
        if name != self.endpoint_name:
            return _runtime_error("ValidationError", 400, request_id,
                                  f"Endpoint {name} of account 000000000000 not found.")
        if not self.capacity.acquire(blocking=False):
            return _runtime_error("ThrottlingException", 400, request_id,
                                  f"Rate exceeded: more than {self.max_in_flight} invocations in flight.")
        try:
            status, body, content_type = self.run_model(request)
        finally:
            self.capacity.release()
        if status == 200:
            return Response(body, status=200, content_type=content_type,
                            headers={"x-Amzn-Invoked-Production-Variant": "AllTraffic",
                                     "x-amzn-RequestId": request_id, **self.server_timing()})
        message = body.decode("utf-8", "replace")
        return _runtime_error("ModelError", 424, request_id, model_error_message(status, message),
                              OriginalStatusCode=status, OriginalMessage=message,
                              LogStreamArn=f"arn:aws:logs:local:000000000000:log-group:"
                                           f"/aws/sagemaker/Endpoints/{self.endpoint_name}")


def model_error_message(status: int, message: str) -> str:
    """ModelError's message as SageMaker words it: a 4xx from the container is a client error, a 5xx a
    server error (AWS then points at the endpoint's CloudWatch log group; here, at its log)."""
    kind = "server" if status >= 500 else "client"
    return (f'Received {kind} error ({status}) from primary with message "{message}". '
            "See the endpoint's log for more information.")


def _runtime_error(code: str, status: int, request_id: str, message: str, **fields: Any) -> Response:
    return Response(json.dumps({"message": message, **fields}), status=status,
                    content_type="application/json",
                    headers={"x-amzn-ErrorType": f"{code}:", "x-amzn-RequestId": request_id})


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.intra_op_threads < 1 or (args.lanes is not None and args.lanes < 1):
        parser.error("--intra-op-threads and --lanes must be at least 1")
    if args.model is None and not args.aws_url:
        parser.error("give --model or --aws-url")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # SIGTERM (how the stack stops it) unwinds, so the model's extraction folder is removed on the way out
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    try:
        model_path, environment = _model_to_serve(args)
        if args.container:
            return _serve_container(args, model_path, environment)
        from ops.core.artifact import load_artifact

        os.environ["DOGS_INFERENCE_THREADS"] = str(args.intra_op_threads)
        model = load_artifact(model_path)
    except UserError as exc:
        raise SystemExit(f"error: {exc}") from None
    _serve_in_process(args, model)


def _model_to_serve(args: argparse.Namespace) -> tuple[Path, dict[str, str] | None]:
    """--model, else the deployed endpoint's model (downloaded) and its container environment."""
    if args.model is not None:
        return args.model, None
    from ops.core import state

    work = args.work_dir or state.home() / "local_endpoint"
    source, model_path = fetch_deployed_model(args.aws_url, args.region, args.endpoint_name, work)
    logger.info(json.dumps({"event": "model_source", "endpoint_name": source.endpoint_name,
                            "model_name": source.model_name, "model_data_url": source.model_data_url,
                            "environment": sorted(source.environment)}))
    return model_path, source.environment


def _serve_in_process(args: argparse.Namespace, model) -> None:
    """Serve a loaded model: laned forward passes, or one request at a time for an artifact whose
    handlers have no preprocess/forward."""
    lanes = args.lanes or default_lanes(args.intra_op_threads)
    invoke = laned_invoke(model, lanes) if model.batchable else model.invoke
    app = create_app(invoke, args.endpoint_name, max_in_flight=args.max_in_flight,
                     serialize=not model.batchable)
    logger.info(json.dumps({"event": "listening", "url": f"http://{args.host}:{args.port}",
                            "endpoint_name": args.endpoint_name, "model_id": model.model_id,
                            "backend": getattr(model.model, "backend", "unknown"),
                            "model_dir": str(model.folder),
                            "lanes": lanes if model.batchable else 1,
                            "intra_op_threads": args.intra_op_threads}))
    import waitress

    waitress.serve(app, host=args.host, port=args.port, threads=max(args.threads, lanes + 2),
                   ident="local-endpoint")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops.emulator.local_endpoint", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a model.tar.gz to serve directly (default: the "
                        "deployed endpoint's model, read from --aws-url)")
    parser.add_argument("--endpoint-name", required=True, help="the SageMaker endpoint name to answer to")
    parser.add_argument("--aws-url", help="the local AWS (moto) URL Terraform applied to")
    parser.add_argument("--region", default="us-east-1", help="AWS region (default: us-east-1)")
    parser.add_argument("--work-dir", type=Path, help="where to download the model (default: .dogs/)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="listen port (default: 8080)")
    parser.add_argument("--threads", type=int, default=4,
                        help="server threads, which decode and preprocess images (default: 4)")
    parser.add_argument("--intra-op-threads", type=int, default=DEFAULT_INTRA_OP_THREADS,
                        help="threads of one forward pass (default: "
                             f"{DEFAULT_INTRA_OP_THREADS}: one pass per core serves the most requests)")
    parser.add_argument("--lanes", type=int,
                        help="forward passes that run at once (default: the core count divided by "
                             f"--intra-op-threads, {default_lanes(DEFAULT_INTRA_OP_THREADS)} here)")
    parser.add_argument("--max-in-flight", type=int, default=64,
                        help="concurrent invocations beyond which it throttles (default: 64)")
    parser.add_argument("--container", action="store_true",
                        help="answer with SageMaker's own serving container (TorchServe and the toolkit, "
                             "with no network; needs root and Java) instead of the model in-process")
    return parser


def _serve_container(args: argparse.Namespace, model_path: Path, environment: dict | None) -> None:
    """The runtime API in front of the real serving container: what InvokeEndpoint reaches on AWS,
    with the deployed model's environment when it came from the local AWS."""
    import waitress

    from ops.containers import container_serving
    from ops.core.artifact import InferenceFailed

    with container_serving.serve(model_path, env=environment, echo=logger.info) as running:
        def invoke(body: bytes, content_type: str, accept: str) -> bytes:
            status, answer_type, answer = running.invoke(body, content_type, accept)
            if status != 200:
                raise InferenceFailed(status, answer, answer_type)
            return answer

        app = create_app(invoke, args.endpoint_name, max_in_flight=args.max_in_flight, serialize=False)
        logger.info(json.dumps({"event": "listening", "url": f"http://{args.host}:{args.port}",
                                "endpoint_name": args.endpoint_name, "backend": "sagemaker-container",
                                "workers": running.environment["SAGEMAKER_MODEL_SERVER_WORKERS"],
                                "container_log": str(running.log)}))
        waitress.serve(app, host=args.host, port=args.port, threads=max(args.threads, 8),
                       ident="local-endpoint")


if __name__ == "__main__":
    main()
