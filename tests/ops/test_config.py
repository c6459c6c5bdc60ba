import pytest

from ops import config


def test_project_config_loads():
    cfg = config.load()
    assert cfg.hyperparameters["optimizer"] == "sgd"
    assert cfg.aws["prefix"] == "dogs/"
    assert cfg.training_hyperparameters("local")["backbone"] == "efficientnet_lite0"
    assert cfg.training_hyperparameters("aws")["backbone"] == "resnet"


@pytest.mark.parametrize("text, words", [
    ("hyperparameters: {epochs: -1}\n", "epochs: -1 is out of range"),
    ("hyperparameters: {optimiser: sgd}\n", "optimiser: unknown hyperparameter"),
    ("hyperparameters: {optimizer: lbfgs}\n", "allowed: sgd, adam, rmsprop, nag"),
    ("aws: {region: mars}\n", "aws.region: 'mars' is not allowed"),
    ("aws: {instance_count: 0}\n", "aws.instance_count: 0 is not allowed; allowed: an integer"),
    ("aws: {flavour: x}\n", "aws.flavour: unknown key"),
    ("extras: {}\n", "extras: unknown section"),
    ("hyperparameters: [1, 2]\n", "hyperparameters: must be a mapping"),
    ("hyperparameters: {epochs: [\n", "not valid YAML"),
], ids=["range", "unknown-key", "choice", "region", "count", "aws-unknown", "section", "shape",
        "yaml"])
def test_bad_config_is_one_line_naming_the_key(tmp_path, text, words):
    base = config.DEFAULT_CONFIG.read_text()
    path = tmp_path / "config.yaml"
    # the bad text overrides one section of the real file (YAML: the later duplicate key wins)
    path.write_text(base + "\n" + text)
    with pytest.raises(config.ConfigError) as err:
        config.load(path)
    message = str(err.value)
    assert words in message and "\n" not in message and str(path) in message


def test_missing_file(tmp_path):
    with pytest.raises(config.ConfigError, match="no such configuration file"):
        config.load(tmp_path / "nope.yaml")
