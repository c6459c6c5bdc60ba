"""`invoke local.up` / `local.down`: a patched moto server on 127.0.0.1, idempotent, with clear errors."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ops.emulator import local_aws, moto_patches
from ops.core import state

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path, use_home):
    use_home(tmp_path)
    yield tmp_path
    local_aws.down()


def test_up_is_idempotent_records_state_and_down_stops_it(home):
    first = local_aws.up()
    again = local_aws.up()
    assert again == first
    assert state.read("local_aws")["url"] == first.url == f"https://127.0.0.1:{first.port}"
    assert local_aws.pid_file().read_text().strip() == str(first.pid)
    assert local_aws.responds(first.url)
    assert local_aws.down() is True
    assert local_aws.status() is None and not local_aws.responds(first.url, timeout=1)
    assert state.read("local_aws") is None and not local_aws.pid_file().exists()
    assert local_aws.down() is False
    assert "patched moto" in local_aws.log_file().read_text()


def test_taken_port_is_a_clear_error(home):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(local_aws.LocalAwsError, match=f"port {port} on 127.0.0.1 is taken"):
            local_aws.up(port)


def test_a_server_that_dies_at_start_is_an_error_that_says_why(home):
    """A damaged certificate (made once per work folder) kills the server as it starts: the error says
    so from the server's log, and nothing is recorded."""
    cert, key = local_aws.certificate()
    key.write_text("not a key\n")
    with pytest.raises(local_aws.LocalAwsError) as caught:
        local_aws.up(timeout=60)
    message = str(caught.value)
    assert message.startswith("the local AWS did not start: server exited with status 1")
    assert "SSL" in message and str(local_aws.log_file()) in message
    assert state.read("local_aws") is None and not local_aws.pid_file().exists()


TLS_ONLY = {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": ["arn:aws:s3:::tls-only", "arn:aws:s3:::tls-only/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def test_tls_only_bucket_policy_admits_https_requests(home):
    running = local_aws.up()
    s3 = local_aws.client("s3", running)
    s3.create_bucket(Bucket="tls-only")
    s3.put_bucket_policy(Bucket="tls-only",
                         Policy=json.dumps({"Version": "2012-10-17", "Statement": [TLS_ONLY]}))
    s3.put_object(Bucket="tls-only", Key="over-tls", Body=b"ok")
    assert s3.get_object(Bucket="tls-only", Key="over-tls")["Body"].read() == b"ok"


@pytest.mark.parametrize("secure, expected", [(False, "DENIED"), (True, "NEUTRAL")],
                         ids=["plain-http-denied", "tls-not-denied"])
def test_patched_policy_evaluation_follows_the_transport(secure, expected):
    from moto.iam.access_control import IAMPolicyStatement

    moto_patches.apply()
    moto_patches._request.secure = secure
    try:
        result = IAMPolicyStatement(TLS_ONLY).is_action_permitted(
            "s3:GetObject", "arn:aws:s3:::tls-only/key")
    finally:
        moto_patches._request.secure = None
    assert result.name == expected


def test_cli_reports_a_taken_port_in_one_line_with_status_2(home):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "invoke", "local.up", "--port", str(port)],
                                cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: port {port} on 127.0.0.1 is taken; choose another with --port or leave it out for a free one"
