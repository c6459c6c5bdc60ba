"""Which model a deploy serves: the artifact `invoke train` recorded, or --model-data (s3://...), or one
from the model history; what it is (class map, model id, algorithm) from the options, else the artifact's
own record (ops/core/model_record.py); and the images that serve and train it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ops.emulator import local_aws
from ops.deploy import model_history
from ops.core import model_record, state
from ops.train import sagemaker_images
from ops.train.aws_training import ALGORITHMS
from ops.core.config import AWS_DEFAULTS
from ops.core.model_record import S3_URL
from training import classmap
from training.errors import UserError

DEFAULT_ALGORITHM = "pytorch"  # an artifact given by --model-data without a record of its training


class DeployError(UserError):
    """The model to deploy, or the deployment, is not there or not usable."""


@dataclass
class Model:
    """The model a deploy serves, and where its artifact is."""
    model_data_url: str
    model_id: str
    class_names: list[str]
    local_path: Path | None = None  # uploaded to the local AWS's S3 for target local
    algorithm: str = DEFAULT_ALGORITHM  # what trained it: pytorch (our script) or builtin (SageMaker's)
    validation_accuracy: float | None = None  # from the artifact's record, when read
    framework_version: str | None = None  # the torch that saved it (model.json), when recorded
    serving_python: str | None = None  # the Python of the runtime it carries (model.json), when it does


def find_model(model_data: str | None = None, classes: str | None = None,
               algorithm: str | None = None, s3: Callable[[], Any] | None = None) -> Model:
    """The model to serve: --model-data, else the artifact `invoke train` recorded. What it is (class
    map, model id, algorithm) comes from --classes / --algorithm, else the artifact's own record
    (ops/core/model_record.py: inside model.tar.gz, or beside it in S3, read with the client `s3()` makes)."""
    _check_algorithm_option(algorithm)
    artifact = state.trained()
    if model_data is None and artifact is None:
        raise DeployError("no trained model: run `invoke train` first, or pass --model-data s3://.../model.tar.gz")
    if model_data is not None and (artifact is None or model_data != artifact.s3_uri):
        artifact = None  # another artifact than the trained one: its own record counts
    local_path = Path(artifact.local_path) if artifact and artifact.local_path else None
    if model_data is None:
        model_data = artifact.s3_uri
    if local_path is not None and not local_path.is_file():
        raise DeployError(f"the trained artifact {local_path} is missing; run `invoke train` again")
    if not model_data and local_path is None:
        raise DeployError("the trained artifact has neither an S3 copy nor a local file; "
                          "run `invoke train` again, or pass --model-data s3://.../model.tar.gz")
    if model_data and not S3_URL.match(model_data):
        raise DeployError(f"--model-data {model_data!r}: must be an S3 URL, s3://<bucket>/<key>/model.tar.gz")
    return _described(model_data, local_path, artifact, classes, algorithm, s3)


def model_from_file(path: Path, classes: str | None = None, algorithm: str | None = None,
                    s3: Callable[[], Any] | None = None) -> Model:
    """A model.tar.gz on this machine (`invoke deploy --model FILE`): the recorded artifact, or any
    other, described by the same rules as find_model (the options, else the record inside it)."""
    recorded = (state.trained() or state.TrainedArtifact()).local_path
    if recorded and Path(recorded).resolve() == path.resolve():
        return find_model(None, classes, algorithm, s3)
    _check_algorithm_option(algorithm)
    return _described("", path.resolve(), None, classes, algorithm, s3)


def _check_algorithm_option(algorithm: str | None) -> None:
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise DeployError(f"--algorithm {algorithm!r}: allowed: {', '.join(ALGORITHMS)}")


def _described(model_data: str, local_path: Path | None, artifact: state.TrainedArtifact | None,
               classes: str | None, algorithm: str | None, s3: Callable[[], Any] | None) -> Model:
    """The model at `model_data` / `local_path`: class names, id and algorithm from the options, else
    the recorded `artifact`, else the artifact's own record."""
    record = None if classes else _record(local_path, model_data, s3)
    names = [c.name for c in classmap.load(classes)] if classes else record.class_names
    recorded = (artifact.algorithm if artifact else None) or (record.algorithm if record else None)
    model_id = (artifact.model_id if artifact else None) or (record.model_id if record else None)
    accuracy = (record.metrics.get("validation_accuracy") if record else None)
    return Model(model_data, _model_id(model_id, model_data or str(local_path)), names, local_path,
                 _algorithm(algorithm, recorded), accuracy, record.framework_version if record else None,
                 record.serving_python if record else None)


def _record(local_path: Path | None, model_data: str, s3: Callable[[], Any] | None):
    """The artifact's own record: from the local file when there is one, else from S3."""
    if local_path is not None:
        return model_record.read(local_path)
    return model_record.read(model_data, s3() if s3 else None)


def s3_reader(target: str, region: str) -> Callable[[], Any]:
    """Makes the S3 client model records are read with: the local AWS's, or AWS's for `region`."""
    def make():
        if target == "local":
            return local_aws.s3_client()
        from ops.core.aws_clients import s3_client

        return s3_client(region=region)
    return make


def _algorithm(option: str | None, recorded: str | None) -> str:
    """The artifact's algorithm (its record) wins; --algorithm names it for an artifact without one."""
    if option and recorded and option != recorded:
        raise DeployError(f"--algorithm {option}: the recorded artifact was trained with --algorithm "
                          f"{recorded}; leave --algorithm out, or pass --model-data for another artifact")
    return recorded or option or DEFAULT_ALGORITHM


def _model_id(model_id: str | None, location: str) -> str:
    """The recorded id, else the name of the folder the artifact is in; as SageMaker names allow."""
    if model_id:
        return re.sub(r"[^A-Za-z0-9._:-]", "-", model_id)[:128]
    parts = [p for p in location.split("/")[:-1] if p and p != "s3:"]
    return re.sub(r"[^A-Za-z0-9._:-]", "-", parts[-1] if parts else "unknown")[:128]


def image_uri(region: str, instance_type: str = "ml.m5.large", algorithm: str = DEFAULT_ALGORITHM,
              pytorch_version: str = AWS_DEFAULTS["pytorch_version"]) -> str:
    """The inference image for the model: the built-in algorithm's own, or the SageMaker PyTorch
    inference image of the version it was trained with (CPU unless a GPU instance type is chosen)."""
    if algorithm == "builtin":
        return sagemaker_images.builtin_image(region)
    return sagemaker_images.pytorch_image(region, pytorch_version, "inference", instance_type)


def training_images(region: str, pytorch_version: str, instance_type: str) -> list[str]:
    """The images training jobs run in, which the training role may pull: ours and the built-in's."""
    return [sagemaker_images.pytorch_image(region, pytorch_version, "training", instance_type),
            sagemaker_images.builtin_image(region)]


def model_from_history(model_id: str) -> Model:
    """An earlier deployed model, as recorded (its artifact is in S3 where it was served from)."""
    entry = model_history.find(model_id)
    return Model(entry["model_data_url"], entry["model_id"], entry["class_names"], None, entry["algorithm"],
                 entry.get("validation_accuracy"))
