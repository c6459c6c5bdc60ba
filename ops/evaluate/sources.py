"""Where predictions come from: the API, the SageMaker endpoint, or the model artifact in-process.

Every source answers a batch of image bodies with one `PhotoPrediction` per image: the probabilities in
class-id order and, when the model has one, its known-breed verdict (`known_breed_score`,
`is_known_breed` at the threshold stored in the artifact). Each source names the model it runs (the
prediction cache is keyed by that name). The API tells which model answered in each response, so the API
source learns the id from its first request (`identify`), which also predicts that first photo.

`open_source` builds the source `invoke evaluate --via` names, finding the API as `invoke predict` does
(`ops.client.predict_client.resolve`) and the artifact as the other commands do (`ops.core.artifact`).
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from ops.core.artifact import VERBOSE_JSON, load_artifact, recorded_artifact
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


@dataclass(frozen=True)
class PhotoPrediction:
    """One image's answer: class probabilities, and the known-breed verdict when the model gives one."""
    probabilities: list[float]
    known_breed_score: float | None = None  # 0-1, higher = more likely one of the model's breeds
    is_known_breed: bool | None = None      # the score at or above the model's stored threshold

    def as_json(self) -> Any:
        """The model's own answer shape: the probability array, or the verbose object around it."""
        if self.known_breed_score is None:
            return self.probabilities
        return {"probabilities": self.probabilities, "known_breed_score": self.known_breed_score,
                "is_known_breed": self.is_known_breed}


def as_prediction(answer: Any, where: str = "the model") -> PhotoPrediction:
    """A model answer (the probability array, or {probabilities, known_breed_score, is_known_breed})."""
    try:
        if not isinstance(answer, dict):
            return PhotoPrediction([float(p) for p in answer])
        probabilities = [float(p) for p in answer["probabilities"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise EvaluationError(f"{where}: not a probability list ({type(exc).__name__}: {exc})") from None
    score, known = answer.get("known_breed_score"), answer.get("is_known_breed")
    if score is None and known is None:
        return PhotoPrediction(probabilities)
    if (isinstance(score, bool) or not isinstance(score, (int, float)) or not isinstance(known, bool)
            or not 0.0 <= score <= 1.0):
        raise EvaluationError(f"{where}: a known-breed score that is not a number in [0, 1] with a "
                              f"boolean verdict ({score!r}, {known!r})")
    return PhotoPrediction(probabilities, float(score), known)


class PredictionSource(Protocol):
    name: str          # api | endpoint | model
    batch_size: int    # images per request
    classes: list | None  # the model's class map when it knows it (BreedClass list or names)
    known_breed_threshold: float | None  # the stored threshold, when the source can read it

    def identify(self, sample: bytes) -> tuple[str, PhotoPrediction | None]:
        """(model id, the sample's prediction if predicting it was needed to learn the id)."""

    def predict(self, bodies: Sequence[bytes]) -> list[PhotoPrediction]:
        """The prediction of each image, in order."""


def open_source(via: str, *, model=None, url: str | None = None, api_key: str | None = None,
                target: str = "local", endpoint: str | None = None, model_id: str | None = None,
                batch_size: int = 8, known_breed: bool = False) -> PredictionSource:
    """The source `--via` names. `model`: the artifact (default: the one `invoke train` recorded);
    `url`/`api_key`: the API's (default: as `invoke predict` finds them for `target`); `endpoint`,
    `model_id`: the SageMaker endpoint's name and the cache key; `known_breed`: ask the endpoint for its
    verbose answer (the artifact and the API always give the verdict when the model has one)."""
    if via == "model":
        return ArtifactSource(model or recorded_artifact(), batch_size=batch_size)
    if via == "api":
        from ops.client.predict_client import resolve

        url, api_key = resolve(url, api_key, target)
        return ApiSource(url, api_key, batch_size=batch_size)
    if via == "endpoint":
        return EndpointSource(endpoint, model_id, verbose=known_breed)
    raise EvaluationError(f"--via {via}: choose api, endpoint or model")


class ArtifactSource:
    """The model artifact (model.tar.gz) loaded in-process through `ops.core.artifact`, answering as the
    endpoint answers an Accept of `application/json; verbose=true` (training/inference.py's `answer`).

    Concurrency comes from the evaluation's worker threads, each predicting one photo with one torch
    thread: on a few shared cores, N single-threaded predictions at once are much faster than one
    N-threaded one (whose OpenMP threads spin-wait for each other when a core is busy elsewhere).
    """

    name = "model"

    def __init__(self, artifact_path, batch_size: int = 8, torch_threads: int | None = 1):
        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)
        self.model = load_artifact(artifact_path)
        self.batch_size = batch_size
        self.classes = list(self.model.classes)
        self.known_breed_threshold = (self.model.description.get("known_breed") or {}).get("threshold")

    def identify(self, sample: bytes) -> tuple[str, None]:
        return str(self.model.model_id), None

    def predict(self, bodies: Sequence[bytes]) -> list[PhotoPrediction]:
        return [self._predict_one(body) for body in bodies]

    def _predict_one(self, body: bytes) -> PhotoPrediction:
        """The handler's own decode, preprocessing, forward pass and answer; a photo it refuses (a 4xx
        status) is a RejectedImage."""
        try:
            return as_prediction(self.model.predict_verbose(body, IMAGE_TYPE))
        except Exception as exc:
            if 400 <= (getattr(exc, "status_code", None) or 0) < 500:
                raise RejectedImage(str(exc)[:300]) from None
            raise


class ApiSource:
    """`POST <url>/predict` with {"images": [base64...], "raw": true} and header x-api-key."""

    name = "api"
    classes = None
    known_breed_threshold = None  # the API gives each verdict, not the threshold

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

    def identify(self, sample: bytes) -> tuple[str, PhotoPrediction]:
        answers, model_id = self._post([sample])
        return model_id, answers[0]

    def predict(self, bodies: Sequence[bytes]) -> list[PhotoPrediction]:
        return self._post(bodies)[0]

    def _post(self, bodies: Sequence[bytes]) -> tuple[list[PhotoPrediction], str]:
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
            items, model_id = answer["predictions"], str(answer["model"])
            if not all("probabilities" in p for p in items):
                raise KeyError("probabilities")
        except (ValueError, KeyError, TypeError) as exc:
            raise EvaluationError(f"{self.url}: unexpected answer ({exc}); does the API support "
                                  f"raw=true?") from None
        answers = [as_prediction(p, self.url) for p in items]
        if len(answers) != len(bodies):
            raise EvaluationError(f"{self.url}: sent {len(bodies)} images, got {len(answers)} "
                                  f"predictions")
        return answers, model_id


class EndpointSource:
    """The SageMaker runtime contract: invoke_endpoint(ContentType=application/x-image) → JSON array.

    boto3 honours AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME (the local endpoint). The endpoint does not say
    which model it serves, so the cache key is `--model-id` when given, else `endpoint:<name>`.
    """

    name = "endpoint"
    classes = None
    known_breed_threshold = None
    batch_size = 1  # one image per invocation, as the runtime contract has it

    def __init__(self, endpoint_name: str, model_id: str | None = None, region: str | None = None,
                 verbose: bool = False):
        import boto3
        from botocore.config import Config

        if not endpoint_name:
            raise EvaluationError("--via endpoint needs --endpoint (the SageMaker endpoint name)")
        self.endpoint_name = endpoint_name
        self.model_id = model_id or f"endpoint:{endpoint_name}"
        # Only this project's image knows the verbose parameter; the built-in algorithm's own verbose
        # answer is another shape, so it is asked for only when the known-breed figures are wanted.
        self.accept = VERBOSE_JSON if verbose else "application/json"
        self._client = boto3.client("sagemaker-runtime", region_name=region, config=Config(
            retries={"max_attempts": 4, "mode": "standard"}, max_pool_connections=32))

    def identify(self, sample: bytes) -> tuple[str, None]:
        return self.model_id, None

    def predict(self, bodies: Sequence[bytes]) -> list[PhotoPrediction]:
        from botocore.exceptions import BotoCoreError, ClientError

        out = []
        for body in bodies:
            try:
                resp = self._client.invoke_endpoint(EndpointName=self.endpoint_name, Body=body,
                                                    ContentType=IMAGE_TYPE, Accept=self.accept)
                answer = json.loads(resp["Body"].read())
            except ClientError as exc:
                raise self._refusal(exc) from None
            except BotoCoreError as exc:
                raise EvaluationError(f"endpoint {self.endpoint_name}: {exc}") from None
            except ValueError as exc:
                raise EvaluationError(f"endpoint {self.endpoint_name}: answer is not JSON "
                                      f"({exc})") from None
            if isinstance(answer, list) and answer and isinstance(answer[0], list):  # a batch of one
                answer = answer[0]
            out.append(as_prediction(answer, f"endpoint {self.endpoint_name}"))
        return out

    def _refusal(self, exc) -> EvaluationError:
        """A ModelError carrying the container's 4xx refuses that photo (RejectedImage); anything else,
        the model's 5xx included, stops the evaluation (as a 5xx through the API does)."""
        status = exc.response.get("OriginalStatusCode")
        if (exc.response.get("Error", {}).get("Code") == "ModelError" and isinstance(status, int)
                and 400 <= status < 500):
            return RejectedImage(f"ModelError: {exc}"[:300])
        return EvaluationError(f"endpoint {self.endpoint_name}: {exc}")


VIAS = ("model", "endpoint", "api")
