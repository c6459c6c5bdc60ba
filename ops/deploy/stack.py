"""`invoke deploy` / `plan` / `destroy`: the trained model's artifact -> Terraform variables -> the stack.
(Which model, and the image that serves it: ops/deploy/served_model.py.)

For `local` the stack goes to the local AWS (ops/emulator/local_aws.py) in one apply, and the artifact's
model.tar.gz is uploaded into the bucket that apply made. For `aws` the artifact is already in S3
(`invoke train --target aws`); the project bucket (config `aws.bucket`, or dog-breeds-<account>-<region>)
that training created is imported into the state rather than created twice, and kept on destroy.
"""
from __future__ import annotations

import concurrent.futures
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from ops.deploy import hosting_cost, lambda_package, model_history, remote_state
from ops.emulator import local_aws
from ops.core import naming, state
from ops.core.aws_clients import account_id, s3_client
from ops.train import sagemaker_images
from ops.deploy import terraform as tf
from ops.core.config import AWS_DEFAULTS, Config
from ops.deploy.served_model import (DEFAULT_ALGORITHM, S3_URL, DeployError, Model, image_uri,
                              training_images)

NAME = naming.NAME
STORAGE = "module.storage"  # destroy --target aws keeps it (the training data) unless asked
BUCKET_ADDRESS = "module.storage.aws_s3_bucket.this"
TRAINING_MODULES = ["module.storage", "module.training"]  # what --training-only applies
SECRET_OUTPUTS = ("api_key_value", "api_client_keys")


@dataclass
class Settings:
    target: str
    region: str
    bucket: str | None = None
    endpoint_type: str | None = None
    instance_type: str | None = None
    var_file: Path | None = None
    plugin_dir: str | None = None
    pytorch_version: str = AWS_DEFAULTS["pytorch_version"]  # config aws.pytorch_version
    training_instance_type: str = "ml.g4dn.xlarge"  # config aws.instance_type: the training image's tag
    prefix: str = naming.PREFIX  # config aws.prefix: where training reads and writes (the training role)
    extra: dict[str, Any] = field(default_factory=dict)


def settings(cfg: Config, target: str, **options: Any) -> Settings:
    tf._check_target(target)
    region = local_aws.REGION if target == "local" else cfg.aws["region"]
    var_file = options.pop("var_file", None)
    if var_file and not Path(var_file).is_file():
        raise DeployError(f"--var-file {var_file}: no such file")
    bucket = (cfg.aws["bucket"] or None) if target == "aws" else None
    _check_endpoint_options(options.get("endpoint_type"), options.get("instance_type"), var_file)
    return Settings(target, region, bucket, var_file=Path(var_file).resolve() if var_file else None,
                    pytorch_version=cfg.aws["pytorch_version"],
                    training_instance_type=cfg.aws["instance_type"], prefix=cfg.aws["prefix"], **options)


def _check_endpoint_options(endpoint_type: str | None, instance_type: str | None,
                            var_file: str | None) -> None:
    """A serverless endpoint has no instances (SageMaker sizes it by memory; no GPUs)."""
    if endpoint_type not in (None, "realtime", "serverless"):
        raise DeployError(f"--endpoint-type {endpoint_type!r}: allowed: realtime, serverless")
    serverless = endpoint_type == "serverless" or (endpoint_type is None and var_file is None)
    if instance_type and serverless:
        raise DeployError(f"--instance-type {instance_type}: only a real-time endpoint has instances; "
                          "add --endpoint-type realtime (a serverless endpoint, the default, is sized "
                          "by serverless.memory_size_in_mb and runs on CPU)")


def check_servable(s: Settings, model: Model) -> None:
    """A model the target cannot serve is an error before anything runs."""
    if s.target == "local" and model.algorithm == "builtin":
        raise DeployError(
            "the built-in image-classification algorithm's model cannot be served locally: it runs only "
            "in SageMaker's own MXNet image, which has no local runtime here (the local endpoint runs "
            "SageMaker's PyTorch serving toolkit); deploy it with --target aws, or train a model for "
            "local serving with `invoke train --algorithm pytorch`")


def model_image(s: Settings, model: Model | None, echo: Callable[[str], None] = print) -> str:
    """The inference image for `model` (None: the stack's default): one of the Python its runtime is
    built for, else of the torch that saved it (sagemaker_images.serving_version)."""
    version = s.pytorch_version
    if model is not None and model.algorithm != "builtin":
        version, note = sagemaker_images.serving_version(model.framework_version, s.pytorch_version,
                                                         model.serving_python)
        if note:
            echo(note)
    return image_uri(s.region, s.instance_type or "ml.m5.large",
                     model.algorithm if model else DEFAULT_ALGORITHM, version)


# ---------------------------------------------------------------- variables
def variables(s: Settings, model: Model | None, image: str, package: lambda_package.LambdaPackage,
              bucket: str | None = None, training: list[str] | None = None) -> dict[str, Any]:
    """The stack's variables; without a model, those an apply of TRAINING_MODULES alone needs."""
    values: dict[str, Any] = {
        "name": NAME,
        "region": s.region,
        "image_uri": image,
        "lambda_package": package.as_tfvar(),
        "training_image_uris": training or [],
        "bucket_prefix": s.prefix,
    }
    if model is not None:
        values.update(model_data_url=model.model_data_url, model_id=model.model_id,
                      class_names=model.class_names, algorithm=model.algorithm)
    if bucket:
        values["bucket_name"] = bucket
    if s.target == "local":
        # A throw-away stack: let destroy empty the bucket, and skip the lifecycle rule the provider
        # waits about a minute for (see terraform/README.md).
        values.update(bucket_force_destroy=True, bucket_noncurrent_version_expiration_days=None)
    if s.endpoint_type:
        values["endpoint_type"] = s.endpoint_type
    if s.instance_type:
        values["realtime"] = {"instance_type": s.instance_type}
    values.update(s.extra)
    return values


def _local_bucket() -> str:
    return naming.bucket_name(account_id(**local_aws.client_settings()), local_aws.REGION)


def _aws_bucket(region: str) -> str:
    """config.yaml's rule for an empty aws.bucket."""
    return naming.bucket_name(account_id(region=region), region)


# ---------------------------------------------------------------- commands
def prepare(s: Settings, model: Model | None, echo: Callable[[str], None] = print,
            training_only: bool = False, init_only: bool = False) -> dict[str, Any]:
    """Sync, render, init and write the variables; returns them. Image lookup runs beside init.
    No model: the previous variables (destroy), or with training_only those of TRAINING_MODULES, or
    with init_only none (a saved plan carries its own)."""
    if model is not None:
        check_servable(s, model)
    running = local_aws.require() if s.target == "local" else None
    stand_in = running or local_aws.stand_in()  # the local AWS standing in for the account
    package = lambda_package.build(state.home() / "build")
    looked_up = model is not None or training_only
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # Importing the sagemaker SDK takes seconds: look the images up while init runs.
        image = pool.submit(model_image, s, model, echo) if looked_up else None
        training = pool.submit(training_images, s.region, s.pytorch_version,
                               s.training_instance_type) if looked_up else None
        work = tf.sync_module(s.target)
        if stand_in:
            tf.render_local_override(work, stand_in.url, s.region, stand_in.ca_bundle)
        else:
            (work / tf.OVERRIDE).unlink(missing_ok=True)
        if s.var_file:
            (work / "user.tfvars").write_text(s.var_file.read_text())
        else:
            (work / "user.tfvars").unlink(missing_ok=True)
        backend = remote_state.configured(s.region) if s.target == "aws" else None
        echo(f"terraform init ({s.target}, {backend.describe() if backend else 'state in ' + str(work)})")
        tf.init(s.target, s.plugin_dir, backend)
        if init_only:
            return {}
        if training_only:
            bucket = _local_bucket() if running else (s.bucket or _aws_bucket(s.region))
            values = variables(s, None, image.result(), package, bucket, training.result())
        elif model is None:
            values = _previous_variables(s.target)
        else:
            bucket = _local_bucket() if running else (s.bucket or _aws_bucket(s.region))
            if running and model.local_path is not None:
                model.model_data_url = f"s3://{bucket}/{s.prefix}models/{model.model_id}/model.tar.gz"
            values = variables(s, model, image.result(), package, bucket, training.result())
    tf.write_tfvars(s.target, values)
    return values


def _previous_variables(target: str) -> dict[str, Any]:
    path = tf.workdir(target) / tf.TFVARS
    if not path.is_file():
        raise DeployError(f"nothing deployed to {target} yet (no {path})")
    return json.loads(path.read_text())


def var_files(target: str) -> list[str]:
    files = [tf.TFVARS]
    if (tf.workdir(target) / "user.tfvars").is_file():
        files.append("user.tfvars")
    return files


def upload_artifact(model: Model) -> None:
    """Put the local model.tar.gz where model_data_url says (local AWS), unless the same size is there."""
    bucket, key = S3_URL.match(model.model_data_url).groups()
    s3 = local_aws.s3_client()
    size = model.local_path.stat().st_size
    try:
        if s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == size:
            return
    except s3.exceptions.ClientError:
        pass
    s3.upload_file(str(model.local_path), bucket, key)


def deploy(s: Settings, model: Model, auto_approve: bool = False,
           confirm: Callable[[str], bool] | None = None, echo: Callable[[str], None] = print,
           terraform_output: TextIO | None = None) -> dict:
    """init + apply (+ upload for local); returns the outputs (the API key included). Terraform's own
    output goes to stdout, or to `terraform_output` (a log file) when given."""
    streamed = terraform_output or True
    if s.target == "aws" and not model.model_data_url:
        raise DeployError("the trained model is only on this machine: train with `invoke train --target aws`, "
                          "or upload it and pass --model-data s3://.../model.tar.gz")
    values = prepare(s, model, echo)
    files = var_files(s.target)
    if s.target == "local":
        tf.apply(s.target, var_files=files, echo=streamed)
        if model.local_path is not None:
            # One apply creates the bucket and the stack; the artifact follows it into the bucket.
            # (moto's CreateModel does not fetch model data; the local endpoint serves from it later.)
            echo(f"upload {model.local_path} -> {model.model_data_url}")
            upload_artifact(model)
    else:
        echo(cost_note(s, values))
        if BUCKET_ADDRESS not in tf.state_list(s.target):
            _adopt_bucket(s, values, files, echo)
        if not auto_approve:
            changes, _ = tf.plan(s.target, var_files=files, out="deploy.tfplan", echo=streamed)
            if not changes:
                echo("no changes")
                return tf.outputs(s.target)
            if confirm is None or not confirm("Apply these changes to AWS?"):
                raise DeployError("not applied (answer yes, or pass --auto-approve)")
            tf.apply(s.target, plan_file="deploy.tfplan", echo=streamed)
        else:
            tf.apply(s.target, var_files=files, echo=streamed)
    result = tf.outputs(s.target)
    record(s.target, result)
    model_history.record_deployed(s.target, model, model.validation_accuracy)
    return result


def deploy_training(s: Settings, auto_approve: bool = False,
                    confirm: Callable[[str], bool] | None = None,
                    echo: Callable[[str], None] = print) -> dict:
    """Before any model: apply only the bucket and the training role (TRAINING_MODULES), so that
    `invoke train --target aws` has somewhere to upload and a role to run as."""
    values = prepare(s, None, echo, training_only=True)
    files = var_files(s.target)
    if s.target == "aws" and BUCKET_ADDRESS not in tf.state_list(s.target):
        _adopt_bucket(s, values, files, echo)
    if s.target == "aws" and not auto_approve:
        changes, _ = tf.plan(s.target, var_files=files, out="training.tfplan", resources=TRAINING_MODULES)
        if changes and (confirm is None or not confirm("Apply these changes to AWS?")):
            raise DeployError("not applied (answer yes, or pass --auto-approve)")
        if changes:
            tf.apply(s.target, plan_file="training.tfplan")
    else:
        tf.apply(s.target, var_files=files, resources=TRAINING_MODULES)
    result = {k: v for k, v in tf.outputs(s.target).items() if k in ("bucket_name", "training_role_arn")}
    record(s.target, result, merge=True)
    return result


def cost_note(s: Settings, values: dict) -> str:
    """What the endpoint will bill (ops/deploy/hosting_cost.py), said before anything is applied."""
    note = hosting_cost.describe(values)
    if s.var_file:
        note += f"; {s.var_file.name} may change the endpoint's settings: not counted here"
    return note


def _adopt_bucket(s: Settings, values: dict, files: list[str], echo: Callable[[str], None]) -> None:
    """A bucket of the stack's name that `invoke train --target aws` made is imported, not recreated."""
    bucket = values.get("bucket_name")
    if bucket and _bucket_exists(bucket, s.region):
        echo(f"adopting the existing bucket {bucket}")
        tf.import_resource(s.target, BUCKET_ADDRESS, bucket, var_files=files)


def _bucket_exists(bucket: str, region: str) -> bool:
    s3 = s3_client(region=region)
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except s3.exceptions.ClientError:
        return False


def plan(s: Settings, model: Model, echo: Callable[[str], None] = print) -> tuple[bool, str]:
    prepare(s, model, echo)
    return tf.plan(s.target, var_files=var_files(s.target))


def destroy(s: Settings, keep_bucket: bool, auto_approve: bool = False,
            confirm: Callable[[str], bool] | None = None,
            echo: Callable[[str], None] = print) -> list[str]:
    """Destroy the stack; returns the addresses removed. On aws the bucket (training data) stays
    unless keep_bucket is False."""
    values = prepare(s, None, echo)
    resources = [r for r in tf.state_list(s.target) if not re.search(r"(^|\.)data\.", r)]
    if not resources:
        echo(f"nothing deployed to {s.target}")
        return []
    kept = [r for r in resources if r.startswith(STORAGE + ".")] if keep_bucket else []
    doomed = [r for r in resources if r not in kept]
    echo("will destroy:\n  " + "\n  ".join(doomed))
    if kept:
        echo("will keep (state forgotten, resources stay): " + ", ".join(kept))
    if s.target == "aws":
        echo(hosting_cost.stops_billing(values, keep_bucket))
    if not auto_approve and (confirm is None or not confirm(f"Destroy {len(doomed)} resources?")):
        raise DeployError("not destroyed (answer yes, or pass --auto-approve)")
    for address in kept:
        tf.state_rm(s.target, address)
    tf.destroy(s.target, var_files=var_files(s.target))
    record(s.target, None)
    return doomed


def record(target: str, outputs: dict | None, merge: bool = False) -> None:
    """Remember the deployment (without secrets) in the project state; with `merge`, beside what is
    recorded for `target` already. One locked update, so deploys to other targets at once lose nothing."""
    def change(deployments: dict | None) -> dict:
        deployments = deployments or {}
        if outputs is None:
            deployments.pop(target, None)
        else:
            kept = deployments.get(target, {}) if merge else {}
            deployments[target] = {**kept, **{k: v for k, v in outputs.items() if k not in SECRET_OUTPUTS}}
        return deployments
    state.update("deployments", change)
