"""The local endpoint: SageMaker's container contract, its runtime API as boto3 sees it, and finding the
deployed model the way SageMaker does (endpoint → config → model → S3), on a moto server."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from ops.emulator import local_endpoint, processes
from tests.fixtures.api import TEST_ENDPOINT
from tests.fixtures.durability import synced_before_rename


@pytest.fixture(scope="module")
def runtime(local_endpoint):
    return boto3.client("sagemaker-runtime", endpoint_url=local_endpoint.url, region_name="us-east-1")


def test_ping(local_endpoint):
    assert requests.get(local_endpoint.url + "/ping", timeout=10).status_code == 200


def test_container_invocations_answer_probabilities(local_endpoint, photos, loaded_tiny):
    _, jpeg = next(iter(photos.values()))
    response = requests.post(local_endpoint.url + "/invocations", data=jpeg, timeout=60,
                             headers={"Content-Type": "application/x-image"})
    assert response.status_code == 200
    probs = response.json()
    assert len(probs) == len(loaded_tiny.classes) and abs(sum(probs) - 1) < 1e-4


def test_container_answers_415_for_an_unsupported_content_type(local_endpoint):
    response = requests.post(local_endpoint.url + "/invocations", data=b"a,b", timeout=60,
                             headers={"Content-Type": "text/csv"})
    assert response.status_code == 415


def test_runtime_api_through_boto3(runtime, photos, loaded_tiny):
    _, jpeg = next(iter(photos.values()))
    response = runtime.invoke_endpoint(EndpointName=TEST_ENDPOINT, Body=jpeg,
                                       ContentType="image/jpeg", Accept="application/json")
    probs = json.loads(response["Body"].read())
    expected = json.loads(loaded_tiny.invoke(jpeg, "image/jpeg", "application/json"))
    assert probs == pytest.approx(expected, abs=1e-5)
    assert response["InvokedProductionVariant"] == "AllTraffic"


def test_a_model_failure_is_a_model_error_with_the_original_status(runtime, sample_images):
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName=TEST_ENDPOINT, Body=sample_images["text_named_jpg"],
                                ContentType="application/x-image")
    response = caught.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 422
    assert json.loads(response["OriginalMessage"])["error"]["code"] == "invalid_image"
    assert response["Error"]["Message"].startswith('Received client error (422) from primary with message "')


@pytest.mark.parametrize("status,kind", [(400, "client"), (422, "client"), (500, "server"), (503, "server")])
def test_a_model_error_says_client_or_server_error_as_sagemaker_does(status, kind):
    """SageMaker words a container's 4xx "Received client error (4xx)", its 5xx "Received server error (5xx)"."""
    from werkzeug.test import Client

    from ops.core.artifact import InferenceFailed

    def failing(body, content_type, accept):
        raise InferenceFailed(status, b'{"error": {"code": "x", "message": "no"}}', "application/json")

    answer = Client(local_endpoint.create_app(failing, "e")).post(
        "/endpoints/e/invocations", data=b"x", headers={"Content-Type": "application/x-image"})
    assert answer.status_code == 424 and answer.headers["x-amzn-ErrorType"] == "ModelError:"
    assert answer.json["OriginalStatusCode"] == status
    assert answer.json["message"].startswith(f'Received {kind} error ({status}) from primary with message "{{')


def test_an_unexpected_model_failure_is_a_server_error():
    from werkzeug.test import Client

    def failing(body, content_type, accept):
        raise RuntimeError("a bug in the handler")

    answer = Client(local_endpoint.create_app(failing, "e")).post(
        "/endpoints/e/invocations", data=b"x", headers={"Content-Type": "application/x-image"})
    assert answer.json["OriginalStatusCode"] == 500
    assert answer.json["message"].startswith("Received server error (500) from primary")
    assert "a bug in the handler" not in answer.json["message"]  # the log has it, not the client


def test_an_unknown_endpoint_is_a_validation_error(runtime, photos):
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName="nope", Body=b"x", ContentType="application/x-image")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "nope" in caught.value.response["Error"]["Message"]


def test_a_body_over_6_mb_is_refused_as_sagemaker_does(local_endpoint):
    response = requests.post(f"{local_endpoint.url}/endpoints/{TEST_ENDPOINT}/invocations",
                             data=b"\xff" * (6 * 1024 * 1024 + 1), timeout=60,
                             headers={"Content-Type": "application/x-image"})
    assert response.status_code == 413
    assert response.headers["x-amzn-ErrorType"] == "ValidationError:"
    assert "6 MB" in response.json()["message"]


@pytest.mark.parametrize("method,path,status", [("GET", "/nothing", 404), ("GET", "/invocations", 405),
                                                ("POST", "/ping", 405)])
def test_other_paths_and_methods_are_http_errors(local_endpoint, method, path, status):
    assert requests.request(method, local_endpoint.url + path, timeout=10).status_code == status


def test_beyond_max_in_flight_invocations_are_throttled():
    import threading

    from werkzeug.test import Client

    entered, release = threading.Event(), threading.Event()

    def slow_invoke(body, content_type, accept):
        entered.set()
        release.wait(10)
        return b"[1.0]"

    client = Client(local_endpoint.create_app(slow_invoke, "e", max_in_flight=1, serialize=False))
    path = "/endpoints/e/invocations"
    first = threading.Thread(target=client.post, args=(path,), kwargs={"data": b"x"})
    first.start()
    assert entered.wait(10)
    throttled = client.post(path, data=b"x")
    release.set()
    first.join(10)
    assert throttled.status_code == 400
    assert throttled.headers["x-amzn-ErrorType"] == "ThrottlingException:"
    assert client.post(path, data=b"x").status_code == 200  # capacity is back


def deploy_to_moto(url: str, artifact, endpoint_name: str, environment: dict | None = None) -> str:
    """What Terraform's SageMaker resources amount to: bucket + artifact, model, endpoint config, endpoint."""
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    sm = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1")
    s3.create_bucket(Bucket="dogs-models")
    s3.upload_file(str(artifact), "dogs-models", "models/m1/model.tar.gz")
    sm.create_model(ModelName="dogs-m1", ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
                    PrimaryContainer={"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch",
                                      "ModelDataUrl": "s3://dogs-models/models/m1/model.tar.gz",
                                      "Environment": environment or {}})
    sm.create_endpoint_config(EndpointConfigName="dogs-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "dogs-m1", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=endpoint_name, EndpointConfigName="dogs-config")
    return "s3://dogs-models/models/m1/model.tar.gz"


def test_model_source_follows_endpoint_config_and_model(moto_server, tiny_artifact, tmp_path):
    uri = deploy_to_moto(moto_server, tiny_artifact, "dogs-live", {"SAGEMAKER_MODEL_SERVER_WORKERS": "3"})
    source, path = local_endpoint.fetch_deployed_model(moto_server, "us-east-1", "dogs-live", tmp_path)
    assert (source.model_name, source.model_data_url) == ("dogs-m1", uri)
    assert source.environment == {"SAGEMAKER_MODEL_SERVER_WORKERS": "3"}
    assert path.read_bytes() == tiny_artifact.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_endpoint_that_is_not_deployed_is_a_clear_error(moto_server, tmp_path):
    with pytest.raises(local_endpoint.EndpointSourceError, match="invoke deploy"):
        local_endpoint.fetch_deployed_model(moto_server, "us-east-1", "dogs-missing", tmp_path)


def test_the_deployed_model_is_what_answers(moto_server, tiny_artifact, photos, loaded_tiny, tmp_path):
    deploy_to_moto(moto_server, tiny_artifact, "dogs-live")
    port = processes.free_port()
    server = processes.start("endpoint-from-moto", "ops.emulator.local_endpoint",
                           ["--endpoint-name", "dogs-live", "--aws-url", moto_server, "--port", str(port),
                            "--work-dir", str(tmp_path / "work")], port, "/ping", tmp_path)
    try:
        runtime = boto3.client("sagemaker-runtime", endpoint_url=server.url, region_name="us-east-1")
        _, jpeg = next(iter(photos.values()))
        body = runtime.invoke_endpoint(EndpointName="dogs-live", Body=jpeg,
                                       ContentType="application/x-image")["Body"].read()
        expected = json.loads(loaded_tiny.invoke(jpeg, "application/x-image", "application/json"))
        assert json.loads(body) == pytest.approx(expected, abs=1e-5)
    finally:
        server.stop()
    assert "model_source" in (tmp_path / "endpoint-from-moto.log").read_text()


def test_a_start_failure_names_the_log(moto_server, tmp_path):
    port = processes.free_port()
    with pytest.raises(processes.ServerError, match="exited with status"):
        processes.start("endpoint-missing", "ops.emulator.local_endpoint",
                      ["--endpoint-name", "dogs-missing", "--aws-url", moto_server, "--port", str(port)],
                      port, "/ping", tmp_path, timeout=60)
    assert "invoke deploy" in (tmp_path / "endpoint-missing.log").read_text()


def test_the_downloaded_artifact_is_synced_before_it_takes_its_name(tmp_path, disk_events):
    class S3:
        def download_file(self, bucket, key, filename):
            assert (bucket, key) == ("dogs-models", "models/m1/model.tar.gz")
            with open(filename, "wb") as fh:
                fh.write(b"artifact")

    path = local_endpoint.download(S3(), "s3://dogs-models/models/m1/model.tar.gz", tmp_path)

    assert path.read_bytes() == b"artifact"
    assert synced_before_rename(disk_events, path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.tar.gz"]


OPERATOR = {"AWS_ACCESS_KEY_ID": "AKIAOPERATOROWNKEY01", "AWS_SECRET_ACCESS_KEY": "operator-secret-key",
            "AWS_SESSION_TOKEN": "operator-session-token", "AWS_PROFILE": "operator-admin",
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/operator", "DOGS_API_KEY": "operator-api-key",
            "GITHUB_TOKEN": "operator-github-token"}


def start_endpoint(model, name: str, log_dir):
    port = processes.free_port()
    return processes.start(name, "ops.emulator.local_endpoint",
                           ["--model", str(model), "--endpoint-name", name, "--port", str(port)],
                           port, "/ping", log_dir)


def listening(log) -> dict:
    return [json.loads(line) for line in log.read_text().splitlines() if '"listening"' in line][-1]


def test_the_endpoint_process_has_none_of_the_operators_credentials(tiny_artifact, tmp_path, monkeypatch):
    # Given an operator's shell with real-looking AWS credentials, a profile and other secrets
    for name, value in OPERATOR.items():
        monkeypatch.setenv(name, value)

    # When the local endpoint, which runs the artifact's code in its process, starts from that shell
    server = start_endpoint(tiny_artifact, "endpoint-env", tmp_path)
    try:
        environ = dict(line.split("=", 1) for line in
                       Path(f"/proc/{server.pid}/environ").read_bytes().decode().split("\0") if "=" in line)
    finally:
        server.stop()

    # Then none of them reached it: only the local AWS's test credentials, and no credential files
    assert not set(OPERATOR.values()) & set(environ.values())
    # (AWS_CA_BUNDLE, whom to trust, is passed on: it authenticates no one)
    assert environ.get("AWS_CA_BUNDLE") == os.environ.get("AWS_CA_BUNDLE")
    assert {k: v for k, v in environ.items() if k.startswith("AWS_") and k != "AWS_CA_BUNDLE"} == {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true"}
    assert environ["PATH"] == os.environ["PATH"]


def test_the_extraction_folder_goes_when_the_endpoint_stops(tiny_artifact, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the endpoint extracts into its temp folder
    server = start_endpoint(tiny_artifact, "endpoint-stop", tmp_path)
    folder = Path(listening(tmp_path / "endpoint-stop.log")["model_dir"])
    assert folder.parent == tmp_path and (folder / "model.json").is_file()

    server.stop()

    assert not folder.exists()


def test_a_killed_endpoints_extraction_goes_at_the_next_start(tiny_artifact, tmp_path, monkeypatch):
    # Given an endpoint killed before it could clean up
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    killed = start_endpoint(tiny_artifact, "endpoint-killed", tmp_path)
    left = Path(listening(tmp_path / "endpoint-killed.log")["model_dir"])
    os.kill(killed.pid, signal.SIGKILL)
    os.waitpid(killed.pid, 0)
    assert left.exists()

    # When the next one starts, then the one left behind is gone and only the new one's is there
    server = start_endpoint(tiny_artifact, "endpoint-next", tmp_path)
    try:
        current = Path(listening(tmp_path / "endpoint-next.log")["model_dir"])
        assert not left.exists()
        assert [p for p in tmp_path.glob("dogs-model-*")] == [current]
    finally:
        server.stop()
    assert not current.exists()
