"""Train on SageMaker: upload photos + LST files, create the training job, wait, record the artifact.

Two algorithms, one data layout in `s3://<bucket>/<prefix>`:

    images/<breed folder>/<file>.jpg          the photos: the `train` and `validation` channels
                                              (the LST files select each split's photos)
    train_lst/<split>/<split>_train.lst       the `train_lst` channel (+ classes.json, for our script)
    validation_lst/<split>/<split>_test.lst   the `validation_lst` channel (+ classes.json)
    code/sourcedir-<hash>.tar.gz              our `training/` package (--algorithm pytorch)
    output/<job>/output/model.tar.gz          the artifact
    checkpoints/<job>/                        checkpoints (managed spot training resumes from them)

`--algorithm builtin` runs SageMaker's image-classification algorithm exactly as the original write-up
did (four channels, content type application/x-image); `--algorithm pytorch` runs `training/train.py`
in the SageMaker PyTorch training image the way the SageMaker Python SDK launches script mode.
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ops.core import config as config_mod
from ops.core import naming, state
from ops.train import sagemaker_images, training_cost
from ops.core.aws_clients import aws_errors, s3_client, session_for
from ops.train.job_account import resolve_bucket, resolve_role
from ops.train.job_inputs import (ENTRY_POINT, check_photos, count_classes, data_uploads, source_archive,
                                 upload_inputs)
from ops.train.job_watch import METRIC_DEFINITIONS, wait_for_training_job
from training import classmap
from training import hyperparameters as hp
from training import lst
from training.errors import UserError

ALGORITHMS = ("builtin", "pytorch")
CONTENT_TYPE = "application/x-image"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
PROJECT_TAG = {"Key": naming.PROJECT_TAG_KEY, "Value": naming.project_tags()[naming.PROJECT_TAG_KEY]}


# Built-in keys beyond the original's table that image input needs (resize) or that we always set.
BUILTIN_EXTRA_KEYS = ("resize", "top_k")


@dataclass
class JobPlan:
    """Everything a training job (or a tuning job's training definition) is made of."""
    algorithm: str
    region: str
    bucket: str
    prefix: str
    settings: dict[str, Any]
    role_arn: str
    image: str
    hyperparameters: dict[str, str]
    channels: list[dict]
    uploads: list[tuple[str, dict[str, Path]]] = field(default_factory=list)  # (what, {key: path})
    source: tuple[str, bytes] | None = None  # (key, sourcedir.tar.gz) for --algorithm pytorch
    metric_definitions: list[dict] | None = None

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def algorithm_specification(self, *, tuning: bool = False) -> dict:
        spec = {"TrainingImage": self.image, "TrainingInputMode": "File"}
        if self.metric_definitions:
            spec["MetricDefinitions"] = self.metric_definitions
            if not tuning:  # as the SDK does; a tuning job's definition has no such field
                spec["EnableSageMakerMetricsTimeSeries"] = True
        return spec

    def common(self) -> dict:
        """The request fields a training job and a tuning job's definition share."""
        s = self.settings
        stopping = {"MaxRuntimeInSeconds": round(s["max_runtime_hours"] * 3600)}
        if s["spot"]:
            stopping["MaxWaitTimeInSeconds"] = round(s["max_wait_hours"] * 3600)
        return {
            "RoleArn": self.role_arn,
            "InputDataConfig": self.channels,
            "OutputDataConfig": {"S3OutputPath": self.uri("output/")},
            "ResourceConfig": {"InstanceType": s["instance_type"],
                               "InstanceCount": s["instance_count"],
                               "VolumeSizeInGB": s["volume_size"]},
            "StoppingCondition": stopping,
            "EnableManagedSpotTraining": s["spot"],
        }

    def tags(self) -> list[dict]:
        extra = {"algorithm": self.algorithm, **self.settings["tags"]}
        return [PROJECT_TAG] + [{"Key": k, "Value": v} for k, v in extra.items()
                                if k != PROJECT_TAG["Key"]]

    def training_request(self, job_name: str) -> dict:
        hyper = dict(self.hyperparameters)
        if self.algorithm == "pytorch":
            hyper["sagemaker_job_name"] = json.dumps(job_name)
        return {
            "TrainingJobName": job_name,
            "AlgorithmSpecification": self.algorithm_specification(),
            "HyperParameters": hyper,
            **self.common(),
            "CheckpointConfig": {"S3Uri": self.uri(f"checkpoints/{job_name}/"),
                                 "LocalPath": CHECKPOINT_LOCAL_PATH},
            "Tags": self.tags(),
        }

    def cost(self) -> training_cost.CostEstimate:
        s = self.settings
        return training_cost.estimate(s["instance_type"], s["instance_count"],
                                      s["max_runtime_hours"], s["spot"])


def train_job(cfg: config_mod.Config, *, data_dir: str | Path, lst_dir: str | Path,
              fold: int | None = None, algorithm: str = "pytorch", dry_run: bool = False,
              overrides: Mapping[str, Any] | None = None, wait: bool = True, session=None,
              poll_seconds: float = 30, sleep: Callable[[float], None] = time.sleep,
              echo: Callable[[str], None] = print) -> dict:
    """Run (or, with dry_run, print) a SageMaker training job; record its artifact once complete.

    `overrides` holds hyperparameters and/or `aws` config keys (e.g. `role_arn`, `instance_type`)
    given on the command line; the `local` config section is not applied.
    """
    plan = plan_job(cfg, data_dir=data_dir, lst_dir=lst_dir, fold=fold, algorithm=algorithm,
                    overrides=overrides, session=session, dry_run=dry_run, echo=echo)
    request = plan.training_request(job_name(algorithm))
    if dry_run:
        cost = plan.cost()
        echo(json.dumps(request, indent=2))
        echo(cost.describe())
        return {"dry_run": True, "request": request, "cost": cost.as_dict()}
    session = session_for(plan.region, session)
    upload_inputs(plan, session, echo=echo)
    client = session.client("sagemaker")
    with aws_errors(f"creating training job {request['TrainingJobName']}"):
        client.create_training_job(**request)
    name = request["TrainingJobName"]
    echo(f"Training job {name} created: https://{plan.region}.console.aws.amazon.com/sagemaker/"
         f"home?region={plan.region}#/jobs/{name}")
    if not wait:
        return {"job_name": name, "status": "InProgress"}
    described = wait_for_training_job(client, name, logs=session.client("logs"),
                                      poll_seconds=poll_seconds, sleep=sleep, echo=echo)
    if plan.algorithm == "builtin":
        record_builtin_sidecars(plan, described, Path(lst_dir), s3_client(session), echo=echo)
    return record_artifact(described, plan.algorithm, echo=echo)


def record_builtin_sidecars(plan: JobPlan, described: dict, lst_dir: Path, s3, *,
                            echo: Callable[[str], None] = print) -> list[str]:
    """The built-in algorithm's model.tar.gz holds no class map: write classes.json and model.json
    beside it, so deploy reads the artifact's record from S3 alone (ops/core/model_record.py)."""
    from ops.core import model_record

    classes_file = lst_dir / classmap.FILENAME
    if classes_file.is_file():
        classes = classmap.load(classes_file)
    else:  # as count_classes: no class map, only ids
        classes = classmap.from_folders(f"class-{i:03d}" for i in range(int(plan.hyperparameters["num_classes"])))
    name = described["TrainingJobName"]
    model = {"model_id": name, "algorithm": "builtin",
             "framework_version": plan.image.rsplit(":", 1)[-1],
             "metrics": {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList") or []},
             "provenance": {"training_job": name, "region": plan.region, "image": plan.image,
                            "data": plan.uri("images/")}}
    with aws_errors(f"writing the class map beside {described['ModelArtifacts']['S3ModelArtifacts']}"):
        written = model_record.write_sidecars(s3, described["ModelArtifacts"]["S3ModelArtifacts"],
                                              classmap.to_json(classes), model)
    echo("class map recorded: " + ", ".join(written))
    return written


def plan_job(cfg: config_mod.Config, *, data_dir, lst_dir, fold, algorithm, overrides, session,
             dry_run: bool, echo: Callable[[str], None] = print) -> JobPlan:
    """Check the inputs and work out the job; uploads nothing."""
    if algorithm not in ALGORITHMS:
        raise UserError(f"--algorithm {algorithm!r}: allowed: {', '.join(ALGORITHMS)}")
    hyper_overrides, aws_overrides = split_overrides(overrides)
    settings = {**cfg.aws, **aws_overrides}
    values = hp.validate({**cfg.training_hyperparameters("aws"), **hyper_overrides})
    data_dir, lst_dir = Path(data_dir), Path(lst_dir)
    train_lst, test_lst = lst.find_split(lst_dir, fold)
    train, test = lst.read_lst(train_lst), lst.read_lst(test_lst)
    photos = check_photos(data_dir, train + test)
    values = hp.resolve_derived(values, num_classes=count_classes(lst_dir, train + test),
                                num_training_samples=len(train))
    region = settings["region"]
    session = session_for(region, session)
    bucket = resolve_bucket(settings, session, dry_run=dry_run, echo=echo)
    role = resolve_role(settings, dry_run=dry_run, echo=echo)
    split = train_lst.name[: -len("_train.lst")]
    plan = JobPlan(algorithm, region, bucket, settings["prefix"], settings, role, "", {}, [])
    plan.uploads = data_uploads(plan, photos, lst_dir, split, train_lst, test_lst)
    if algorithm == "builtin":
        _plan_builtin(plan, values, split, train_lst, test_lst)
    else:
        _plan_pytorch(plan, values, split)
    return plan


def split_overrides(overrides: Mapping[str, Any] | None) -> tuple[dict, dict]:
    """Hyperparameter overrides (validated) and `aws` setting overrides (validated)."""
    hyper, aws = {}, {}
    for key, value in (overrides or {}).items():
        if key in config_mod.AWS_KEYS:
            aws[key] = _coerce_setting(key, value)
        else:
            hyper[key] = value
    return (hp.validate(hyper, fill_defaults=False),
            config_mod.validate_aws_values(aws, "command line"))


def _coerce_setting(key: str, value: Any) -> Any:
    kind = config_mod.AWS_KEYS[key][0]
    if isinstance(value, str) and kind in (int, (int, float)):
        try:
            return int(value) if kind is int else float(value)
        except ValueError:
            return value  # validation reports it
    return value


def job_name(algorithm: str) -> str:
    """Unique, sortable, at most 63 characters: dog-breeds-pytorch-20261127-154012-a1b2."""
    return f"{naming.NAME}-{algorithm}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-" \
           f"{secrets.token_hex(2)}"


def _channel(name: str, uri: str) -> dict:
    return {"ChannelName": name,
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                            "S3DataDistributionType": "FullyReplicated"}},
            "ContentType": CONTENT_TYPE, "CompressionType": "None", "RecordWrapperType": "None"}


def _channels(plan: JobPlan, train_lst: str, validation_lst: str) -> list[dict]:
    """The four channels: the photos for `train` and `validation`, and each split's LST (keys under
    the prefix)."""
    return [_channel("train", plan.uri("images/")), _channel("validation", plan.uri("images/")),
            _channel("train_lst", plan.uri(train_lst)), _channel("validation_lst", plan.uri(validation_lst))]


def _plan_builtin(plan: JobPlan, values: dict, split: str, train_lst: Path, test_lst: Path) -> None:
    if values.get("backbone", "resnet") != "resnet":
        raise UserError(f"backbone {values['backbone']!r} needs --algorithm pytorch; the built-in "
                        "algorithm trains a ResNet (num_layers)")
    keys = hp.ORIGINAL_KEYS + BUILTIN_EXTRA_KEYS + (
        ("lr_scheduler_step",) if values.get("lr_scheduler_step") else ())
    plan.hyperparameters = hp.to_sagemaker({k: values[k] for k in keys}, builtin_only=True)
    plan.image = sagemaker_images.builtin_image(plan.region)
    # The LST channels name their one file: the built-in algorithm reads what its channel holds.
    plan.channels = _channels(plan, f"train_lst/{split}/{train_lst.name}",
                              f"validation_lst/{split}/{test_lst.name}")


def _plan_pytorch(plan: JobPlan, values: dict, split: str) -> None:
    s = plan.settings
    resolved = sagemaker_images.pytorch_version(s["pytorch_version"])
    version, py_version = resolved.version, resolved.py_version("training")
    plan.image = sagemaker_images.pytorch_image(plan.region, s["pytorch_version"], "training",
                                                s["instance_type"])
    archive = source_archive()
    key = f"{plan.prefix}code/sourcedir-{hashlib.sha256(archive).hexdigest()[:16]}.tar.gz"
    plan.source = (key, archive)
    # What the SDK's PyTorch estimator sets (its values JSON-encoded, as the SDK does); our own
    # hyperparameters are the plain strings the built-in algorithm gets too.
    plan.hyperparameters = {
        **hp.to_sagemaker(values),
        "sagemaker_program": json.dumps(ENTRY_POINT),
        "sagemaker_submit_directory": json.dumps(f"s3://{plan.bucket}/{key}"),
        "sagemaker_container_log_level": json.dumps(logging.INFO),
        "sagemaker_region": json.dumps(plan.region),
    }
    if s["instance_count"] > 1:
        _check_torch_distributed(s["instance_type"], version, py_version)
        plan.hyperparameters["sagemaker_torch_distributed_enabled"] = json.dumps(True)
        plan.hyperparameters["sagemaker_instance_type"] = json.dumps(s["instance_type"])
    plan.metric_definitions = METRIC_DEFINITIONS
    plan.channels = _channels(plan, f"train_lst/{split}/", f"validation_lst/{split}/")


def _check_torch_distributed(instance_type: str, version: str, py_version: str) -> None:
    try:
        sagemaker_images.sdk().fw_utils.validate_torch_distributed_distribution(
            instance_type, {"torch_distributed": {"enabled": True}}, version, py_version, None,
            ENTRY_POINT)
    except ValueError as exc:
        raise UserError(f"instance_count > 1 trains with torch_distributed, which SageMaker does "
                        f"not offer here: {' '.join(str(exc).split())}") from None


def record_artifact(described: dict, algorithm: str, *, echo: Callable[[str], None] = print,
                    extra: Mapping[str, Any] | None = None) -> dict:
    """Record the completed job's model.tar.gz in the project state for `invoke deploy`."""
    name = described["TrainingJobName"]
    artifact = state.record_trained(state.TrainedArtifact(
        s3_uri=described["ModelArtifacts"]["S3ModelArtifacts"], model_id=name, job_name=name,
        algorithm=algorithm, region=described["TrainingJobArn"].split(":")[3], **(extra or {})))
    echo(f"Artifact: {artifact.s3_uri} (recorded in {state.state_file()})")
    return {"status": described["TrainingJobStatus"], **artifact.as_dict()}
