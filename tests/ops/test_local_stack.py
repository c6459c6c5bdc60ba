"""The full local stack over HTTP, as a user runs it: `invoke local.up`, `invoke deploy --target local`
(real Terraform against the local AWS), `invoke serve --background`, `invoke predict`; then every input form
and error status against what Terraform deployed; `invoke serve --stop`, `invoke local.down`."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
import requests

from ops.core.config import PROJECT_ROOT

pytestmark = pytest.mark.slow


def invoke(home, *args, timeout=900) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOGS_HOME": str(home)}
    run = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT_ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout)
    return run


def state_of(home) -> dict:
    return json.loads((home / "state.json").read_text())


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tiny_artifact, loaded_tiny):
    """The tiny artifact deployed with Terraform to the local AWS and served: (predict URL, API key)."""
    home = tmp_path_factory.mktemp("dogs-home")
    (home / "state.json").write_text(json.dumps({"artifact": {
        "local_path": str(tiny_artifact), "model_id": loaded_tiny.model_id, "s3_uri": ""}}))
    try:
        for args in (["local.up"], ["deploy", "--target", "local"], ["serve", "--background"]):
            run = invoke(home, *args)
            assert run.returncode == 0, f"invoke {' '.join(args)}: {run.stdout[-2000:]}{run.stderr[-2000:]}"
        served = state_of(home)["serve"]
        key = _api_key(home)
        yield home, served["predict_url"], key
    finally:
        invoke(home, "serve", "--stop", timeout=60)
        invoke(home, "local.down", timeout=60)


def _api_key(home) -> str:
    code = ("import json; from ops.deploy import terraform; "
            "print(json.dumps(terraform.outputs('local')['api_key_value']))")
    run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         env={**os.environ, "DOGS_HOME": str(home)}, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_invoke_predict_uses_the_deployment(stack, photos, tmp_path):
    home, _, _ = stack
    name, (_, jpeg) = next(iter(photos.items()))
    photo = tmp_path / f"{name}.jpg"
    photo.write_bytes(jpeg)
    run = invoke(home, "predict", str(photo), "--json", timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)[0]["status"] == 200


def test_the_deployed_model_and_lambda_answer(stack, photos, loaded_tiny):
    _, url, key = stack
    jpegs = [jpeg for _, jpeg in photos.values()]
    response = requests.post(url, headers={"x-api-key": key}, timeout=120,
                             json={"images": [b64(j) for j in jpegs[:2]], "raw": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == loaded_tiny.model_id
    expected = json.loads(loaded_tiny.invoke(jpegs[0], "application/x-image", "application/json"))
    assert body["predictions"][0]["probabilities"] == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("kwargs, status", [
    ({"json": "QUJD"}, 422),
    ({"data": b"{", "headers": {"Content-Type": "application/json"}}, 400),
    ({"data": b"x", "headers": {"Content-Type": "text/csv"}}, 415),
    ({"json": {"image": "A" * (5 * 2**20)}}, 413),
])
def test_errors_through_the_deployed_stack(stack, kwargs, status):
    _, url, key = stack
    response = requests.post(url, headers={"x-api-key": key, **kwargs.pop("headers", {})}, timeout=120,
                             **kwargs)
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"code", "message"}


def test_the_key_from_terraform_is_required(stack):
    _, url, _ = stack
    assert requests.post(url, headers={"x-api-key": "nope"}, json="QUJD", timeout=30).status_code == 403


def test_by_default_no_cors_and_no_preflight(stack):
    """Deployed without cors_allowed_origins: no OPTIONS method, no CORS gateway response, no header."""
    import boto3

    home, url, key = stack
    state = state_of(home)
    api = boto3.client("apigateway", region_name="us-east-1", endpoint_url=state["local_aws"]["url"],
                       verify=state["local_aws"].get("ca_bundle") or True,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    api_id = state["deployments"]["local"]["api_id"]
    methods = {m for r in api.get_resources(restApiId=api_id)["items"] for m in r.get("resourceMethods", {})}
    assert "OPTIONS" not in methods and "POST" in methods
    mapped = [i for i in api.get_gateway_responses(restApiId=api_id)["items"]
              if "gatewayresponse.header.Access-Control-Allow-Origin" in (i.get("responseParameters") or {})]
    assert mapped == []
    origin = {"Origin": "https://app.example.com"}
    answers = [requests.options(url, headers={**origin, "Access-Control-Request-Method": "POST"}, timeout=30),
               requests.post(url, headers={"x-api-key": key, **origin}, json="QUJD", timeout=60),
               requests.post(url, headers={"x-api-key": "wrong", **origin}, json="QUJD", timeout=60)]
    assert [a.status_code for a in answers] == [403, 422, 403]
    for answer in answers:
        assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
