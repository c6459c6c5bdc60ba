import pytest

from ops.core import config


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
    ("aws: {role_arn: my-role}\n", "aws.role_arn: 'my-role' is not allowed; allowed: a SageMaker"),
    ("aws: {spot: 1}\n", "aws.spot: 1 is not allowed; allowed: true or false"),
    ("aws: {max_runtime_hours: 0}\n", "aws.max_runtime_hours: 0 is not allowed"),
    ("aws: {max_runtime_hours: 10, max_wait_hours: 5}\n",
     "aws.max_wait_hours: 5 is less than max_runtime_hours (10)"),
    ("aws: {pytorch_version: latest}\n", "aws.pytorch_version: 'latest' is not allowed"),
    ("aws: {tags: {team: 7}}\n", "aws.tags: {'team': 7} is not allowed"),
], ids=["range", "unknown-key", "choice", "region", "count", "aws-unknown", "section", "shape",
        "yaml", "role-arn", "spot-bool", "runtime", "wait-below-runtime", "pytorch-version",
        "tag-value"])
def test_bad_config_is_one_line_naming_the_key(tmp_path, text, words):
    base = config.DEFAULT_CONFIG.read_text()
    path = tmp_path / "config.yaml"
    # the bad text overrides one section of the real file (YAML: the later duplicate key wins)
    path.write_text(base + "\n" + text)
    with pytest.raises(config.ConfigError) as err:
        config.load(path)
    message = str(err.value)
    assert words in message and "\n" not in message and str(path) in message


def test_training_job_keys_are_optional_with_defaults(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("aws: {region: eu-west-1, bucket: '', prefix: dogs/, "
                    "instance_type: ml.g4dn.xlarge, instance_count: 1, volume_size: 30}\n")
    cfg = config.load(path)
    assert {k: cfg.aws[k] for k in config.AWS_DEFAULTS} == config.AWS_DEFAULTS
    assert cfg.aws["region"] == "eu-west-1"


def test_project_config_sets_the_training_job_keys():
    aws = config.load().aws
    assert aws["spot"] is True and aws["max_wait_hours"] >= aws["max_runtime_hours"]
    assert (aws["instance_count"], aws["volume_size"]) == (2, 70)


def test_missing_file(tmp_path):
    with pytest.raises(config.ConfigError, match="no such configuration file"):
        config.load(tmp_path / "nope.yaml")
