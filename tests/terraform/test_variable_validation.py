"""Bad input fails in Terraform's variable validation, naming the variable, before anything exists."""
from __future__ import annotations

import pytest

from ops import deploy, lambda_package, local_aws, state
from ops import terraform as tf

pytestmark = pytest.mark.slow  # one real terraform plan against the local AWS

GOOD_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"
BAD = {
    "model_data_url": ("https://example.com/model.tar.gz", "var.model_data_url"),
    "realtime": ({"instance_type": "m5.large"}, "var.realtime"),
    "serverless": ({"memory_size_in_mb": 1500}, "var.serverless"),
    "stage_name": ("be ta", "var.stage_name"),
    "lambda": ({"timeout": 30}, "var.lambda"),
}


@pytest.fixture(scope="module")
def rejected(local_stack_home, aws):
    """One plan with every bad value at once (Terraform reports each failed validation)."""
    running = local_aws.require()
    work = tf.sync_module("local")
    tf.render_local_override(work, running.url, local_aws.REGION, running.ca_bundle)
    tf.init("local")
    package = lambda_package.build(state.home() / "build")
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
        deploy.find_model()
