"""One record of a trained model, read from the artifact itself, wherever it lives (S3 or this disk).

A model.tar.gz of our training script carries `classes.json`, `model.json` (model id, backbone, torch
version) and `metrics.json`; they are read from the archive as a stream (an S3 object is not
downloaded to disk, and reading stops once the three are found). A built-in-algorithm artifact holds
only the algorithm's own files: `invoke train --algorithm builtin` writes `classes.json` and
`model.json` beside it in S3 (`write_sidecars`), and those are read instead.

So `invoke deploy` / `invoke plan` need nothing but `--model-data s3://.../model.tar.gz`, on any machine.
"""
from __future__ import annotations

import json
import re
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ops.core.artifact import ArtifactError, check_member
from training import classmap

S3_URL = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")
RECORD_FILES = (classmap.FILENAME, "model.json", "metrics.json")
MAX_RECORD_FILE_BYTES = 2**20  # classes.json of the 120 Stanford breeds is about 10 kB


class ModelRecordError(ArtifactError):
    """The artifact cannot be read, or says nothing about the model it holds."""


@dataclass
class ModelRecord:
    """What deploy, the model history and the reviewer need to know about an artifact."""
    location: str                      # s3://.../model.tar.gz or a local path
    class_names: list[str]
    model_id: str | None = None
    algorithm: str = "pytorch"         # pytorch: training/train.py; builtin: SageMaker's algorithm
    framework_version: str | None = None
    serving_python: str | None = None  # the Python the runtime it carries is built for (model.json)
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read(location: str | Path, s3=None) -> ModelRecord:
    """The record of the artifact at `location` (s3:// URL, read with the boto3 client `s3`, or a path)."""
    text = str(location)
    match = S3_URL.match(text)
    if match:
        if s3 is None:
            raise ModelRecordError(f"{text}: reading an S3 artifact needs an S3 client")
        files = _from_s3(s3, *match.groups())
    else:
        path = Path(location)
        if not path.is_file():
            raise ModelRecordError(f"{path}: no such model artifact")
        with open(path, "rb") as stream:
            files = record_files(stream, text)
    return from_files(text, files)


def from_files(location: str, files: dict[str, str]) -> ModelRecord:
    """Build the record from the texts of classes.json, model.json and metrics.json (the last two optional)."""
    if classmap.FILENAME not in files:
        raise ModelRecordError(f"{location}: no class map in the artifact or beside it (classes.json); "
                               "pass --classes <folder or classes.json> (written by `invoke lst`)")
    names = [c.name for c in classmap.from_json(files[classmap.FILENAME], f"{location}:classes.json")]
    model = _json(files.get("model.json"), location, "model.json")
    metrics = _json(files.get("metrics.json"), location, "metrics.json")
    return ModelRecord(
        location=location, class_names=names, model_id=model.get("model_id"),
        algorithm=model.get("algorithm", "pytorch"),
        framework_version=model.get("framework_version") or model.get("torch_version"),
        serving_python=(model.get("serving_runtime") or {}).get("python"),
        metrics=summary_metrics(metrics) or model.get("metrics", {}),
        provenance=model.get("provenance", {}))


def summary_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The best epoch's validation figures of our script's metrics.json."""
    best = metrics.get("best") or {}
    return {k: best[k] for k in ("validation_accuracy", "validation_top_k_accuracy", "epoch")
            if k in best}


def record_files(stream: IO[bytes], where: str) -> dict[str, str]:
    """classes.json, model.json, metrics.json from the top of a model.tar.gz read as a stream;
    stops once all three are read. Caps, links and names are checked member by member."""
    found: dict[str, str] = {}
    members = size = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                members, size = check_member(member, where, members, size)
                name = PurePosixPath(member.name)
                if not member.isfile() or len(name.parts) != 1 or name.name not in RECORD_FILES:
                    continue  # the record lies at the top ("./" is normalised away)
                if member.size > MAX_RECORD_FILE_BYTES:
                    raise ModelRecordError(f"{where}: {member.name} is {member.size} bytes; at most "
                                           f"{MAX_RECORD_FILE_BYTES} (pass --classes)")
                found[name.name] = tar.extractfile(member).read().decode("utf-8")
                if len(found) == len(RECORD_FILES):
                    break
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as exc:
        raise ModelRecordError(f"{where}: not a readable model.tar.gz ({exc})") from None
    return found


def _from_s3(s3, bucket: str, key: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    where = f"s3://{bucket}/{key}"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Error")
        raise ModelRecordError(f"{where}: cannot read the artifact ({code}); is --model-data right, "
                               "and may these credentials read it?") from None
    try:
        files = record_files(body, where)
    finally:
        body.close()
    if classmap.FILENAME not in files:
        files = {**_sidecars(s3, bucket, key), **files}
    return files


def sidecar_keys(key: str) -> dict[str, str]:
    """Where the record of an artifact without one inside lies: beside model.tar.gz."""
    folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
    return {name: folder + name for name in (classmap.FILENAME, "model.json")}


def _sidecars(s3, bucket: str, key: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    files = {}
    for name, sidecar in sidecar_keys(key).items():
        try:
            obj = s3.get_object(Bucket=bucket, Key=sidecar)
        except ClientError:
            continue
        if obj["ContentLength"] > MAX_RECORD_FILE_BYTES:
            raise ModelRecordError(f"s3://{bucket}/{sidecar}: {obj['ContentLength']} bytes; at most "
                                   f"{MAX_RECORD_FILE_BYTES}")
        files[name] = obj["Body"].read().decode("utf-8")
    return files


def write_sidecars(s3, model_data_url: str, classes_text: str, model: dict[str, Any]) -> list[str]:
    """Record the class map and model.json beside an artifact that carries none (built-in algorithm)."""
    bucket, key = S3_URL.match(model_data_url).groups()
    written = []
    for name, text in ((classmap.FILENAME, classes_text), ("model.json", json.dumps(model, indent=1))):
        target = sidecar_keys(key)[name]
        s3.put_object(Bucket=bucket, Key=target, Body=text.encode(), ContentType="application/json")
        written.append(f"s3://{bucket}/{target}")
    return written


def _json(text: str | None, location: str, name: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ModelRecordError(f"{location}:{name}: not JSON ({exc})") from None
    return value if isinstance(value, dict) else {}
