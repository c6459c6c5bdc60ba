"""`invoke deploy --model`: a model id from the history, or a model.tar.gz here (its own record inside)."""
from __future__ import annotations

import pytest

from ops.deploy import stack as deploy, deploy_cli, model_history
from ops.core import model_record
from tests.fixtures.artifact import recorded_artifact

SETTINGS = deploy.Settings(target="local", region="us-east-1")


def test_a_model_file_deploys_with_its_own_record(tiny_artifact, dogs_home):
    record = model_record.read(tiny_artifact)

    model = deploy_cli.chosen_model(SETTINGS, str(tiny_artifact), None, None, None)

    assert model.local_path == tiny_artifact.resolve() and model.model_data_url == ""
    assert (model.model_id, model.class_names, model.algorithm) == (
        record.model_id, record.class_names, record.algorithm)


def test_a_model_file_refuses_another_algorithm(tiny_artifact, dogs_home):
    with pytest.raises(deploy.DeployError, match="--algorithm builtin: .* was trained with --algorithm pytorch"):
        deploy_cli.chosen_model(SETTINGS, str(tiny_artifact), None, None, "builtin")


def test_a_model_id_comes_from_the_history(dogs_home):
    with pytest.raises(model_history.HistoryError, match="--model dogs-none: not in the history"):
        deploy_cli.chosen_model(SETTINGS, "dogs-none", None, None, None)


def test_model_and_model_data_together_are_refused(dogs_home):
    with pytest.raises(deploy.DeployError, match="give --model or --model-data, not both"):
        deploy_cli.chosen_model(SETTINGS, "m1", "s3://b/k/model.tar.gz", None, None)


def test_a_model_folder_is_refused_by_deploy(tmp_path, dogs_home):
    with pytest.raises(deploy.DeployError, match="not a folder"):
        deploy_cli.chosen_model(SETTINGS, str(tmp_path), None, None, None)


def test_the_trained_models_id_deploys_before_it_is_in_the_history(tiny_artifact, dogs_home):
    from ops.core import state

    record = model_record.read(tiny_artifact)
    state.record_trained(state.TrainedArtifact(model_id=record.model_id, algorithm="pytorch",
                                               local_path=str(tiny_artifact)))

    model = deploy_cli.chosen_model(SETTINGS, record.model_id, None, None, None)

    assert model.model_id == record.model_id and model.local_path == tiny_artifact


def test_a_model_files_id_is_a_name_sagemaker_takes_as_for_model_data(tmp_path, dogs_home):
    # Given a model file whose record names it with characters SageMaker's names refuse
    path = tmp_path / "run 7" / "model.tar.gz"
    path.parent.mkdir()
    path.write_bytes(recorded_artifact("my model/7"))

    model = deploy_cli.chosen_model(SETTINGS, str(path), None, None, None)

    # Then its id is made a valid name by the rule --model-data's artifacts follow
    assert model.model_id == "my-model-7" and model.algorithm == "pytorch"


def test_a_model_file_refuses_an_unknown_algorithm_naming_the_allowed(tiny_artifact, dogs_home):
    with pytest.raises(deploy.DeployError, match="--algorithm 'mxnet': allowed: builtin, pytorch"):
        deploy_cli.chosen_model(SETTINGS, str(tiny_artifact), None, None, "mxnet")
