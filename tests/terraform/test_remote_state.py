"""Remote state for --target aws: the S3 backend with DynamoDB locking, applied against the local AWS's
S3 and DynamoDB. Two applies at once: the second fails on the lock naming who holds it (or, given
time, waits), and the state in S3 stays whole.

The root applied is a small stand-in (one terraform_data whose creation takes 8 seconds), so the
first apply holds the lock long enough to be seen; the backend, the lock and ops/deploy/terraform.py's
handling of them are exactly the stack's.
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from ops.emulator import local_aws
from ops.deploy import remote_state
from ops.deploy import terraform as tf
from tests.fixtures.terraform_stack import create_state_backend, remove_bucket

pytestmark = pytest.mark.slow

STATE_BUCKET, LOCK_TABLE = "dogs-tf-state", "dogs-tf-locks"
SLOW_ROOT = """
resource "terraform_data" "slow" {
  input            = var.run
  triggers_replace = [var.run] # a new value replaces it: the provisioner runs again

  provisioner "local-exec" {
    command = "sleep 8"
  }
}

variable "run" {
  type = string
}

output "run" {
  value = terraform_data.slow.output
}
"""


@pytest.fixture(scope="module")
def remote(local_stack_home, aws, tmp_path_factory):
    """The aws target's working directory initialised on the local AWS's S3 + DynamoDB."""
    running = local_aws.require()
    create_state_backend(aws, STATE_BUCKET, LOCK_TABLE)
    root = tmp_path_factory.mktemp("slow-root")
    (root / "main.tf").write_text(SLOW_ROOT)
    stand_in = root / "local-aws.hcl"  # the S3 backend pointed at the local AWS
    stand_in.write_text(f'endpoints = {{ s3 = "{running.url}", dynamodb = "{running.url}" }}\n'
                        f'custom_ca_bundle = "{running.ca_bundle}"\nuse_path_style = true\n'
                        "skip_credentials_validation = true\nskip_requesting_account_id = true\n"
                        "skip_metadata_api_check = true\nskip_region_validation = true\n"
                        "skip_s3_checksum = true\n")
    mp = pytest.MonkeyPatch()
    mp.setattr(tf, "MODULE_DIR", root)
    for name, value in {**local_aws.CREDENTIALS, remote_state.BUCKET_ENV: STATE_BUCKET,
                        remote_state.TABLE_ENV: LOCK_TABLE, remote_state.EXTRA_ENV: str(stand_in),
                        "AWS_REGION": local_aws.REGION}.items():
        mp.setenv(name, value)
    work = tf.sync_module("aws")
    backend = remote_state.configured(local_aws.REGION)
    tf.init("aws", backend=backend)
    tf.write_tfvars("aws", {"run": "first"})
    yield work
    mp.undo()
    remove_bucket(aws, STATE_BUCKET)  # the local AWS is the session's: leave it as found
    aws("dynamodb").delete_table(TableName=LOCK_TABLE)


def _state(aws) -> dict:
    body = aws("s3").get_object(Bucket=STATE_BUCKET, Key=remote_state.DEFAULT_KEY)["Body"].read()
    return json.loads(body)


def _locks(aws) -> list[dict]:
    items = aws("dynamodb").scan(TableName=LOCK_TABLE)["Items"]
    return [i for i in items if not i["LockID"]["S"].endswith("-md5")]  # the digest item stays


def _apply_in_background(work, run: str) -> subprocess.Popen:
    """A plain `terraform apply` of another operator, holding the lock while it runs."""
    return subprocess.Popen(["terraform", "apply", "-auto-approve", "-input=false", "-no-color",
                             f"-var=run={run}", "-lock-timeout=0s"], cwd=work,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_lock(aws, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        locks = _locks(aws)
        if locks:
            return locks[0]
        time.sleep(0.2)
    raise AssertionError("the first apply never took the lock")


def test_the_state_lives_in_the_state_bucket(remote, aws):
    tf.apply("aws", echo=False)
    state = _state(aws)
    assert state["outputs"]["run"]["value"] == "first"
    assert tf.outputs("aws")["run"] == "first"
    assert not (remote / "terraform.tfstate").exists()
    assert tf.state_list("aws") == ["terraform_data.slow"]


def test_a_second_apply_fails_on_the_lock_and_leaves_the_state_whole(remote, aws, monkeypatch):
    tf.apply("aws", echo=False)
    before = _state(aws)
    first = _apply_in_background(remote, "second")
    held = _wait_for_lock(aws)
    monkeypatch.setenv(tf.LOCK_TIMEOUT_ENV, "0s")
    tf.write_tfvars("aws", {"run": "third"})

    with pytest.raises(remote_state.RemoteStateError) as refused:
        tf.apply("aws", echo=False)

    output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    message = str(refused.value)
    assert "locked by another run" in message and "\n" not in message
    assert "operation OperationTypeApply" in message and "force-unlock" in message
    assert json.loads(held["Info"]["S"])["ID"] in message
    after = _state(aws)
    assert after["outputs"]["run"]["value"] == "second"  # the first apply's result, not the refused one
    assert after["serial"] > before["serial"] and after["lineage"] == before["lineage"]
    assert _locks(aws) == []


def test_a_second_apply_given_time_waits_for_the_lock(remote, aws, monkeypatch):
    first = _apply_in_background(remote, "fourth")
    _wait_for_lock(aws)
    monkeypatch.setenv(tf.LOCK_TIMEOUT_ENV, "90s")
    tf.write_tfvars("aws", {"run": "fifth"})

    tf.apply("aws", echo=False)

    first.communicate(timeout=120)
    assert first.returncode == 0
    assert _state(aws)["outputs"]["run"]["value"] == "fifth"
    assert _locks(aws) == []


def test_no_bucket_means_local_state(monkeypatch):
    monkeypatch.delenv(remote_state.BUCKET_ENV, raising=False)
    monkeypatch.delenv(remote_state.EXTRA_ENV, raising=False)
    assert remote_state.configured("us-east-1") is None


def test_a_backend_file_without_a_bucket_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv(remote_state.BUCKET_ENV, raising=False)
    monkeypatch.setenv(remote_state.EXTRA_ENV, str(tmp_path / "x.hcl"))
    with pytest.raises(remote_state.RemoteStateError, match="TF_STATE_BUCKET is not"):
        remote_state.configured("us-east-1")
