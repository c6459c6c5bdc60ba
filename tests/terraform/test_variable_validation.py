"""Bad input fails in Terraform's variable validation, naming the variable, before anything exists."""
from __future__ import annotations

import pytest

from ops.deploy import stack as deploy, lambda_package, served_model
from ops.core import state
from tests.fixtures.terraform_stack import init_local_module
from ops.deploy import terraform as tf

pytestmark = pytest.mark.slow  # one real terraform plan against the local AWS

GOOD_MODEL = "s3://dog-breeds-models/m/model.tar.gz"
GOOD_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BAD = {
    "model_data_url": ("https://example.com/model.tar.gz", "var.model_data_url"),
    "realtime": ({"instance_type": "m5.large"}, "var.realtime"),
    "serverless": ({"memory_size_in_mb": 1500}, "var.serverless"),
    "stage_name": ("be ta", "var.stage_name"),
    "lambda": ({"timeout": 30}, "var.lambda"),
    "cors_allowed_origins": (["https://app.example.com/"], "var.cors_allowed_origins"),
    "budget": ({"monthly_usd": 25}, "var.budget"),  # no e-mail to tell
}


@pytest.fixture(scope="module")
def rejected(local_stack_home, aws):
    """One plan with every bad value at once (Terraform reports each failed validation)."""
    package = init_local_module()
    values = {"model_data_url": "s3://b/m/model.tar.gz", "class_names": ["a", "b"],
              "image_uri": GOOD_IMAGE, "lambda_package": package.as_tfvar()}
    values.update({name: value for name, (value, _) in BAD.items()})
    tf.write_tfvars("local", values)
    buckets_before = aws("s3").list_buckets()["Buckets"]
    with pytest.raises(tf.TerraformError) as caught:
        tf.plan("local", echo=False)
    return str(caught.value), buckets_before, aws("s3").list_buckets()["Buckets"]


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_value_is_named_in_one_error_line(rejected, name):
    message, _, _ = rejected
    assert "\n" not in message
    assert BAD[name][1] in message, message
    assert "Invalid value for variable" in message


def test_nothing_was_created(rejected):
    _, before, after = rejected
    assert after == before


def test_error_says_what_is_allowed(rejected):
    message, _, _ = rejected
    assert "must be one of 1024, 2048, 3072, 4096, 5120, 6144" in message
    assert "s3://<bucket>/<key>/model.tar.gz" in message


def test_missing_artifact_is_a_user_error(tmp_path, use_home):
    use_home(tmp_path)
    with pytest.raises(deploy.DeployError, match="no trained model: run `invoke train`"):
        served_model.find_model()


# Combinations SageMaker refuses, or that the workers x threads rule cannot size, per endpoint type:
# (the variables, what the one error line must say).
COMBINATIONS = {
    "serverless": ({
        "endpoint_type": "serverless",
        "image_uri": GOOD_IMAGE.replace("-cpu-", "-gpu-"),
        "serverless": {"max_concurrency": 5, "provisioned_concurrency": 6},
        "limits": {"max_body_bytes": 5242880},
    }, ["var.image_uri", "serverless endpoint runs on CPU only",
        "var.serverless", "provisioned_concurrency must be a whole number from 0 (none) to max_concurrency",
        "var.limits", "at most 4194304 for a serverless endpoint"]),
    "realtime": ({
        "endpoint_type": "realtime",
        "realtime": {"instance_type": "ml.x2iedn.xlarge"},
    }, ["var.realtime", "realtime.instance_type must be one whose vCPUs set the workers",
        "set realtime.model_server_workers"]),
    "workers": ({
        "endpoint_type": "realtime",
        "realtime": {"instance_type": "ml.c5.xlarge", "model_server_workers": 0.5},
    }, ["var.realtime", "model_server_workers must be a whole number of at least 1"]),
    "kms_on_local_storage": ({
        "endpoint_type": "realtime",
        "realtime": {"instance_type": "ml.g4dn.xlarge", "kms_key_arn": KMS_KEY},
        "image_uri": GOOD_IMAGE.replace("-cpu-", "-gpu-"),
    }, ["var.realtime", "kms_key_arn must be null for an instance type with local NVMe storage"]),
    "api": ({
        "api_logging": {"execution_level": "DEBUG"},
        "api_waf_web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/acl/1",
    }, ["var.api_logging", "execution_level must be OFF, ERROR or INFO",
        "var.api_waf_web_acl_arn", "ARN of a regional WAFv2 web ACL"]),
    # (alone: Terraform skips the validations that refer to a variable that failed its own)
    "algorithm": ({"algorithm": "mxnet"}, ["var.algorithm", "algorithm must be pytorch or builtin"]),
}


def _plan_error(values: dict) -> str:
    package = lambda_package.build(state.home() / "build")
    tf.write_tfvars("local", {"model_data_url": GOOD_MODEL, "class_names": ["a", "b"],
                              "image_uri": GOOD_IMAGE, "lambda_package": package.as_tfvar(), **values})
    with pytest.raises(tf.TerraformError) as caught:
        tf.plan("local", echo=False)
    return str(caught.value)


@pytest.fixture(scope="module")
def combinations(rejected):
    """One plan per entry of COMBINATIONS (the working directory `rejected` initialised)."""
    return {name: _plan_error(values) for name, (values, _) in COMBINATIONS.items()}


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_impossible_combination_is_named_in_one_error_line(combinations, name):
    message = combinations[name]
    assert "\n" not in message
    for words in COMBINATIONS[name][1]:
        assert words in message, message


def test_good_combinations_plan(rejected):
    for values in ({"endpoint_type": "serverless", "serverless": {"max_concurrency": 200,
                                                                    "provisioned_concurrency": 200}},
                   {"endpoint_type": "realtime", "realtime": {"instance_type": "ml.g4dn.xlarge"},
                    "image_uri": GOOD_IMAGE.replace("-cpu-", "-gpu-")},
                   {"endpoint_type": "realtime", "algorithm": "builtin",
                    "realtime": {"instance_type": "ml.x2iedn.xlarge"}},
                   {"endpoint_type": "realtime", "realtime": {"instance_type": "ml.m5.large", "kms_key_arn": KMS_KEY},
                    "api_logging": {"access_logs": False, "execution_level": "OFF"}}):
        package = lambda_package.build(state.home() / "build")
        tf.write_tfvars("local", {"model_data_url": GOOD_MODEL, "class_names": ["a", "b"],
                                  "image_uri": GOOD_IMAGE, "lambda_package": package.as_tfvar(), **values})
        tf.plan("local", echo=False)  # raises on a validation error
