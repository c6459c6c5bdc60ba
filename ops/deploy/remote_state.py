"""Remote Terraform state for the aws target: an S3 backend locked by a DynamoDB table, when configured.

The one way to configure it is the environment (the workflow sets it from repository variables):

    TF_STATE_BUCKET      the state bucket (versioned, yours; required to turn remote state on)
    TF_STATE_LOCK_TABLE  a DynamoDB table with a string hash key LockID (recommended: without it,
                         two applies at once are not stopped)
    TF_STATE_KEY         the state object's key (default dog-breeds/aws/terraform.tfstate)
    AWS_REGION           the bucket's region (default: config aws.region)

`DOGS_TF_BACKEND_CONFIG` may name a further backend file of S3 backend settings (e.g. `kms_key_id`, or
`endpoints` for a stand-in AWS); its lines follow the ones above. Unset TF_STATE_BUCKET: the state
stays in the working directory (`.dogs/terraform/aws/terraform.tfstate`). The local target never uses
a remote backend.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from training.errors import UserError

BUCKET_ENV, TABLE_ENV, KEY_ENV = "TF_STATE_BUCKET", "TF_STATE_LOCK_TABLE", "TF_STATE_KEY"
EXTRA_ENV = "DOGS_TF_BACKEND_CONFIG"
DEFAULT_KEY = "dog-breeds/aws/terraform.tfstate"
BACKEND_TF = 'terraform {\n  backend "s3" {}\n}\n'
BACKEND_FILE = "backend.hcl"  # written into the working directory, passed to init -backend-config


class RemoteStateError(UserError):
    """The remote state is misconfigured, or locked by another run."""


@dataclass(frozen=True)
class Backend:
    bucket: str
    key: str
    region: str
    lock_table: str | None
    extra: Path | None

    def hcl(self) -> str:
        lines = [f"bucket = {json.dumps(self.bucket)}", f"key = {json.dumps(self.key)}",
                 f"region = {json.dumps(self.region)}", "encrypt = true"]
        if self.lock_table:
            lines.append(f"dynamodb_table = {json.dumps(self.lock_table)}")
        text = "\n".join(lines) + "\n"
        if self.extra:
            text += self.extra.read_text()
        return text

    def describe(self) -> str:
        lock = f", locked by DynamoDB table {self.lock_table}" if self.lock_table else ", NOT locked"
        return f"state s3://{self.bucket}/{self.key}{lock}"


def configured(default_region: str, env=None) -> Backend | None:
    """The remote backend the environment asks for, or None."""
    env = os.environ if env is None else env
    bucket = env.get(BUCKET_ENV, "").strip()
    extra = env.get(EXTRA_ENV, "").strip()
    if not bucket:
        if extra:
            raise RemoteStateError(f"${EXTRA_ENV} is set but ${BUCKET_ENV} is not: set {BUCKET_ENV} "
                                   f"to the state bucket (and {TABLE_ENV} to the lock table)")
        return None
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise RemoteStateError(f"${BUCKET_ENV} {bucket!r}: not an S3 bucket name")
    if extra and not Path(extra).is_file():
        raise RemoteStateError(f"${EXTRA_ENV} {extra}: no such file")
    return Backend(bucket, env.get(KEY_ENV, "").strip() or DEFAULT_KEY,
                   env.get("AWS_REGION", "").strip() or default_region,
                   env.get(TABLE_ENV, "").strip() or None, Path(extra) if extra else None)


def write(work: Path, backend: Backend, stand_in=None) -> Path:
    """backend.tf (an empty S3 backend block) and its settings file in the working directory; with
    `stand_in` (ops.emulator.local_aws.stand_in()), the backend's S3 and DynamoDB are the local AWS's."""
    (work / "backend.tf").write_text(BACKEND_TF)
    path = work / BACKEND_FILE
    path.write_text(backend.hcl() + (stand_in_settings(stand_in.url, stand_in.ca_bundle) if stand_in else ""))
    return path


def stand_in_settings(url: str, ca_bundle: str) -> str:
    """S3 backend settings for the local AWS (moto: path-style S3, no account lookup, no checksums)."""
    return (f"endpoints = {{ s3 = {json.dumps(url)}, dynamodb = {json.dumps(url)} }}\n"
            f"custom_ca_bundle = {json.dumps(ca_bundle)}\n"
            "use_path_style = true\nskip_credentials_validation = true\nskip_requesting_account_id = true\n"
            "skip_metadata_api_check = true\nskip_region_validation = true\nskip_s3_checksum = true\n")


LOCK_INFO = re.compile(r"^\s*(ID|Path|Operation|Who|Created):\s*(.*?)\s*$", re.M)


def lock_error(text: str, work: Path) -> RemoteStateError | None:
    """Terraform's "Error acquiring the state lock" as one line naming who holds it and what to do."""
    if "Error acquiring the state lock" not in text:
        return None
    info = dict(LOCK_INFO.findall(text.replace("│", "")))
    holder = ", ".join(f"{k.lower()} {info[k]}" for k in ("Operation", "Who", "Created") if info.get(k))
    return RemoteStateError(
        f"the Terraform state is locked by another run ({holder or 'holder unknown'}; lock ID "
        f"{info.get('ID', '?')}): nothing was changed. Wait for that run and try again; if it died, "
        f"release the lock with `terraform -chdir={work} force-unlock {info.get('ID', 'LOCK_ID')}`")
