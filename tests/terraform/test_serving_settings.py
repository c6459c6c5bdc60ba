"""What Terraform gives the serving container, read back from the local AWS after real applies:
workers x threads = vCPUs on a real-time endpoint (also when the workers are overridden), one worker on serverless, the user's environment
winning, network isolation and a KMS key for the instances' storage only where SageMaker supports them,
and the built-in algorithm's model with none of the PyTorch container's variables.

One stack, applied four times in a row (serverless -> real-time -> real-time with overrides -> built-in),
then destroyed.
"""
from __future__ import annotations

import pytest

from ops.deploy import stack as deploy, served_model
from ops.emulator import local_aws
from tests.fixtures.terraform_stack import write_artifact

pytestmark = pytest.mark.slow

BUILTIN_IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
PYTORCH_VARIABLES = {"SAGEMAKER_PROGRAM", "SAGEMAKER_SUBMIT_DIRECTORY", "SAGEMAKER_CONTAINER_LOG_LEVEL",
                     "SAGEMAKER_REGION", "SAGEMAKER_MODEL_SERVER_WORKERS", "DOGS_INFERENCE_THREADS",
                     "OMP_NUM_THREADS"}
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RUNS = {
    "serverless": deploy.Settings(target="local", region=local_aws.REGION, endpoint_type="serverless"),
    "realtime": deploy.Settings(target="local", region=local_aws.REGION, endpoint_type="realtime",
                                extra={"realtime": {"instance_type": "ml.c5.xlarge", "kms_key_arn": KMS_KEY}}),
    "overridden": deploy.Settings(
        target="local", region=local_aws.REGION, endpoint_type="realtime",
        extra={"realtime": {"instance_type": "ml.m5.xlarge", "model_server_workers": 2},
               "inference_environment": {"OMP_NUM_THREADS": "3", "EXTRA": "x"}}),
    "builtin": deploy.Settings(target="local", region=local_aws.REGION, endpoint_type="realtime",
                               instance_type="ml.m5.large",
                               extra={"algorithm": "builtin", "image_uri": BUILTIN_IMAGE}),
}


@pytest.fixture(scope="module")
def models(local_stack_home, aws, tmp_path_factory):
    """{run: (DescribeModel, DescribeEndpointConfig)} of the model each apply put in service."""
    write_artifact(tmp_path_factory.mktemp("artifact"), "serving-1")
    quiet = lambda _: None  # noqa: E731
    sm = aws("sagemaker")
    held = {}
    try:
        for name, settings in RUNS.items():
            # (The built-in run's model is a PyTorch artifact: deploy refuses a builtin one locally, and
            # moto does not look inside; what is tested is what Terraform asks SageMaker for.)
            outputs = deploy.deploy(settings, served_model.find_model(), echo=quiet)
            held[name] = (sm.describe_model(ModelName=outputs["model_name"]),
                          sm.describe_endpoint_config(EndpointConfigName=outputs["endpoint_config_name"]))
    finally:
        deploy.destroy(RUNS["serverless"], keep_bucket=False, auto_approve=True, echo=quiet)
    return held


def environment(models, run: str) -> dict:
    return models[run][0]["PrimaryContainer"].get("Environment", {})


def test_realtime_runs_one_single_threaded_worker_per_vcpu(models):
    env = environment(models, "realtime")
    assert env["SAGEMAKER_MODEL_SERVER_WORKERS"] == "4"  # ml.c5.xlarge: 4 vCPUs
    assert env["DOGS_INFERENCE_THREADS"] == "1" and env["OMP_NUM_THREADS"] == "1"
    assert env["SAGEMAKER_PROGRAM"] == "inference.py"


def test_serverless_runs_one_worker_with_the_threads_left_to_the_handler(models):
    env = environment(models, "serverless")
    assert env["SAGEMAKER_MODEL_SERVER_WORKERS"] == "1"
    assert "DOGS_INFERENCE_THREADS" not in env and "OMP_NUM_THREADS" not in env
    [variant] = models["serverless"][1]["ProductionVariants"]
    assert variant["ServerlessConfig"]["MemorySizeInMB"] == 3072


def test_workers_override_shares_the_vcpus_and_the_users_environment_wins(models):
    env = environment(models, "overridden")
    assert env["SAGEMAKER_MODEL_SERVER_WORKERS"] == "2"  # realtime.model_server_workers, not m5.xlarge's 4
    assert env["DOGS_INFERENCE_THREADS"] == "2"  # 4 vCPUs / 2 workers
    assert env["OMP_NUM_THREADS"] == "3" and env["EXTRA"] == "x"  # inference_environment wins


@pytest.mark.parametrize("run, isolated", [("serverless", False), ("realtime", True), ("builtin", True)])
def test_network_isolation_only_where_sagemaker_supports_it(models, run, isolated):
    assert models[run][0]["EnableNetworkIsolation"] is isolated


def test_builtin_model_has_its_own_image_and_none_of_the_pytorch_variables(models):
    model, _ = models["builtin"]
    assert model["PrimaryContainer"]["Image"] == BUILTIN_IMAGE
    assert not set(environment(models, "builtin")) & PYTORCH_VARIABLES


@pytest.mark.parametrize("run, key", [("serverless", None), ("realtime", KMS_KEY), ("overridden", None)])
def test_kms_key_encrypts_realtime_instance_storage_only_when_given(models, run, key):
    _, config = models[run]
    assert config.get("KmsKeyId") == key
