"""A trained artifact under SageMaker's own serving container code (TorchServe + sagemaker-pytorch-inference),
with no network, held to the same answers as the in-process model and the local endpoint."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests

from ops.containers import container_serving
from ops.core.artifact import extract
from tests.fixtures.paths import SHARED
from tests.ops.test_sandbox import host_namespaces

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root (CI runs as root)")]
UNSEEN = SHARED / "data" / "unseen-val" / "Images"


@pytest.fixture(scope="module")
def container(tiny_artifact):
    with container_serving.serve(tiny_artifact) as running:
        yield running


@pytest.fixture(scope="module")
def unseen_photos() -> list[Path]:
    """20 real photos the backbone never saw, 2 of each breed."""
    photos = [p for folder in sorted(UNSEEN.iterdir()) for p in sorted(folder.glob("*.JPEG"))[:2]]
    assert len(photos) == 20
    return photos


def corpus(sample_images) -> dict[str, tuple[bytes, str, str]]:
    """Requests good and bad, as (body, content type, accept): the API tests' inputs and more."""
    images = {name: (body, "application/x-image", "application/json") for name, body in sample_images.items()}
    jpeg = sample_images["jpeg"]
    return {**images,
            "jpeg_as_image_jpeg": (jpeg, "image/jpeg", "application/json"),
            "jpeg_accept_any": (jpeg, "application/x-image", "*/*"),
            "json_body": (b'{"image": "x"}', "application/json", "application/json"),
            "text_body": (b"hello", "text/plain", "application/json"),
            "csv_body": (b"1,2,3", "text/csv", "application/json"),
            "no_content_type": (jpeg, "", "application/json"),
            "accept_csv": (jpeg, "application/x-image", "text/csv")}


def test_the_container_answers_ping_with_no_network(container):
    assert container.ping() == 200
    assert container.environment["SAGEMAKER_MODEL_SERVER_WORKERS"] == str(os.cpu_count())


def test_it_answers_the_same_probabilities_as_the_in_process_model(container, loaded_tiny, unseen_photos):
    for photo in unseen_photos:
        body = photo.read_bytes()
        status, content_type, answer = container.invoke(body, "application/x-image")

        assert (status, content_type) == (200, "application/json")
        assert np.abs(np.array(json.loads(answer)) - loaded_tiny.predict(body)).max() <= 1e-4


def test_it_serves_with_the_onnx_runtime_the_artifact_carries(container, sample_images):
    # Given the artifact's model.json naming the runtime it carries for the image's Python
    assert json.loads((container.root / "model" / "model.json").read_text())["serving_runtime"]["python"] == "3.11"
    assert container.invoke(sample_images["jpeg"], "application/x-image")[0] == 200

    # Then every TorchServe worker runs the network in that copy, from the model's code folder
    workers = [p for p in psutil.Process(container.process.pid).children(recursive=True)
               if "model_service_worker" in _cmdline(p)]
    assert len(workers) == int(container.environment["SAGEMAKER_MODEL_SERVER_WORKERS"])
    for worker in workers:
        assert "/opt/ml/model/code/onnxruntime/capi/" in Path(f"/proc/{worker.pid}/maps").read_text()


def test_every_bad_input_is_a_4xx_with_a_json_error(container, sample_images):
    bad = {name: request for name, request in corpus(sample_images).items()
           if name not in ("jpeg", "png_alpha", "grayscale", "cmyk", "jpeg_as_image_jpeg", "jpeg_accept_any")}

    for name, (body, content_type, accept) in bad.items():
        status, answer_type, answer = container.invoke(body, content_type, accept)

        assert 400 <= status < 500, (name, status, answer[:300])
        assert answer_type == "application/json" and b"Traceback" not in answer, name
        assert json.loads(answer)["error"]["message"], name


def test_the_local_endpoint_answers_every_request_as_the_container_does(container, local_endpoint,
                                                                        sample_images):
    for name, (body, content_type, accept) in corpus(sample_images).items():
        status, _, answer = container.invoke(body, content_type, accept)
        local = requests.post(f"{local_endpoint.url}/invocations", data=body, timeout=60,
                              headers={"Content-Type": content_type, "Accept": accept})

        assert local.status_code == status, (name, local.text[:300], answer[:300])
        if status == 200:
            assert np.abs(np.array(local.json()) - json.loads(answer)).max() <= 1e-4, name
        else:
            assert local.json()["error"]["code"] == json.loads(answer)["error"]["code"], name


def test_sixteen_concurrent_clients_are_all_answered(container, photos):
    bodies = [jpeg for _, jpeg in photos.values()] * 16

    with container.clients(16) as pool:
        statuses = list(pool.map(lambda body: container.invoke(body, "image/jpeg")[0], bodies))

    assert statuses == [200] * len(bodies)


def test_an_artifact_that_installs_at_start_cannot_start_without_network(tiny_artifact, tmp_path):
    # Given the artifact as it was before: a requirements.txt the container pip-installs at start
    model = extract(tiny_artifact, tmp_path / "model")
    shutil.rmtree(model / "code" / "efficientnet_lite_pytorch")
    (model / "code" / "requirements.txt").write_text("efficientnet-lite-pytorch==0.1.0\n")

    # When the container starts it with no network, as network isolation does
    with pytest.raises(container_serving.ContainerError) as failed:
        with container_serving.serve(model, ready_timeout_s=120):
            pass

    # Then it exits, as the endpoint would never become InService
    assert "exited" in str(failed.value)
    assert "failed to install required packages" in str(failed.value)


def test_the_runtime_api_can_front_the_real_container(tiny_artifact, fake_aws_credentials, loaded_tiny,
                                                      sample_images, tmp_path):
    # Given the local endpoint with --container: InvokeEndpoint reaches TorchServe, as on AWS
    import boto3
    from botocore.exceptions import ClientError

    from ops.emulator import processes

    port = processes.free_port()
    server = processes.start("local-endpoint", "ops.emulator.local_endpoint",
                           ["--model", str(tiny_artifact), "--endpoint-name", "dogs-container",
                            "--port", str(port), "--container"], port, "/ping", tmp_path)
    try:
        runtime = boto3.client("sagemaker-runtime", endpoint_url=server.url, region_name="us-east-1")

        # When a photo and a truncated JPEG are sent through the runtime API
        good = runtime.invoke_endpoint(EndpointName="dogs-container", Body=sample_images["jpeg"],
                                       ContentType="application/x-image", Accept="application/json")
        with pytest.raises(ClientError) as refused:
            runtime.invoke_endpoint(EndpointName="dogs-container", Body=sample_images["truncated_jpeg"],
                                    ContentType="application/x-image")

        # Then the photo's probabilities are the in-process model's, the bad one a ModelError with 422
        probabilities = json.loads(good["Body"].read())
        assert np.abs(np.array(probabilities) - loaded_tiny.predict(sample_images["jpeg"])).max() <= 1e-4
        error = refused.value.response
        assert error["Error"]["Code"] == "ModelError" and error["OriginalStatusCode"] == 422
        assert json.loads(error["OriginalMessage"])["error"]["code"] == "invalid_image"
        assert "sagemaker-container" in (tmp_path / "local-endpoint.log").read_text()
        started = psutil.Process(server.pid).children(recursive=True)
        assert any("org.pytorch.serve.ModelServer" in _cmdline(p) for p in started)
    finally:
        server.stop()

    # And stopping the endpoint stops its container with it (none of its processes left behind)
    gone, alive = psutil.wait_procs(started, timeout=20)
    assert alive == [], [_cmdline(p) for p in alive]


def test_a_deployed_model_runs_with_its_own_environment(moto_server, tiny_artifact, tmp_path):
    # Given a model deployed to the local AWS with one worker and a variable of its own
    from ops.emulator import processes
    from tests.ops.test_local_endpoint import deploy_to_moto

    deploy_to_moto(moto_server, tiny_artifact, "dogs-env", {
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_PROGRAM": "inference.py", "DOGS_MARK": "from-the-model"})
    port = processes.free_port()

    # When the local endpoint serves it in the container
    server = processes.start("endpoint-env", "ops.emulator.local_endpoint",
                           ["--endpoint-name", "dogs-env", "--aws-url", moto_server, "--port", str(port),
                            "--work-dir", str(tmp_path / "work"), "--container"], port, "/ping", tmp_path)
    try:
        started = psutil.Process(server.pid).children(recursive=True)
        frontends = [p for p in started if "org.pytorch.serve.ModelServer" in _cmdline(p)]
        environ = frontends[0].environ()
    finally:
        server.stop()

    # Then TorchServe ran with the model's variables, its /opt/ml paths as deployed (the sandbox has one)
    listening = [json.loads(line) for line in (tmp_path / "endpoint-env.log").read_text().splitlines()
                 if '"listening"' in line][0]
    assert listening["workers"] == "1"
    assert environ["DOGS_MARK"] == "from-the-model"
    assert environ["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code" and "SAGEMAKER_BASE_DIR" not in environ


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # a zombie, or already gone
        return ""


def test_a_verbose_accept_gets_the_known_breed_verdict_through_torchserve(container, loaded_tiny, unseen_photos):
    threshold = loaded_tiny.description["known_breed"]["threshold"]
    for photo in unseen_photos[:4]:
        body = photo.read_bytes()
        status, content_type, answer = container.invoke(body, "application/x-image",
                                                        "application/json; verbose=true")

        assert (status, content_type) == (200, "application/json")
        verdict = json.loads(answer)
        assert verdict["is_known_breed"] == (verdict["known_breed_score"] >= threshold)
        assert np.abs(np.array(verdict["probabilities"]) - loaded_tiny.predict(body)).max() <= 1e-4


# Run by the artifact's own code as the worker loads it: what someone else's inference.py could try.
HOSTILE = '''
import ctypes, json, os, signal, subprocess, sys
from real_inference import *  # noqa: F401,F403 (the artifact's own handlers)
from real_inference import model_fn as _model_fn

def _try(action):
    try:
        action()
        return "done"
    except OSError as exc:
        return type(exc).__name__

def _write(path):
    with open(path, "w") as fh:
        fh.write("escaped")

def model_fn(model_dir):
    checkout, token = os.environ["PROBE_CHECKOUT"], os.environ["PROBE_TOKEN"]
    found = {
        "write_checkout": _try(lambda: _write(os.path.join(checkout, "escape-" + token))),
        "write_etc": _try(lambda: _write("/etc/escape-" + token)),
        "write_model": _try(lambda: _write(os.path.join(model_dir, "note"))),
        "write_tmp": _try(lambda: _write("/tmp/note")),
        "host_netns": _try(lambda: os.readlink("/proc/1/ns/net")) and os.readlink("/proc/1/ns/net"),
        "capabilities": [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0],
        "new_user_namespace": ctypes.CDLL(None, use_errno=True).unshare(0x10000000),
    }
    # a process that ignores SIGTERM, in a session of its own, meant to outlive the container
    subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                      "signal.SIG_IGN); signal.signal(signal.SIGHUP, signal.SIG_IGN); time.sleep(600)",
                      "linger-" + token], start_new_session=True)
    with open("/tmp/probe.json", "w") as fh:
        json.dump(found, fh)
    return _model_fn(model_dir)
'''


def test_the_artifacts_code_is_sandboxed(tiny_artifact, tmp_path):
    # Given an artifact whose inference.py tries to write to the checkout, reach the host's namespaces
    # and leave a process behind
    import uuid

    from tests.fixtures.paths import REPO

    model = extract(tiny_artifact, tmp_path / "model")
    (model / "code" / "inference.py").rename(model / "code" / "real_inference.py")
    (model / "code" / "inference.py").write_text(HOSTILE)
    token = uuid.uuid4().hex[:12]

    # When the serving container loads it and answers, then stops
    with container_serving.serve(model, workers=1, env={"PROBE_CHECKOUT": str(REPO),
                                                       "PROBE_TOKEN": token}) as running:
        photo = next(UNSEEN.glob("*/*.JPEG"))
        status = running.invoke(photo.read_bytes(), "application/x-image")[0]
        found = json.loads((running.root / "tmp" / "probe.json").read_text())
        lingering = [p for p in psutil.process_iter(["cmdline"]) if f"linger-{token}" in (p.info["cmdline"] or [])]

    # Then it served, wrote only its model and tmp folders, saw only its own namespaces, had no
    # capabilities, could make no user namespace, and nothing of it survived the stop
    assert status == 200
    assert found["write_etc"] != "done" and found["write_model"] == found["write_tmp"] == "done", found
    # a checkout under /tmp is a folder of the container's own private /tmp there: written, never the host's
    assert found["write_checkout"] != "done" or REPO.is_relative_to("/tmp"), found
    assert not list(REPO.glob(f"escape-{token}")) and not Path(f"/etc/escape-{token}").exists()
    assert found["host_netns"].startswith("net:[") and found["host_netns"] not in host_namespaces("net")
    assert found["capabilities"] == "0000000000000000" and found["new_user_namespace"] == -1, found
    assert len(lingering) == 1
    _, alive = psutil.wait_procs(lingering, timeout=20)
    assert alive == []
