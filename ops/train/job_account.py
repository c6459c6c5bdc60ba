"""Where on the account a SageMaker training job runs: the data bucket (aws.bucket, or the project's
bucket by ops/core/naming.py's rule) and the training role (--role, else the one the stack's Terraform made)."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from ops.core import naming, state
from ops.core.aws_clients import AwsError, account_id, aws_errors, s3_client
from training.errors import UserError


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
    from ops.emulator import local_aws

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
    from ops.deploy import terraform as tf

    recorded = ((state.read("deployments") or {}).get(target) or {}).get("training_role_arn")
    if recorded:
        return recorded
    if not (tf.workdir(target) / ".terraform").is_dir():
        return None
    try:
        return tf.outputs(target).get("training_role_arn")
    except UserError:
        return None
