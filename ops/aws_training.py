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

import gzip
import hashlib
import io
import json
import logging
import os
import re
import secrets
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from ops import config as config_mod
from ops import naming, s3sync, sagemaker_images, state, training_cost
from ops.aws_clients import AwsError, account_id, aws_errors, s3_client, session_for
from training import classmap
from training import hyperparameters as hp
from training import lst
from training.errors import UserError

ALGORITHMS = ("builtin", "pytorch")
SOURCE_ROOT = config_mod.PROJECT_ROOT  # the folder holding the `training/` package
ENTRY_POINT = "training/train.py"      # relative to SOURCE_ROOT, as SageMaker runs it
CONTENT_TYPE = "application/x-image"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
PROJECT_TAG = {"Key": naming.PROJECT_TAG_KEY, "Value": naming.project_tags()[naming.PROJECT_TAG_KEY]}
TERMINAL = ("Completed", "Failed", "Stopped")

# Our script prints `validation:accuracy=0.912`; SageMaker turns matching log lines into metrics.
# (The built-in algorithm publishes its own metrics and rejects MetricDefinitions: "You can't
# override the metric definitions for Amazon SageMaker algorithms".)
METRIC_NAMES = ("validation:accuracy", "train:accuracy", "validation:loss", "train:loss")
METRIC_DEFINITIONS = [{"Name": n, "Regex": f"{n}=([-+0-9.eE]+)"} for n in METRIC_NAMES]
# What the built-in algorithm logs, e.g. `Epoch[3] Validation-accuracy=0.873047`.
BUILTIN_LOG_METRICS = {"validation:accuracy": r"Validation-accuracy=([0-9.]+)",
                       "train:accuracy": r"Train-accuracy=([0-9.]+)"}
# Built-in keys beyond the original's table that image input needs (resize) or that we always set.
BUILTIN_EXTRA_KEYS = ("resize", "top_k")


class TrainingJobFailed(UserError, RuntimeError):
    """A SageMaker job ended Failed or Stopped."""


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
    beside it, so deploy reads the artifact's record from S3 alone (ops/model_record.py)."""
    from ops import model_record

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


def check_photos(data_dir: Path, entries: list[lst.LstEntry]) -> dict[str, Path]:
    """The photos the LST files list, {relative path: file}; a missing one is an error."""
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: no such photo folder (--data)")
    photos = {e.path: data_dir / e.path for e in entries}
    missing = [p for p, file in photos.items() if not file.is_file()]
    if missing:
        raise UserError(f"{data_dir}: {len(missing)} photos listed in the LST files are missing, "
                        f"e.g. {missing[0]}; is --data the folder the LST files were made from?")
    return photos


def count_classes(lst_dir: Path, entries: list[lst.LstEntry]) -> int:
    if (lst_dir / classmap.FILENAME).exists():
        return len(classmap.load(lst_dir))
    return max(e.class_id for e in entries) + 1


def job_name(algorithm: str) -> str:
    """Unique, sortable, at most 63 characters: dog-breeds-pytorch-20261127-154012-a1b2."""
    return f"{naming.NAME}-{algorithm}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-" \
           f"{secrets.token_hex(2)}"


def resolve_bucket(settings: Mapping[str, Any], session, *, dry_run: bool,
                   echo: Callable[[str], None] = print) -> str:
    """aws.bucket, or dog-breeds-<account>-<region>; a bucket that does not exist is an error."""
    if settings["bucket"]:
        bucket = settings["bucket"]
    else:
        try:
            bucket = naming.bucket_name(account_id(session), settings["region"])
        except AwsError as exc:
            if not dry_run:
                raise
            echo(f"note: {exc}; showing a placeholder bucket")
            return naming.bucket_name("ACCOUNT_ID", settings["region"])
    if not dry_run:
        _check_bucket(session, bucket)
    return bucket


def _check_bucket(session, bucket: str) -> None:
    try:
        s3_client(session).head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            with aws_errors(f"checking bucket s3://{bucket}"):
                raise
        raise AwsError(f"s3://{bucket} does not exist: set aws.bucket in config.yaml to your data "
                       "bucket, or create it (terraform's storage module makes "
                       "dog-breeds-<account>-<region>)") from None
    except BotoCoreError:
        with aws_errors(f"checking bucket s3://{bucket}"):
            raise


def resolve_role(settings: Mapping[str, Any], *, dry_run: bool,
                 echo: Callable[[str], None] = print) -> str:
    """--role / aws.role_arn, else the training role the aws stack's Terraform made (training_role_arn)."""
    if settings["role_arn"]:
        return settings["role_arn"]
    from ops import local_aws

    targets = ("aws", "local") if local_aws.stands_in_for_aws() else ("aws",)
    deployed = next(filter(None, map(deployed_training_role, targets)), None)
    if deployed:
        echo(f"role: {deployed} (the stack's training_role_arn; --role overrides)")
        return deployed
    message = ("no SageMaker training role: create it with `invoke deploy --target aws --training-only` "
               "(terraform's training module: read the data, write output and checkpoints), or pass "
               "--role arn:aws:iam::<account>:role/<name> (or set aws.role_arn in config.yaml)")
    if not dry_run:
        raise UserError(message)
    echo(f"note: {message}; showing a placeholder role")
    return "arn:aws:iam::ACCOUNT_ID:role/SET-aws.role_arn"


def deployed_training_role(target: str = "aws") -> str | None:
    """training_role_arn of the target's stack: the deployment this machine recorded, else the
    Terraform outputs of its working directory (remote state included)."""
    from ops import terraform as tf

    recorded = ((state.read("deployments") or {}).get(target) or {}).get("training_role_arn")
    if recorded:
        return recorded
    if not (tf.workdir(target) / ".terraform").is_dir():
        return None
    try:
        return tf.outputs(target).get("training_role_arn")
    except UserError:
        return None


def data_uploads(plan: JobPlan, photos: Mapping[str, Path], lst_dir: Path, split: str,
                 train_lst: Path, test_lst: Path) -> list[tuple[str, dict[str, Path]]]:
    """What goes where: (description, {S3 key: local file}); only the photos the LSTs list."""
    lists = {}
    for channel, lst_file in (("train_lst", train_lst), ("validation_lst", test_lst)):
        folder = f"{plan.prefix}{channel}/{split}/"
        lists[folder + lst_file.name] = lst_file
        if (lst_dir / classmap.FILENAME).exists():
            lists[folder + classmap.FILENAME] = lst_dir / classmap.FILENAME
    return [("photos", {f"{plan.prefix}images/{path}": file for path, file in photos.items()}),
            ("LST files", lists)]


def _channel(name: str, uri: str) -> dict:
    return {"ChannelName": name,
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                            "S3DataDistributionType": "FullyReplicated"}},
            "ContentType": CONTENT_TYPE, "CompressionType": "None", "RecordWrapperType": "None"}


def _plan_builtin(plan: JobPlan, values: dict, split: str, train_lst: Path, test_lst: Path) -> None:
    if values.get("backbone", "resnet") != "resnet":
        raise UserError(f"backbone {values['backbone']!r} needs --algorithm pytorch; the built-in "
                        "algorithm trains a ResNet (num_layers)")
    keys = hp.ORIGINAL_KEYS + BUILTIN_EXTRA_KEYS + (
        ("lr_scheduler_step",) if values.get("lr_scheduler_step") else ())
    plan.hyperparameters = hp.to_sagemaker({k: values[k] for k in keys}, builtin_only=True)
    plan.image = sagemaker_images.builtin_image(plan.region)
    # The LST channels name their one file: the built-in algorithm reads what its channel holds.
    plan.channels = [
        _channel("train", plan.uri("images/")),
        _channel("validation", plan.uri("images/")),
        _channel("train_lst", plan.uri(f"train_lst/{split}/{train_lst.name}")),
        _channel("validation_lst", plan.uri(f"validation_lst/{split}/{test_lst.name}")),
    ]


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
    plan.channels = [
        _channel("train", plan.uri("images/")),
        _channel("validation", plan.uri("images/")),
        _channel("train_lst", plan.uri(f"train_lst/{split}/")),
        _channel("validation_lst", plan.uri(f"validation_lst/{split}/")),
    ]


def _check_torch_distributed(instance_type: str, version: str, py_version: str) -> None:
    try:
        sagemaker_images.sdk().fw_utils.validate_torch_distributed_distribution(
            instance_type, {"torch_distributed": {"enabled": True}}, version, py_version, None,
            ENTRY_POINT)
    except ValueError as exc:
        raise UserError(f"instance_count > 1 trains with torch_distributed, which SageMaker does "
                        f"not offer here: {' '.join(str(exc).split())}") from None


def source_archive(root: Path | None = None) -> bytes:
    """`training/` as a reproducible sourcedir.tar.gz (same files, same bytes: uploaded once)."""
    root = Path(root or SOURCE_ROOT)
    if not (root / ENTRY_POINT).is_file():
        raise UserError(f"{root / ENTRY_POINT}: the training entry point is missing")
    files = sorted(p for p in (root / "training").rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in files:
                _add_file(tar, path, path.relative_to(root).as_posix())
            requirements = root / "training" / "requirements.txt"
            if requirements.exists():  # the container pip-installs a top-level requirements.txt
                _add_file(tar, requirements, "requirements.txt")
    return buffer.getvalue()


def _add_file(tar: tarfile.TarFile, path: Path, name: str) -> None:
    data = path.read_bytes()
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def upload_inputs(plan: JobPlan, session, *, echo: Callable[[str], None] = print) -> None:
    """Sync every planned upload to S3 (unchanged objects are skipped)."""
    s3 = s3_client(session)
    with tempfile.TemporaryDirectory() as tmp:
        uploads = list(plan.uploads)
        if plan.source:
            key, archive = plan.source
            path = Path(tmp) / Path(key).name
            path.write_bytes(archive)
            uploads.append(("source", {key: path}))
        for what, files in uploads:
            where = os.path.commonprefix(list(files))
            where = where[: where.rfind("/") + 1]
            result = s3sync.upload_files(files, plan.bucket, client=s3, progress=len(files) > 10,
                                         label=f"{what} -> s3://{plan.bucket}/{where}")
            echo(f"{what}: {result.uploaded} uploaded ({result.bytes / 1e6:.1f} MB), "
                 f"{result.skipped} already there -> s3://{plan.bucket}/{where}")


# ---------------------------------------------------------------- waiting
def wait_for_training_job(client, name: str, *, logs=None, poll_seconds: float = 30,
                          sleep: Callable[[float], None] = time.sleep,
                          echo: Callable[[str], None] = print) -> dict:
    """Poll until the job ends, printing status changes and new log lines; raise if it fails."""
    tail = LogTail(logs, name, echo) if logs is not None else None
    last = None
    try:
        while True:
            with aws_errors(f"describing training job {name}"):
                described = client.describe_training_job(TrainingJobName=name)
            status = (described["TrainingJobStatus"], described.get("SecondaryStatus", ""))
            if status != last:
                echo(f"{name}: {status[0]} / {status[1]}{_status_message(described)}")
                last = status
            if tail:
                tail.poll()
            if status[0] in TERMINAL:
                break
            sleep(poll_seconds)
    except KeyboardInterrupt:
        echo(f"Stopped waiting; {name} keeps running (and billing). Stop it with: "
             f"aws sagemaker stop-training-job --training-job-name {name}")
        raise
    if status[0] != "Completed":
        reason = described.get("FailureReason") or "no reason given"
        echo(f"FailureReason: {reason}")
        raise TrainingJobFailed(f"training job {name} {status[0].lower()}: {reason}")
    _print_summary(described, tail, echo)
    return described


def _status_message(described: dict) -> str:
    transitions = described.get("SecondaryStatusTransitions") or []
    message = transitions[-1].get("StatusMessage") if transitions else ""
    return f" - {message}" if message else ""


def _print_summary(described: dict, tail: "LogTail | None", echo: Callable[[str], None]) -> None:
    for metric in described.get("FinalMetricDataList") or []:
        echo(f"final {metric['MetricName']} = {metric['Value']:g}")
    if tail and tail.metrics:
        echo("last logged: " + ", ".join(f"{k}={v:g}" for k, v in tail.metrics.items()))
    billable = described.get("BillableTimeInSeconds")
    seconds = described.get("TrainingTimeInSeconds")
    if billable and seconds:
        echo(f"training time {seconds} s, billable {billable} s "
             f"(managed spot saved {1 - billable / seconds:.0%})")


class LogTail:
    """Follows the job's CloudWatch log streams (`<job>/algo-N-...`), printing new lines once."""

    PATTERNS = ([(n, re.compile(d["Regex"])) for n, d in zip(METRIC_NAMES, METRIC_DEFINITIONS)]
                + [(n, re.compile(p)) for n, p in BUILTIN_LOG_METRICS.items()])

    def __init__(self, logs, job: str, echo: Callable[[str], None]):
        self.logs, self.job, self.echo = logs, job, echo
        self.tokens: dict[str, str | None] = {}
        self.metrics: dict[str, float] = {}

    def poll(self) -> None:
        try:
            streams = self.logs.describe_log_streams(
                logGroupName=LOG_GROUP, logStreamNamePrefix=f"{self.job}/")["logStreams"]
            for stream in streams:
                self._read(stream["logStreamName"])
        except (ClientError, BotoCoreError):
            pass  # logs are a courtesy: no log group yet or no permission must not stop the wait

    def _read(self, stream: str) -> None:
        while True:
            kwargs = {"logGroupName": LOG_GROUP, "logStreamName": stream, "startFromHead": True}
            if self.tokens.get(stream):
                kwargs["nextToken"] = self.tokens[stream]
            page = self.logs.get_log_events(**kwargs)
            for event in page["events"]:
                self._line(stream, event["message"].rstrip())
            token = page.get("nextForwardToken")
            if not page["events"] or token == self.tokens.get(stream):
                self.tokens[stream] = token
                return
            self.tokens[stream] = token

    def _line(self, stream: str, message: str) -> None:
        host = stream.split("/")[1] if "/" in stream else stream
        self.echo(f"  [{host}] {message}")
        for name, pattern in self.PATTERNS:
            match = pattern.search(message)
            if match:
                self.metrics[name] = float(match.group(1))


def record_artifact(described: dict, algorithm: str, *, echo: Callable[[str], None] = print,
                    extra: Mapping[str, Any] | None = None) -> dict:
    """Record the completed job's model.tar.gz in the project state for `invoke deploy`."""
    name = described["TrainingJobName"]
    artifact = state.record_trained(state.TrainedArtifact(
        s3_uri=described["ModelArtifacts"]["S3ModelArtifacts"], model_id=name, job_name=name,
        algorithm=algorithm, region=described["TrainingJobArn"].split(":")[3], **(extra or {})))
    echo(f"Artifact: {artifact.s3_uri} (recorded in {state.state_file()})")
    return {"status": described["TrainingJobStatus"], **artifact.as_dict()}
