"""Validation of the hyperparameters our PyTorch script adds, and how the container passes them in."""
from __future__ import annotations

import json

import pytest

from training import environment, hyperparameters as hp


@pytest.mark.parametrize("key,raw,typed", [
    ("trainable_blocks", "-1", -1), ("trainable_blocks", "3", 3), ("cache_features", "1", 1),
    ("head_init", "imagenet", "imagenet"), ("cached_views", "1", 1),
    ("backbone", "efficientnet_lite0", "efficientnet_lite0"),
    ("seed", "42", 42), ("data_workers", "-1", -1), ("data_workers", "4", 4),
])
def test_script_keys_parse(key, raw, typed):
    assert hp.parse_value(key, raw) == typed


@pytest.mark.parametrize("key,value", [
    ("trainable_blocks", "-2"), ("trainable_blocks", "all"), ("cache_features", "2"),
    ("head_init", "zeros"), ("cached_views", "3"), ("backbone", "vgg16"), ("seed", "-1"),
    ("data_workers", "-2"), ("data_workers", "auto"),
])
def test_script_keys_refuse_bad_values(key, value):
    with pytest.raises(hp.HyperparameterError, match=key):
        hp.parse_value(key, value)


def test_script_keys_are_not_sent_to_the_builtin_algorithm():
    values = hp.validate({"num_classes": 10, "num_training_samples": 100})

    sent = hp.to_sagemaker(values, builtin_only=True)

    assert not {"backbone", "seed", "trainable_blocks", "cache_features", "head_init",
                "data_workers"} & set(sent)


def test_hyperparameters_file_then_sm_hps_then_command_line(tmp_path):
    (tmp_path / "hyperparameters.json").write_text(json.dumps({
        "epochs": "\"7\"", "optimizer": "\"adam\"", "image_shape": "3,224,224",
        "learning_rate": "0.01", "sagemaker_program": "\"train.py\""}))
    env = {"SM_INPUT_CONFIG_DIR": str(tmp_path), "SM_HPS": json.dumps({"optimizer": "rmsprop"})}

    values = environment.raw_hyperparameters({"learning_rate": "0.5", "seed": None}, env)

    assert values == {"epochs": "7", "optimizer": "rmsprop", "image_shape": "3,224,224",
                      "learning_rate": "0.5"}
    assert hp.validate(values)["epochs"] == 7


def test_a_malformed_hyperparameters_file_is_a_user_error(tmp_path):
    (tmp_path / "hyperparameters.json").write_text("{not json")

    with pytest.raises(hp.HyperparameterError, match="not JSON"):
        environment.raw_hyperparameters({}, {"SM_INPUT_CONFIG_DIR": str(tmp_path)})


def test_folders_come_from_sagemaker_variables_with_local_fallbacks(tmp_path):
    for name in environment.CHANNELS:
        (tmp_path / name).mkdir()
    env = {f"SM_CHANNEL_{n.upper()}": str(tmp_path / n) for n in environment.CHANNELS}
    env["DOGS_HOME"] = str(tmp_path / "home")

    folders = environment.folders({"model_dir": None}, env)

    assert folders.train == tmp_path / "train"
    assert folders.model_dir == tmp_path / "home" / "train" / "model"
    env["SM_MODEL_DIR"] = str(tmp_path / "m")
    assert environment.folders({}, env).model_dir == tmp_path / "m"
    assert environment.folders({"model_dir": "/x"}, env).model_dir.as_posix() == "/x"


def test_a_missing_channel_folder_is_named(tmp_path):
    env = {f"SM_CHANNEL_{n.upper()}": str(tmp_path / n) for n in environment.CHANNELS}

    with pytest.raises(environment.ChannelError, match="'train' channel .*no such folder"):
        environment.folders({}, env)
