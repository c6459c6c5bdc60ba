import re
from pathlib import Path

import pytest

from training import hyperparameters as hp

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_the_original_table():
    values = hp.validate({})
    assert values["augmentation_type"] == "crop_color_transform"
    assert values["epochs"] == 120 and values["num_layers"] == 50
    assert values["num_classes"] == hp.DERIVED
    assert set(hp.ORIGINAL_KEYS) <= set(values) and len(hp.ORIGINAL_KEYS) == 25


@pytest.mark.parametrize("key, raw, typed", [
    ("epochs", "12", 12),
    ("learning_rate", "0.01", 0.01),
    ("early_stopping", "True", True),
    ("early_stopping", "false", False),
    ("image_shape", "3,299,299", "3,299,299"),
    ("lr_scheduler_step", "10,20", "10,20"),
], ids=["int", "float", "bool-true", "bool-false", "image-shape", "lr-steps"])
def test_strings_from_sagemaker_are_parsed(key, raw, typed):
    assert hp.parse_value(key, raw) == typed


@pytest.mark.parametrize("key, value, words", [
    ("nope", 1, "unknown hyperparameter"),
    ("epochs", "ten", "not a int"),
    ("epochs", 0, "out of range"),
    ("optimizer", "lbfgs", "allowed: sgd, adam, rmsprop, nag"),
    ("augmentation_type", "rotate", "allowed: crop, crop_color, crop_color_transform"),
    ("num_layers", 42, "allowed: 18, 34, 50, 101, 152"),
    ("learning_rate", 2.0, "out of range"),
    ("eps", 0.0, "out of range"),
    ("early_stopping", "maybe", "allowed: true, false"),
    ("image_shape", "224,224", "channels,height,width"),
    ("lr_scheduler_step", "20,10", "increasing"),
    ("mini_batch_size", True, "not a int"),
], ids=lambda v: str(v))
def test_bad_values_name_key_and_allowed(key, value, words):
    with pytest.raises(hp.HyperparameterError) as err:
        hp.parse_value(key, value)
    message = str(err.value)
    assert message.startswith(f"{key}:") and words in message and "\n" not in message


def test_step_after_last_epoch_is_rejected():
    with pytest.raises(hp.HyperparameterError, match="after the last epoch"):
        hp.validate({"epochs": 5, "lr_scheduler_step": "3,8"})


def test_derived_values_come_from_data():
    values = hp.resolve_derived(hp.validate({}), num_classes=10, num_training_samples=1600)
    assert values["num_classes"] == 10 and values["num_training_samples"] == 1600


def test_typed_derived_value_must_match_data():
    with pytest.raises(hp.HyperparameterError, match="LST files give 10"):
        hp.resolve_derived(hp.validate({"num_classes": 120}), num_classes=10,
                           num_training_samples=1600)


def test_to_sagemaker_is_all_strings_and_skips_ours_for_builtin():
    values = hp.resolve_derived(hp.validate({}), num_classes=10, num_training_samples=1600)
    out = hp.to_sagemaker(values, builtin_only=True)
    assert all(isinstance(v, str) for v in out.values())
    assert out["early_stopping"] == "true" and out["num_classes"] == "10"
    assert "backbone" not in out and "seed" not in out


@pytest.mark.parametrize("value, shape", [("3,224,224", (3, 224, 224)), (" 1, 128 ,160", (1, 128, 160))],
                         ids=["plain", "spaces"])
def test_image_shape_parses_to_channels_height_width(value, shape):
    assert hp.image_shape(value) == shape


@pytest.mark.parametrize("value", ["224,224", "3,224,224,1", "3,x,224", "3,-1,224", ""])
def test_a_malformed_image_shape_is_one_clear_error(value):
    with pytest.raises(hp.HyperparameterError, match=r"^image_shape: .* must be 'channels,height,width'"):
        hp.image_shape(value)


def test_image_shape_is_parsed_only_by_its_one_parser():
    sources = {p: p.read_text() for folder in ("training", "ops", "tasks", "predict_lambda")
               for p in (REPO / folder).rglob("*.py")}
    splitting = [str(p.relative_to(REPO)) for p, text in sources.items()
                 if re.search(r"image_shape['\"]\]\s*\.split", text)]
    assert splitting == [], "image_shape split outside training.hyperparameters.image_shape"


@pytest.mark.parametrize("shape, refused", [("3,128,160", False), ("1,128,160", True)], ids=["colour", "grey"])
def test_the_training_script_takes_colour_shapes_only(shape, refused):
    from training import train

    hps = hp.validate({"image_shape": shape})
    if refused:
        with pytest.raises(hp.HyperparameterError, match="image_shape: the backbones take colour images"):
            train._check_supported(hps)
    else:
        train._check_supported(hps)
