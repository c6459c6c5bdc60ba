"""The model history behind `invoke models`, `invoke deploy --model ID` and `invoke rollback`."""
from __future__ import annotations

import pytest

from ops.deploy import model_history, served_model
from ops.core import state


def deployed(target: str, model_id: str, accuracy: float | None = None):
    model = served_model.Model(f"s3://b/{model_id}/model.tar.gz", model_id, ["a", "b"], None, "pytorch", accuracy)
    model_history.record_deployed(target, model, accuracy)
    deployments = state.read("deployments") or {}
    state.record("deployments", {**deployments, target: {"endpoint_name": "dog-breeds"}})


@pytest.fixture
def home(tmp_path, use_home):
    return use_home(tmp_path)


def test_rollback_goes_to_the_model_before_the_serving_one(home):
    deployed("aws", "m1")
    deployed("aws", "m2")
    deployed("local", "m3")
    assert model_history.previous("aws")["model_id"] == "m1"


def test_after_a_rollback_the_next_rollback_goes_forward_again(home):
    deployed("aws", "m1")
    deployed("aws", "m2")
    deployed("aws", "m1")  # the rollback is a deploy
    assert model_history.previous("aws")["model_id"] == "m2"


@pytest.mark.parametrize("setup, words", [
    (lambda: None, "nothing is deployed to aws"),
    (lambda: deployed("aws", "m1"), "m1 is the only model deployed to aws"),
], ids=["none", "one"])
def test_nothing_to_roll_back_to_is_one_clear_error(home, setup, words):
    setup()
    with pytest.raises(model_history.HistoryError, match=words):
        model_history.previous("aws")


def test_deploy_model_id_rebuilds_the_model_from_its_entry(home):
    deployed("aws", "m1", 0.9)
    model = served_model.model_from_history("m1")
    assert (model.model_data_url, model.class_names, model.validation_accuracy) == \
        ("s3://b/m1/model.tar.gz", ["a", "b"], 0.9)


def test_an_unknown_model_id_lists_the_known(home):
    deployed("aws", "m1")
    with pytest.raises(model_history.HistoryError, match="known: m1"):
        served_model.model_from_history("m9")


def test_rows_say_where_each_model_serves_and_include_the_undeployed_trained_one(home):
    deployed("aws", "m1", 0.8)
    deployed("local", "m1")
    deployed("aws", "m2")
    state.record("artifact", {"model_id": "m3", "s3_uri": "s3://b/m3/model.tar.gz"})
    rows = {r["model_id"]: r for r in model_history.rows()}
    assert rows["m1"]["serves"] == ["local"] and rows["m2"]["serves"] == ["aws"]
    assert rows["m3"]["deployed_at"] is None and rows["m3"]["serves"] == []


def test_a_destroyed_target_serves_nothing(home):
    deployed("aws", "m1")
    state.record("deployments", {})
    assert model_history.serving("aws") is None
