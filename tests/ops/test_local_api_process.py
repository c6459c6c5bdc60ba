"""`python -m ops.emulator.local_api` as `invoke serve` runs it: the Lambda's environment comes from the function
configuration on the local AWS, the handler reaches the local endpoint via AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile

import boto3
import pytest
import requests

from ops.emulator import processes
from ops.core.config import PROJECT_ROOT
from tests.fixtures.api import TEST_ENDPOINT

ROLE_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def create_function(url: str, env: dict[str, str], timeout: int = 20) -> str:
    """What Terraform's Lambda resource amounts to on the local AWS (the code itself is not run by moto)."""
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
    role = iam.create_role(RoleName="dogs-predict", AssumeRolePolicyDocument=json.dumps(ROLE_POLICY))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("predict_lambda/handler.py", "def handler(event, context):\n    return {}\n")
    boto3.client("lambda", endpoint_url=url, region_name="us-east-1").create_function(
        FunctionName="dogs-predict", Runtime="python3.12", Role=role["Role"]["Arn"],
        Handler="predict_lambda.handler.handler", Code={"ZipFile": buf.getvalue()}, Timeout=timeout,
        Environment={"Variables": env})
    return "dogs-predict"


@pytest.fixture
def api_process(moto_server, local_endpoint, api_settings, tmp_path):
    function = create_function(moto_server, {
        "ENDPOINT_NAME": TEST_ENDPOINT, "CLASS_NAMES": json.dumps(list(api_settings.class_names)),
        "MODEL_ID": "deployed-model-id", "MAX_IMAGES": "2", "DEFAULT_TOP_K": "2",
        "ENDPOINT_TIMEOUT_SECONDS": "10", "LOG_LEVEL": "INFO"})
    port = processes.free_port()
    server = processes.start("local-api", "ops.emulator.local_api", [
        "--function-name", function, "--aws-url", moto_server, "--endpoint-url", local_endpoint.url,
        "--port", str(port)], port, "/beta/predict", tmp_path, expect_status=403,
        env={"DOGS_API_KEY": "process-key"})
    yield f"{server.url}/beta/predict", server
    server.stop()


def test_the_deployed_lambda_environment_is_what_answers(api_process, photos):
    url, server = api_process
    jpegs = [jpeg for _, jpeg in photos.values()]
    response = requests.post(url, data=jpegs[0], headers={"x-api-key": "process-key",
                                                          "Content-Type": "image/jpeg"}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "deployed-model-id"              # MODEL_ID
    assert len(body["predictions"][0]["top"]) == 2            # DEFAULT_TOP_K
    too_many = requests.post(url, json={"images": ["QUJD"] * 3}, timeout=60,
                             headers={"x-api-key": "process-key"})
    assert too_many.status_code == 400 and "at most 2" in too_many.text   # MAX_IMAGES
    log_lines = [json.loads(line) for line in server.log.read_text().splitlines()
                 if line.startswith('{"request_id"')]
    assert [line["status"] for line in log_lines] == [200, 400]
    assert "process-key" not in server.log.read_text()


def test_a_missing_function_is_a_start_failure(moto_server, local_endpoint, tmp_path):
    port = processes.free_port()
    with pytest.raises(processes.ServerError):
        processes.start("local-api", "ops.emulator.local_api", [
            "--function-name", "nope", "--aws-url", moto_server, "--endpoint-url", local_endpoint.url,
            "--port", str(port)], port, "/beta/predict", tmp_path, expect_status=403, timeout=60,
            env={"DOGS_API_KEY": "k"})


def test_an_environment_file_stands_in_for_the_deployed_function(local_endpoint, api_settings, photos,
                                                                 tmp_path):
    environment = tmp_path / "env.json"
    environment.write_text(json.dumps({
        "ENDPOINT_NAME": TEST_ENDPOINT, "CLASS_NAMES": json.dumps(list(api_settings.class_names)),
        "MODEL_ID": "from-a-file", "DEFAULT_TOP_K": "1"}))
    port = processes.free_port()
    server = processes.start("local-api-env", "ops.emulator.local_api", [
        "--environment", str(environment), "--endpoint-url", local_endpoint.url, "--port", str(port)],
        port, "/beta/predict", tmp_path, expect_status=403, env={"DOGS_API_KEY": "file-key"})
    try:
        response = requests.post(f"{server.url}/beta/predict", data=next(iter(photos.values()))[1],
                                 headers={"x-api-key": "file-key", "Content-Type": "image/jpeg"},
                                 timeout=60)
    finally:
        server.stop()
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "from-a-file" and len(response.json()["predictions"][0]["top"]) == 1


@pytest.mark.parametrize("args,message", [
    ([], "give --function-name and --aws-url"),
    (["--environment", "missing.json"], "missing.json"),
])
def test_without_a_function_or_a_usable_environment_it_says_what_to_give(args, message, tmp_path):
    run = subprocess.run([sys.executable, "-m", "ops.emulator.local_api", "--endpoint-url", "http://127.0.0.1:9",
                          *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "DOGS_API_KEY": "k"})
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr
