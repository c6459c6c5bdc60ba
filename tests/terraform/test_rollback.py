"""`invoke rollback` against the local AWS: two models deployed, then back to the first one; the endpoint
serves the first model's configuration again (same definition, same hash-named configuration)."""
from __future__ import annotations

import pytest

from ops.deploy import stack as deploy, model_history, served_model
from ops.emulator import local_aws
from tests.fixtures.terraform_stack import write_artifact

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rolled(local_stack_home, aws, tmp_path_factory):
    settings = deploy.Settings(target="local", region=local_aws.REGION)
    art = tmp_path_factory.mktemp("rollback")
    quiet = {"echo": lambda _: None}
    runs = {}
    try:
        write_artifact(art / "a", "model-a", b"first")
        runs["first"] = deploy.deploy(settings, served_model.find_model(), **quiet)
        write_artifact(art / "b", "model-b", b"second")
        runs["second"] = deploy.deploy(settings, served_model.find_model(), **quiet)
        runs["previous"] = model_history.previous("local")
        runs["rolled"] = deploy.deploy(settings, served_model.model_from_history(runs["previous"]["model_id"]), **quiet)
        runs["endpoint"] = aws("sagemaker").describe_endpoint(EndpointName=runs["rolled"]["endpoint_name"])
        runs["lambda"] = aws("lambda").get_function_configuration(FunctionName="dog-breeds-predict")
        runs["rows"] = model_history.rows()
    finally:
        deploy.destroy(settings, keep_bucket=False, auto_approve=True, **quiet)
    return runs


def test_rollback_picks_the_model_before_the_serving_one(rolled):
    assert rolled["previous"]["model_id"] == "model-a"


def test_rollback_restores_the_first_models_endpoint_configuration(rolled):
    assert rolled["second"]["endpoint_config_name"] != rolled["first"]["endpoint_config_name"]
    assert rolled["rolled"]["endpoint_config_name"] == rolled["first"]["endpoint_config_name"]
    assert rolled["endpoint"]["EndpointConfigName"] == rolled["first"]["endpoint_config_name"]
    assert rolled["lambda"]["Environment"]["Variables"]["MODEL_ID"] == "model-a"


def test_models_lists_both_and_says_which_serves(rolled):
    rows = {r["model_id"]: r for r in rolled["rows"]}
    assert rows["model-a"]["serves"] == ["local"] and rows["model-b"]["serves"] == []
    assert rows["model-b"]["model_data_url"].endswith("/dogs/models/model-b/model.tar.gz")
