"""Apply what was reviewed: the release file names the model, the pull request's saved plan is applied.

`deploy/model.json` (under version control) names the artifact the aws stack serves:

    {"model_data": "s3://<bucket>/<prefix>output/<job>/output/model.tar.gz", "model_id": "<job>"}

`invoke plan --target aws --release deploy/model.json --save` plans against the remote state and keeps
the saved plan beside that state, at `s3://$TF_STATE_BUCKET/plans/<tree>.tfplan`, where <tree> is a
hash of what the plan is made of (the tracked files of terraform/, predict_lambda/, deploy/ and config.yaml,
by their git blob ids). After the merge, `invoke apply-plan --target aws` computes the same hash for
the merged tree: it applies that very plan, or refuses when there is none for this tree (main moved on
since the review) or when Terraform finds it stale (the state changed since the plan).
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Callable

from ops.deploy import stack as deploy, remote_state, served_model
from ops.deploy import terraform as tf
from ops.core.aws_clients import aws_errors, s3_client
from ops.core.config import PROJECT_ROOT
from training.errors import UserError

RELEASE_FILE = PROJECT_ROOT / "deploy" / "model.json"
PLAN_INPUTS = ("terraform", "predict_lambda", "deploy", "config.yaml")
REVIEWED_PLAN = "reviewed.tfplan"


class ReviewedPlanError(UserError):
    """No reviewed plan for this tree, or it no longer applies."""


def read_release(path: str | Path = RELEASE_FILE) -> tuple[str, str | None]:
    """(model_data, model_id) from the release file."""
    path = Path(path)
    try:
        release = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReviewedPlanError(f"{path}: no release file; write {{\"model_data\": \"s3://.../model.tar.gz\", "
                                "\"model_id\": \"...\"}") from None
    except ValueError as exc:
        raise ReviewedPlanError(f"{path}: not JSON ({exc})") from None
    if not isinstance(release, dict) or not served_model.S3_URL.match(str(release.get("model_data", ""))):
        raise ReviewedPlanError(f"{path}: model_data must be the artifact's s3://<bucket>/<key>/model.tar.gz")
    unknown = set(release) - {"model_data", "model_id"}
    if unknown:
        raise ReviewedPlanError(f"{path}: unknown keys {', '.join(sorted(unknown))}; known: model_data, model_id")
    return release["model_data"], release.get("model_id")


def tree_key(root: Path = PROJECT_ROOT) -> str:
    """A hash of the tracked files a plan is made of (same tree, same key, in any clone)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-s", "--", *PLAN_INPUTS], cwd=root, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ReviewedPlanError(f"{root}: a reviewed plan needs a git checkout ({exc})") from None
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *PLAN_INPUTS], cwd=root,
                           capture_output=True, text=True).stdout
    if dirty.strip():
        raise ReviewedPlanError(f"uncommitted changes in {', '.join(PLAN_INPUTS)}: a reviewed plan is of a "
                                f"commit; commit them first ({dirty.split()[1]}...)")
    return hashlib.sha256(listed.encode()).hexdigest()[:32]


def _location(key: str, region: str) -> tuple[str, str]:
    backend = remote_state.configured(region)
    if backend is None:
        raise ReviewedPlanError(f"a reviewed plan is kept beside the remote state: set "
                                f"{remote_state.BUCKET_ENV} (and {remote_state.TABLE_ENV})")
    return backend.bucket, f"plans/{key}.tfplan"


def _s3(region: str):
    return s3_client(region=region)


def save(s: deploy.Settings, plan_file: Path, echo: Callable[[str], None] = print) -> str:
    """Upload the saved plan for this tree; returns its s3:// URL."""
    bucket, key = _location(tree_key(), s.region)
    with aws_errors(f"uploading the plan to s3://{bucket}/{key}"):
        _s3(s.region).upload_file(str(plan_file), bucket, key)
    echo(f"saved plan: s3://{bucket}/{key} (`invoke apply-plan --target aws` applies it after the merge)")
    return f"s3://{bucket}/{key}"


def apply(s: deploy.Settings, echo: Callable[[str], None] = print) -> dict:
    """Apply the plan reviewed for this tree, exactly; refuse when there is none or it is stale."""
    bucket, key = _location(tree_key(), s.region)
    deploy.prepare(s, None, echo, init_only=True)
    target = tf.workdir(s.target) / REVIEWED_PLAN
    s3 = _s3(s.region)
    try:
        s3.download_file(bucket, key, str(target))
    except Exception as exc:  # botocore's ClientError (404) or a transfer error
        if "404" in str(exc) or "Not Found" in str(exc):
            raise ReviewedPlanError(
                f"no reviewed plan for this tree (s3://{bucket}/{key}): the merged tree is not the one "
                "the pull request planned (main moved on, or no plan was saved); plan it again in a pull "
                "request and review that plan") from None
        with aws_errors(f"downloading s3://{bucket}/{key}"):
            raise
    echo(f"applying the reviewed plan s3://{bucket}/{key}")
    try:
        tf.apply(s.target, plan_file=REVIEWED_PLAN)
    except tf.TerraformError as exc:
        if re.search(r"[Ss]aved plan is stale", str(exc)):
            raise ReviewedPlanError(
                "the reviewed plan is stale: the state changed since it was made (another apply ran), so "
                "it was not applied and nothing changed; plan again and review the new plan") from None
        raise
    s3.delete_object(Bucket=bucket, Key=key)  # applied once; a second run finds none and refuses
    outputs = tf.outputs(s.target)
    deploy.record(s.target, outputs)
    return outputs
