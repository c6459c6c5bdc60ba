"""The api and endpoint sources against real HTTP servers speaking their contracts: same numbers as
in-process predictions, batches and concurrency, clear errors."""
import hashlib
import json

import pytest

from ops.evaluate import run, sources
from tests.fixtures.evaluation import TableSource, api_app, make_table, runtime_app, serving

KEY = "test-key-123"


@pytest.fixture(scope="module")
def table_setup(eval_set):
    lst, data, classes, entries = eval_set
    table = make_table(entries, data, len(classes), seed=5)
    calls = []

    def predict(body):
        calls.append(len(body))
        return table[hashlib.sha256(body).hexdigest()]
    return table, predict, calls


def numbers(folder):
    m = json.loads((folder / "metrics.json").read_text())
    return {k: m[k] for k in ("top1", "top5", "averages", "calibration", "per_breed",
                              "confusion_matrix", "suspected_label_errors")}


@pytest.fixture(scope="module")
def in_process(eval_set, table_setup, tmp_path_factory):
    lst, data, classes, entries = eval_set
    out = tmp_path_factory.mktemp("inproc")
    run.evaluate(lst, data, out / "r", TableSource(table_setup[0], model_id="m1"),
                 cache_path=out / "c.sqlite", options=run.Options(progress=False))
    return out / "r"


def test_api_source_gives_the_same_numbers(eval_set, table_setup, in_process, tmp_path):
    lst, data, classes, entries = eval_set
    table, predict, calls = table_setup
    with serving(api_app(predict, "m1", KEY)) as url:
        source = sources.ApiSource(url + "/beta/", KEY, batch_size=3)
        report = run.evaluate(lst, data, tmp_path / "r", source, cache_path=tmp_path / "c.sqlite",
                              options=run.Options(progress=False, workers=3))
    assert report["model_id"] == "m1" and report["via"] == "api"
    assert numbers(tmp_path / "r") == numbers(in_process)
    assert report["images"]["predicted_now"] == len(entries)


def test_api_source_rejected_key_is_one_clear_error(table_setup):
    with serving(api_app(table_setup[1], "m1", KEY)) as url:
        with pytest.raises(sources.EvaluationError, match=r"/beta/predict: HTTP 403"):
            sources.ApiSource(url + "/beta", "wrong").predict([b"x"])


def test_api_source_without_url_is_an_error():
    with pytest.raises(sources.EvaluationError, match="needs --url"):
        sources.ApiSource("", KEY)


def test_api_source_unreachable_is_an_error():
    src = sources.ApiSource("http://127.0.0.1:9/beta", KEY, retries=0, timeout=2)
    with pytest.raises(sources.EvaluationError, match="ConnectionError"):
        src.predict([b"x"])



def test_endpoint_source_gives_the_same_numbers(eval_set, table_setup, in_process, tmp_path,
                                                fake_aws):
    lst, data, classes, entries = eval_set
    table, predict, calls = table_setup
    with serving(runtime_app(predict, "dogs")) as url:
        fake_aws.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", url)
        source = sources.EndpointSource("dogs", model_id="m1")
        report = run.evaluate(lst, data, tmp_path / "r", source, cache_path=tmp_path / "c.sqlite",
                              options=run.Options(progress=False, workers=4))
    assert report["via"] == "endpoint"
    assert numbers(tmp_path / "r") == numbers(in_process)


def test_endpoint_source_unknown_endpoint_is_an_error(table_setup, fake_aws):
    with serving(runtime_app(table_setup[1], "dogs")) as url:
        fake_aws.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", url)
        with pytest.raises(sources.EvaluationError, match="endpoint nope: .*Could not find"):
            sources.EndpointSource("nope").predict([b"x"])


@pytest.mark.parametrize("bad", [0, 6], ids=["first-photo", "mid-batch"])
def test_a_photo_the_api_refuses_is_reported_and_the_rest_evaluated(eval_set, table_setup, bad,
                                                                     tmp_path):
    """The API answers 400 for a whole request holding a photo it refuses (as the real one does)."""
    lst, data, classes, entries = eval_set
    table, predict, _ = table_setup
    refused = hashlib.sha256((data / entries[bad].path).read_bytes()).hexdigest()

    def picky(body):
        if hashlib.sha256(body).hexdigest() == refused:
            raise ValueError("too many pixels")
        return predict(body)

    inner = api_app(picky, "m1", KEY)

    def app(environ, start_response):
        try:
            return inner(environ, start_response)
        except ValueError as exc:
            start_response("400 Bad Request", [("content-type", "application/json")])
            return [json.dumps({"error": {"code": "invalid_image", "message": str(exc)}}).encode()]

    with serving(app) as url:
        report = run.evaluate(lst, data, tmp_path / "r", sources.ApiSource(url + "/beta", KEY,
                                                                           batch_size=4),
                              cache_path=tmp_path / "c.sqlite",
                              options=run.Options(progress=False, workers=2))
    assert report["images"]["evaluated"] == len(entries) - 1
    [skipped] = report["images"]["skipped"]
    assert skipped["path"] == entries[bad].path
    assert skipped["reason"].startswith("rejected by the api: HTTP 400") and \
        "too many pixels" in skipped["reason"]
    assert report["top1"]["total"] == len(entries) - 1


def refusing_runtime(predict, refused: str, status: int):
    """The runtime app, answering the photo whose hash is `refused` with the container's `status` as
    SageMaker does: a ModelError (424) carrying it."""
    inner = runtime_app(predict, "dogs")
    kind = "server" if status >= 500 else "client"

    def app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if hashlib.sha256(body).hexdigest() == refused:
            start_response("424 Failed Dependency", [("content-type", "application/json"),
                                                     ("x-amzn-ErrorType", "ModelError")])
            return [json.dumps({"message": f"Received {kind} error ({status}) from primary with message "
                                           '"no". See the logs.', "OriginalStatusCode": status,
                                "OriginalMessage": "no"}).encode()]
        import io
        environ["wsgi.input"] = io.BytesIO(body)
        return inner(environ, start_response)
    return app


def test_a_photo_the_endpoints_model_refuses_is_reported_and_the_rest_evaluated(eval_set, table_setup,
                                                                               tmp_path, fake_aws):
    """SageMaker answers a model container's 4xx with ModelError (424): that photo is left out."""
    lst, data, classes, entries = eval_set
    table, predict, _ = table_setup
    refused = hashlib.sha256((data / entries[3].path).read_bytes()).hexdigest()
    with serving(refusing_runtime(predict, refused, 422)) as url:
        fake_aws.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", url)
        report = run.evaluate(lst, data, tmp_path / "r", sources.EndpointSource("dogs", "m1"),
                              cache_path=tmp_path / "c.sqlite", options=run.Options(progress=False))
    [skipped] = report["images"]["skipped"]
    assert skipped["path"] == entries[3].path
    assert skipped["reason"].startswith("rejected by the endpoint: ModelError")
    assert report["images"]["evaluated"] == len(entries) - 1


def test_a_model_failure_at_the_endpoint_stops_the_evaluation(eval_set, table_setup, tmp_path, fake_aws):
    """A model's 5xx (ModelError "Received server error") is no verdict on the photo: leaving it out would
    flatter the figures, so it stops the run as the API's 502 does."""
    lst, data, classes, entries = eval_set
    table, predict, _ = table_setup
    failed = hashlib.sha256((data / entries[3].path).read_bytes()).hexdigest()
    with serving(refusing_runtime(predict, failed, 500)) as url:
        fake_aws.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", url)
        with pytest.raises(sources.EvaluationError) as caught:
            run.evaluate(lst, data, tmp_path / "r", sources.EndpointSource("dogs", "m1"),
                         cache_path=tmp_path / "c.sqlite", options=run.Options(progress=False))
    assert not isinstance(caught.value, sources.RejectedImage)
    assert "Received server error (500)" in str(caught.value) and "endpoint dogs" in str(caught.value)
