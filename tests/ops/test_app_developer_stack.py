"""What an app developer sees of the local stack (`invoke local.up`, `invoke deploy --target local` with
`cors_allowed_origins`, `invoke serve --background`): CORS as Terraform applied it (read back from the
local AWS) and as the served API answers it, and the try-it page in headless Chromium. One stack for the
module."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys

import boto3
import pytest
import requests

from ops.core.config import PROJECT_ROOT
from tests.fixtures.api import class_names
from tests.ops.test_local_stack import _api_key, invoke, state_of

pytestmark = pytest.mark.slow

APP = "http://localhost:8080"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tiny_artifact, loaded_tiny):
    """The tiny artifact deployed with CORS for APP and served: a dict of what the tests need."""
    home = tmp_path_factory.mktemp("dogs-home")
    (home / "state.json").write_text(json.dumps({"artifact": {
        "local_path": str(tiny_artifact), "model_id": loaded_tiny.model_id, "s3_uri": ""}}))
    tfvars = home / "cors.tfvars"
    tfvars.write_text(f'cors_allowed_origins = ["{APP}"]\n')
    try:
        for args in (["local.up"], ["deploy", "--target", "local", "--var-file", str(tfvars),
                                    "--endpoint-type", "serverless"], ["serve", "--background"]):
            run = invoke(home, *args)
            assert run.returncode == 0, f"invoke {' '.join(args)}: {run.stdout[-2000:]}{run.stderr[-2000:]}"
        state = state_of(home)
        deployment = state["deployments"]["local"]
        yield {"home": home, "predict_url": state["serve"]["predict_url"], "key": _api_key(home),
               "aws": state["local_aws"], "api_id": deployment["api_id"],
               "function": deployment["lambda_function_name"]}
    finally:
        invoke(home, "serve", "--stop", timeout=60)
        invoke(home, "local.down", timeout=60)


def aws_client(stack, service):
    aws = stack["aws"]
    return boto3.client(service, region_name="us-east-1", endpoint_url=aws["url"],
                        verify=aws.get("ca_bundle") or True, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


# ---------------------------------------------------------------- CORS as applied
def test_the_lambda_gets_the_origins(stack):
    config = aws_client(stack, "lambda").get_function_configuration(FunctionName=stack["function"])
    assert json.loads(config["Environment"]["Variables"]["CORS_ALLOWED_ORIGINS"]) == [APP]


def test_the_api_has_a_keyless_preflight_and_page_into_the_lambda(stack):
    api = aws_client(stack, "apigateway")
    resources = {r["path"]: r for r in api.get_resources(restApiId=stack["api_id"])["items"]}
    for path, method in (("/predict", "OPTIONS"), ("/", "GET")):
        spec = api.get_method(restApiId=stack["api_id"], resourceId=resources[path]["id"],
                              httpMethod=method)
        assert spec["authorizationType"] == "NONE" and not spec.get("apiKeyRequired")
        integration = spec["methodIntegration"]
        assert integration["type"] == "AWS_PROXY" and stack["function"] in integration["uri"]
    predict = api.get_method(restApiId=stack["api_id"], resourceId=resources["/predict"]["id"],
                             httpMethod="POST")
    assert predict["apiKeyRequired"]


def test_the_gateway_responses_carry_the_origin(stack):
    api = aws_client(stack, "apigateway")
    items = {i["responseType"]: i for i in api.get_gateway_responses(restApiId=stack["api_id"])["items"]}
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        params = items[kind]["responseParameters"]
        assert params["gatewayresponse.header.Access-Control-Allow-Origin"] == f"'{APP}'"


# ---------------------------------------------------------------- CORS as served
def test_preflight_and_request_from_the_allowed_origin(stack, photos):
    url, key = stack["predict_url"], stack["key"]
    pre = requests.options(url, timeout=60, headers={"Origin": APP,
                                                     "Access-Control-Request-Method": "POST",
                                                     "Access-Control-Request-Headers": "x-api-key"})
    assert pre.status_code == 204 and pre.headers["Access-Control-Allow-Origin"] == APP
    _, jpeg = next(iter(photos.values()))
    ok = requests.post(url, json=base64.b64encode(jpeg).decode(), timeout=120,
                       headers={"x-api-key": key, "Origin": APP})
    assert ok.status_code == 200 and ok.headers["Access-Control-Allow-Origin"] == APP
    for response in (requests.post(url, json="QUJD", timeout=60, headers={"x-api-key": key,
                                                                         "Origin": APP}),
                     requests.post(url, json="QUJD", timeout=60, headers={"x-api-key": "wrong",
                                                                         "Origin": APP})):
        assert response.status_code in (403, 422)
        assert response.headers["Access-Control-Allow-Origin"] == APP


def test_another_origin_is_not_allowed(stack):
    pre = requests.options(stack["predict_url"], timeout=60,
                           headers={"Origin": "https://elsewhere.example",
                                    "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in pre.headers


# ---------------------------------------------------------------- the try-it page
@pytest.fixture(scope="module")
def recognisable_photo(dogs10, loaded_tiny, tmp_path_factory):
    """(path, breed) of a dogs-10 photo the tiny model did not train on and ranks right in-process."""
    names = class_names(loaded_tiny)
    folders = sorted(p for p in dogs10.iterdir() if p.is_dir())
    for class_id, folder in enumerate(folders):
        for photo in sorted(folder.glob("*.jpg"))[20:23]:  # the tiny model trained on the first 9
            probs = json.loads(loaded_tiny.invoke(photo.read_bytes(), "application/x-image",
                                                  "application/json"))
            if max(range(len(probs)), key=probs.__getitem__) == class_id:
                return photo, names[class_id]
    pytest.fail("the tiny model ranks none of the photos tried right")


@pytest.fixture(scope="module")
def page(stack, browser):
    """The page opened from the local API's root, the API key typed in."""
    root = stack["predict_url"].rsplit("/", 2)[0] + "/"
    browser.open(root)
    browser.wait_for("document.getElementById('api-url').value.endsWith('/beta/predict')")
    browser.evaluate(f"""(() => {{ const k = document.getElementById('api-key');
        k.value = {json.dumps(stack['key'])}; k.dispatchEvent(new Event('input')); return 1; }})()""")
    return browser


def result_of(page, name):
    selector = json.dumps(f'.result[data-file="{name}"]')
    page.wait_for(f"['done', 'error'].includes(document.querySelector({selector})?.dataset.state)")
    return page.evaluate(f"""(() => {{ const card = document.querySelector({selector});
        return {{state: card.dataset.state, text: card.innerText,
                 top: [...card.querySelectorAll('.breed .name')].map(e => e.textContent),
                 error: card.querySelector('.error')?.textContent || null}}; }})()""")


def test_the_page_shows_the_right_breed_on_top(page, stack, recognisable_photo):
    photo, breed = recognisable_photo
    page.set_files("#photos", [photo])
    result = result_of(page, photo.name)
    shot = page.screenshot("try-it-page-breed")
    assert result["state"] == "done", result
    assert result["top"][0] == breed and len(result["top"]) == 5, result
    assert "ms" in result["text"] and "model " in result["text"]
    assert page.evaluate("sessionStorage.getItem('dogs-api-key')") == stack["key"]
    assert shot.stat().st_size > 10_000


def test_the_page_shows_the_apis_error_for_a_text_file_named_jpg(page, stack, tmp_path):
    fake = tmp_path / "not-a-dog.jpg"
    fake.write_text("This is a text file, not a photo of a dog.\n" * 4)
    direct = requests.post(stack["predict_url"], timeout=60, headers={"x-api-key": stack["key"]},
                           json={"image": base64.b64encode(fake.read_bytes()).decode()})
    assert direct.status_code == 422
    page.set_files("#photos", [fake])
    result = result_of(page, fake.name)
    page.screenshot("try-it-page-error")
    assert result["state"] == "error"
    assert result["error"] == f"422 invalid_image: {direct.json()['error']['message']}"


# ---------------------------------------------------------------- the examples, run as written
EXAMPLES = PROJECT_ROOT / "examples"


def run_example(stack, command, photo, tmp_path):
    env = {**os.environ, "DOGS_API_URL": stack["predict_url"], "DOGS_API_KEY": stack["key"]}
    return subprocess.run([*command, str(photo)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)


COMMANDS = {
    "predict_curl.sh": ["sh", str(EXAMPLES / "predict_curl.sh")],
    "predict_requests.py": [sys.executable, str(EXAMPLES / "predict_requests.py")],
    "predict_fetch.mjs": ["node", str(EXAMPLES / "predict_fetch.mjs")],
}


def test_every_example_is_run_here():
    assert {p.name for p in EXAMPLES.iterdir()} == {*COMMANDS, "try_api.ipynb"}


@pytest.mark.parametrize("example", COMMANDS)
def test_the_example_names_the_breed(stack, recognisable_photo, example, tmp_path):
    if COMMANDS[example][0] == "node" and not shutil.which("node"):
        pytest.skip("node is not installed (apt-get install -y nodejs)")
    photo, breed = recognisable_photo
    run = run_example(stack, COMMANDS[example], photo, tmp_path)
    assert run.returncode == 0, run.stderr
    if example.endswith(".sh"):
        assert json.loads(run.stdout)["predictions"][0]["top"][0]["breed"] == breed
    else:
        assert breed in run.stdout.splitlines()[0] and "model: " in run.stdout


@pytest.mark.parametrize("example", COMMANDS)
def test_the_example_reports_the_apis_error(stack, example, tmp_path):
    if COMMANDS[example][0] == "node" and not shutil.which("node"):
        pytest.skip("node is not installed (apt-get install -y nodejs)")
    fake = tmp_path / "not-a-dog.jpg"
    fake.write_text("This is a text file, not a photo of a dog.\n")
    run = run_example(stack, COMMANDS[example], fake, tmp_path)
    assert run.returncode != 0
    assert "422" in run.stdout + run.stderr, run.stdout + run.stderr


def test_the_notebook_runs_against_the_stack(stack, recognisable_photo, tmp_path, monkeypatch):
    import nbclient
    import nbformat

    photo, breed = recognisable_photo
    for name, value in (("DOGS_API_URL", stack["predict_url"]), ("DOGS_API_KEY", stack["key"]),
                        ("DOGS_PHOTO", str(photo))):
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(EXAMPLES / "try_api.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code"
                      for o in c.outputs)
    assert "class probabilities; the most likely class id is" in printed
    assert breed in printed
