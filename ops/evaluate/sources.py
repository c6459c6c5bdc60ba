"""Where predictions come from: the API, the SageMaker endpoint, or the model artifact in-process.

Every source answers a batch of image bodies with one probability list per image, in class-id order, and
names the model it runs (the prediction cache is keyed by that name). The API tells which model answered
in each response, so the API source learns the id from its first request (`identify`), which also predicts
that first photo.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Protocol, Sequence

from training.errors import UserError

IMAGE_TYPE = "application/x-image"


class EvaluationError(UserError, RuntimeError):
    """The evaluation cannot go on (bad options, unreachable service, a model answer that makes no
    sense)."""


class RejectedImage(EvaluationError):
    """The service refused the image itself (e.g. HTTP 400/413, a SageMaker ModelError): that photo
    is reported and left out, the evaluation goes on."""


# Statuses that are about the request's images, not the set-up (401/403/404: key, URL; 429: throttled).
IMAGE_STATUSES = {400, 413, 415, 422}


class PredictionSource(Protocol):
    name: str          # api | endpoint | model
    batch_size: int    # images per request
    classes: list | None  # the model's class map when it knows it (BreedClass list or names)

    def identify(self, sample: bytes) -> tuple[str, list[float] | None]:
        """(model id, the sample's probabilities if predicting it was needed to learn the id)."""

    def predict(self, bodies: Sequence[bytes]) -> list[list[float]]:
        """Probabilities of each image, in order."""


class ModelSource:
    """The model artifact (model.tar.gz) loaded in-process through `ops.artifact`.

    Concurrency comes from the evaluation's worker threads, each predicting one photo with one torch
    thread: on a few shared cores, N single-threaded predictions at once are much faster than one
    N-threaded one (whose OpenMP threads spin-wait for each other when a core is busy elsewhere).
    """

    name = "model"

    def __init__(self, artifact_path, batch_size: int = 8, torch_threads: int | None = 1):
        from ops.artifact import load_artifact

        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)
        self.model = load_artifact(artifact_path)
        self.batch_size = batch_size
        self.classes = list(self.model.classes)

    def identify(self, sample: bytes) -> tuple[str, None]:
        return str(self.model.model_id), None

    def predict(self, bodies: Sequence[bytes]) -> list[list[float]]:
        batch = getattr(self.model, "predict_batch", None)
        if batch is not None:
            return [list(p) for p in batch(list(bodies), IMAGE_TYPE)]
        return [list(self.model.predict(b, IMAGE_TYPE)) for b in bodies]


class ApiSource:
    """`POST <url>/predict` with {"images": [base64...], "raw": true} and header x-api-key."""

    name = "api"
    classes = None

    def __init__(self, url: str, api_key: str | None, batch_size: int = 8, timeout: float = 60,
                 retries: int = 3):
        import requests

        if not url:
            raise EvaluationError("--via api needs --url (the API's base URL, e.g. .../beta)")
        url = url.rstrip("/")
        self.url = url if url.endswith("/predict") else url + "/predict"
        self.batch_size = batch_size
        self.timeout = timeout
        self.retries = retries
        self._session = requests.Session()
        self._session.headers["content-type"] = "application/json"
        if api_key:
            self._session.headers["x-api-key"] = api_key
        self.model_id: str | None = None

    def identify(self, sample: bytes) -> tuple[str, list[float]]:
        probs, model_id = self._post([sample])
        return model_id, probs[0]

    def predict(self, bodies: Sequence[bytes]) -> list[list[float]]:
        return self._post(bodies)[0]

    def _post(self, bodies: Sequence[bytes]) -> tuple[list[list[float]], str]:
        import requests

        payload = json.dumps({"images": [base64.b64encode(b).decode("ascii") for b in bodies],
                              "raw": True})
        for attempt in range(self.retries + 1):
            try:
                resp = self._session.post(self.url, data=payload, params={"raw": "true"},
                                          timeout=self.timeout)
            except requests.RequestException as exc:
                if attempt == self.retries:
                    raise EvaluationError(f"{self.url}: {type(exc).__name__}: {exc}") from None
            else:
                if resp.status_code < 500 and resp.status_code != 429:
                    break
                if attempt == self.retries:
                    break
            time.sleep(0.5 * 2 ** attempt)
        if resp.status_code in IMAGE_STATUSES:
            raise RejectedImage(f"HTTP {resp.status_code}: {resp.text[:200]}")
        if resp.status_code != 200:
            raise EvaluationError(f"{self.url}: HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            answer = resp.json()
            probs = [list(map(float, p["probabilities"])) for p in answer["predictions"]]
            model_id = str(answer["model"])
        except (ValueError, KeyError, TypeError) as exc:
            raise EvaluationError(f"{self.url}: unexpected answer ({exc}); does the API support "
                                  f"raw=true?") from None
        if len(probs) != len(bodies):
            raise EvaluationError(f"{self.url}: sent {len(bodies)} images, got {len(probs)} "
                                  f"predictions")
        return probs, model_id


class EndpointSource:
    """The SageMaker runtime contract: invoke_endpoint(ContentType=application/x-image) → JSON array.

    boto3 honours AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME (the local endpoint). The endpoint does not say
    which model it serves, so the cache key is `--model-id` when given, else `endpoint:<name>`.
    """

    name = "endpoint"
    classes = None
    batch_size = 1  # one image per invocation, as the runtime contract has it

    def __init__(self, endpoint_name: str, model_id: str | None = None, region: str | None = None):
        import boto3
        from botocore.config import Config

        if not endpoint_name:
            raise EvaluationError("--via endpoint needs --endpoint (the SageMaker endpoint name)")
        self.endpoint_name = endpoint_name
        self.model_id = model_id or f"endpoint:{endpoint_name}"
        self._client = boto3.client("sagemaker-runtime", region_name=region, config=Config(
            retries={"max_attempts": 4, "mode": "standard"}, max_pool_connections=32))

    def identify(self, sample: bytes) -> tuple[str, None]:
        return self.model_id, None

    def predict(self, bodies: Sequence[bytes]) -> list[list[float]]:
        from botocore.exceptions import BotoCoreError, ClientError

        out = []
        for body in bodies:
            try:
                resp = self._client.invoke_endpoint(EndpointName=self.endpoint_name, Body=body,
                                                    ContentType=IMAGE_TYPE,
                                                    Accept="application/json")
                answer = json.loads(resp["Body"].read())
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ModelError":
                    raise RejectedImage(f"ModelError: {exc}"[:300]) from None
                raise EvaluationError(f"endpoint {self.endpoint_name}: {exc}") from None
            except BotoCoreError as exc:
                raise EvaluationError(f"endpoint {self.endpoint_name}: {exc}") from None
            except ValueError as exc:
                raise EvaluationError(f"endpoint {self.endpoint_name}: answer is not JSON "
                                      f"({exc})") from None
            if answer and isinstance(answer[0], list):  # a batch answer for one image
                answer = answer[0]
            out.append([float(p) for p in answer])
        return out


VIAS = ("model", "endpoint", "api")


def from_options(via: str, *, model: str | None = None, url: str | None = None,
                 api_key: str | None = None, endpoint: str | None = None, model_id: str | None = None,
                 batch_size: int = 8) -> PredictionSource:
    """The source `invoke evaluate --via` names: the artifact (--model, default: the trained one), the
    API (--url, default $DOGS_API_URL, else `invoke serve`'s) or the SageMaker endpoint."""
    import os

    import ops.state as state

    if via == "model":
        from ops.artifact import model_path

        return ModelSource(model_path(model), batch_size=batch_size)
    if via == "api":
        url = (url or os.environ.get("DOGS_API_URL")
               or (state.read("serve") or {}).get("predict_url", ""))  # `invoke serve`
        return ApiSource(url, api_key or os.environ.get("DOGS_API_KEY"), batch_size=batch_size)
    if via == "endpoint":
        return EndpointSource(endpoint, model_id)
    raise EvaluationError(f"--via {via}: choose api, endpoint or model")
