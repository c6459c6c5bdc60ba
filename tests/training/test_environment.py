"""Where train.py finds its folders: the checkpoints beside the container's /opt/ml, wherever it is."""
from __future__ import annotations

from training import environment


def channels(tmp_path) -> dict[str, str]:
    for name in environment.CHANNELS:
        (tmp_path / name).mkdir()
    return {f"SM_CHANNEL_{name.upper()}": str(tmp_path / name) for name in environment.CHANNELS}


def test_checkpoints_go_beside_the_toolkits_base_dir(tmp_path):
    base = tmp_path / "opt" / "ml"
    base.mkdir(parents=True)

    found = environment.folders({}, {**channels(tmp_path), "SAGEMAKER_BASE_DIR": str(base)})

    assert found.checkpoint_dir == base / "checkpoints"


def test_our_checkpoint_variable_wins(tmp_path):
    env = {**channels(tmp_path), "SAGEMAKER_BASE_DIR": str(tmp_path),
           "DOGS_CHECKPOINT_DIR": str(tmp_path / "mine")}

    assert environment.folders({}, env).checkpoint_dir == tmp_path / "mine"


def test_outside_a_container_they_stay_in_the_local_folder(tmp_path):
    env = {**channels(tmp_path), "SAGEMAKER_BASE_DIR": str(tmp_path / "missing"),
           "DOGS_HOME": str(tmp_path / "home")}

    assert environment.folders({}, env).checkpoint_dir == tmp_path / "home" / "train" / "checkpoints"
