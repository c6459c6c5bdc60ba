"""A real apply -> plan (no changes) -> new artifact -> apply -> destroy cycle against the local AWS.

One module-scoped run (three applies, one plan) feeds the assertions: CI time is spent once.
"""
from __future__ import annotations

import json
import re

import pytest

from ops.deploy import stack as deploy, served_model
from ops.emulator import local_aws
from ops.core import state
from ops.deploy import terraform as tf
from tests.fixtures.terraform_stack import CLASS_FOLDERS, policy_statements, write_artifact
from training import classmap

pytestmark = pytest.mark.slow


def snapshot(aws, outputs: dict) -> dict:
    """What the local AWS holds for the stack, read with boto3."""
    sm = aws("sagemaker")
    endpoint = sm.describe_endpoint(EndpointName=outputs["endpoint_name"])
    return {
        "endpoint": endpoint,
        "models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
    }


def standing(aws, outputs: dict) -> dict:
    """The stack's security-relevant settings as the local AWS holds them."""
    s3, iam, apigw = aws("s3"), aws("iam"), aws("apigateway")
    bucket, api = outputs["bucket_name"], outputs["api_id"]
    roles = {}
    for role in ("dog-breeds-sagemaker", "dog-breeds-lambda"):
        names = iam.list_role_policies(RoleName=role)["PolicyNames"]
        roles[role] = {
            "inline": {n: iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"] for n in names},
            "attached": iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"],
            "trust": iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"],
        }
    return {
        "account": aws("sts").get_caller_identity()["Account"],
        "bucket_policy": json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]),
        "public_access": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        "encryption": s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"],
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "roles": roles,
        "api": apigw.get_rest_api(restApiId=api),
        "resources": apigw.get_resources(restApiId=api, embed=["methods"])["items"],
        "stage": apigw.get_stage(restApiId=api, stageName=outputs["api_stage_name"]),
        "usage_plans": apigw.get_usage_plans()["items"],
        "usage_plan_keys": {p["id"]: apigw.get_usage_plan_keys(usagePlanId=p["id"])["items"]
                            for p in apigw.get_usage_plans()["items"]},
        "scalable_targets": aws("application-autoscaling").describe_scalable_targets(
            ServiceNamespace="sagemaker")["ScalableTargets"],
        "scaling_policies": aws("application-autoscaling").describe_scaling_policies(
            ServiceNamespace="sagemaker")["ScalingPolicies"],
        "log_groups": aws("logs").describe_log_groups()["logGroups"],
    }


@pytest.fixture(scope="module")
def cycle(local_stack_home, aws, tmp_path_factory):
    home, url = local_stack_home
    cfg_settings = deploy.Settings(target="local", region=local_aws.REGION, endpoint_type="realtime")
    art = tmp_path_factory.mktemp("artifacts")
    runs = {}

    write_artifact(art / "run-1", "run-1", b"first")
    first = deploy.deploy(cfg_settings, served_model.find_model(), echo=lambda _: None)
    runs["first"] = {"outputs": first, "aws": snapshot(aws, first)}
    runs["lambda"] = aws("lambda").get_function(FunctionName=first["lambda_function_name"])
    changes, text = tf.plan("local", var_files=deploy.var_files("local"), echo=False)
    runs["replan"] = (changes, text)

    write_artifact(art / "run-2", "run-2", b"second")
    second = deploy.deploy(cfg_settings, served_model.find_model(), echo=lambda _: None)
    runs["second"] = {"outputs": second, "aws": snapshot(aws, second)}
    runs["uploaded"] = aws("s3").list_objects_v2(Bucket=second["bucket_name"])
    runs["standing"] = standing(aws, second)

    runs["destroyed"] = deploy.destroy(cfg_settings, keep_bucket=False, auto_approve=True,
                                       echo=lambda _: None)
    runs["after_destroy"] = {
        "buckets": [b["Name"] for b in aws("s3").list_buckets()["Buckets"]],
        "models": aws("sagemaker").list_models()["Models"],
        "endpoints": aws("sagemaker").list_endpoints()["Endpoints"],
        "functions": aws("lambda").list_functions()["Functions"],
        "apis": aws("apigateway").get_rest_apis()["items"],
        "apigateway_logging_role": aws("apigateway").get_account().get("cloudwatchRoleArn"),
        "state": state.read("deployments"),
    }
    return runs


@pytest.fixture(scope="module")
def first(cycle):
    return cycle["first"]["outputs"]


def test_second_plan_is_empty(cycle):
    changes, text = cycle["replan"]
    assert not changes, text[text.find("Terraform will perform"):][:4000]


def test_new_artifact_rolls_out_new_model_and_config_on_the_same_endpoint(cycle):
    one, two = cycle["first"], cycle["second"]
    assert two["outputs"]["model_name"] != one["outputs"]["model_name"]
    assert two["outputs"]["endpoint_config_name"] != one["outputs"]["endpoint_config_name"]
    assert two["aws"]["endpoint"]["EndpointArn"] == one["aws"]["endpoint"]["EndpointArn"]
    assert two["aws"]["endpoint"]["CreationTime"] == one["aws"]["endpoint"]["CreationTime"]
    assert two["aws"]["endpoint"]["EndpointConfigName"] == two["outputs"]["endpoint_config_name"]
    # create_before_destroy: the old model and configuration are gone once the endpoint moved on
    assert two["aws"]["models"] == [two["outputs"]["model_name"]]
    assert two["aws"]["configs"] == [two["outputs"]["endpoint_config_name"]]


def test_endpoint_rolls_out_blue_green_with_alarm_rollback(cycle):
    config = cycle["second"]["aws"]["endpoint"]["LastDeploymentConfig"]
    assert "BlueGreenUpdatePolicy" in config
    alarms = {a["AlarmName"] for a in config["AutoRollbackConfiguration"]["Alarms"]}
    assert alarms == {"dog-breeds-5xx-errors", "dog-breeds-model-latency"}


def test_artifact_uploaded_where_the_model_reads_it(cycle):
    keys = [o["Key"] for o in cycle["uploaded"]["Contents"]]
    assert "dogs/models/run-1/model.tar.gz" in keys and "dogs/models/run-2/model.tar.gz" in keys


def test_lambda_environment_is_the_handler_contract(cycle, first):
    conf = cycle["lambda"]["Configuration"]
    env = conf["Environment"]["Variables"]
    assert conf["Handler"] == "predict_lambda.handler.handler" and conf["Runtime"] == "python3.12"
    assert conf["Timeout"] < 29
    assert env["ENDPOINT_NAME"] == first["endpoint_name"]
    assert json.loads(env["CLASS_NAMES"]) == [c.name for c in classmap.from_folders(CLASS_FOLDERS)]
    assert env["MODEL_ID"] == "run-1"
    assert set(env) == {"ENDPOINT_NAME", "CLASS_NAMES", "MODEL_ID", "MAX_IMAGES", "MAX_BODY_BYTES",
                        "ENDPOINT_TIMEOUT_SECONDS", "DEFAULT_TOP_K", "LOG_LEVEL", "CORS_ALLOWED_ORIGINS",
                        "ENDPOINT_ACCEPT"}
    assert json.loads(env["CORS_ALLOWED_ORIGINS"]) == []  # no browser origin unless asked
    assert env["ENDPOINT_ACCEPT"] == "application/json; verbose=true"  # our inference.py's verdict


def test_outputs_name_everything_clients_need(first):
    assert re.match(r"^https://\w+\.execute-api\.us-east-1\.amazonaws\.com/beta$", first["api_invoke_url"])
    assert first["api_predict_url"] == first["api_invoke_url"] + "/predict"
    assert first["api_stage_name"] == "beta" and first["api_key_value"]
    for name in ("api_id", "api_key_id", "endpoint_name", "endpoint_config_name", "model_name",
                 "lambda_function_name", "lambda_function_arn", "bucket_name", "sagemaker_role_arn"):
        assert first[name], name


@pytest.fixture(scope="module")
def held(cycle):
    return cycle["standing"]


def test_bucket_is_private_encrypted_versioned_and_tls_only(held):
    assert all(held["public_access"][k] for k in ("BlockPublicAcls", "BlockPublicPolicy",
                                                   "IgnorePublicAcls", "RestrictPublicBuckets"))
    assert held["encryption"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert held["versioning"] == "Enabled"
    [deny] = policy_statements(held["bucket_policy"])
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_roles_have_no_wildcard_actions_and_no_managed_policies(held):
    for role, policies in held["roles"].items():
        assert policies["attached"] == [], role
        assert policies["inline"], role
        for doc in policies["inline"].values():
            for st in policy_statements(doc):
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                assert st["Effect"] == "Allow"
                assert all("*" not in a for a in actions), (role, actions)


@pytest.mark.parametrize("role, service, source_arn", [
    ("dog-breeds-sagemaker", "sagemaker.amazonaws.com", "arn:aws:sagemaker:us-east-1:{account}:*"),
    ("dog-breeds-lambda", "lambda.amazonaws.com", None),  # Lambda documents no aws:SourceArn here
], ids=["sagemaker", "lambda"])
def test_service_roles_trust_only_this_account(held, role, service, source_arn):
    [trust] = policy_statements(held["roles"][role]["trust"])
    assert trust["Principal"] == {"Service": service} and trust["Action"] == "sts:AssumeRole"
    condition = trust["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": held["account"]}
    if source_arn:
        assert condition["ArnLike"] == {"aws:SourceArn": source_arn.format(account=held["account"])}
    else:
        assert set(condition) == {"StringEquals"}


def test_lambda_may_invoke_only_its_endpoint(held, cycle):
    endpoint_arn = cycle["second"]["aws"]["endpoint"]["EndpointArn"]
    statements = [st for doc in held["roles"]["dog-breeds-lambda"]["inline"].values()
                  for st in policy_statements(doc)]
    invoke = [st for st in statements if "sagemaker:InvokeEndpoint" in json.dumps(st["Action"])]
    assert len(invoke) == 1 and invoke[0]["Resource"] == endpoint_arn
    assert all(a.split(":")[0] in ("sagemaker", "logs", "xray")
               for st in statements for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]]))


def test_sagemaker_role_reads_only_the_artifacts(held, cycle):
    statements = [st for doc in held["roles"]["dog-breeds-sagemaker"]["inline"].values()
                  for st in policy_statements(doc)]
    [read] = [st for st in statements if st.get("Sid") == "ReadModelArtifacts"]
    bucket = cycle["second"]["outputs"]["bucket_name"]
    resources = read["Resource"] if isinstance(read["Resource"], list) else [read["Resource"]]
    assert all(r.startswith(f"arn:aws:s3:::{bucket}/dogs/") for r in resources), resources


def test_api_has_post_predict_behind_a_key_with_lambda_proxy(held, cycle):
    by_path = {r["path"]: r for r in held["resources"]}
    method = by_path["/predict"]["resourceMethods"]["POST"]
    assert method["apiKeyRequired"] is True
    integration = method["methodIntegration"]
    assert integration["type"] == "AWS_PROXY"
    assert cycle["second"]["outputs"]["lambda_function_arn"] in integration["uri"]
    assert "image/jpeg" in held["api"]["binaryMediaTypes"]


def test_stage_logs_access_and_usage_plan_throttles(held, cycle):
    stage = held["stage"]
    assert stage["stageName"] == "beta"
    assert stage["accessLogSettings"]["destinationArn"].endswith("/aws/apigateway/dog-breeds/beta/access")
    [plan] = held["usage_plans"]
    assert plan["throttle"] == {"rateLimit": 10.0, "burstLimit": 20}
    assert plan["quota"]["limit"] == 10000 and plan["quota"]["period"] == "DAY"
    assert plan["apiStages"] == [{"apiId": cycle["second"]["outputs"]["api_id"], "stage": "beta"}]
    [key] = held["usage_plan_keys"][plan["id"]]
    assert key["id"] == cycle["second"]["outputs"]["api_key_id"]


def test_realtime_endpoint_scales_on_invocations_per_instance(held):
    [target] = held["scalable_targets"]
    assert target["ResourceId"] == "endpoint/dog-breeds/variant/AllTraffic"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 2)
    [policy] = held["scaling_policies"]
    spec = policy["TargetTrackingScalingPolicyConfiguration"]
    assert spec["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"


def test_log_groups_have_retention(held):
    groups = {g["logGroupName"]: g.get("retentionInDays") for g in held["log_groups"]}
    assert groups["/aws/lambda/dog-breeds-predict"] == 30
    assert groups["/aws/apigateway/dog-breeds/beta/access"] == 30


def test_destroy_removes_everything(cycle):
    gone = cycle["after_destroy"]
    assert cycle["destroyed"], "destroy reported nothing"
    assert gone["buckets"] == [] and gone["models"] == [] and gone["endpoints"] == []
    assert gone["functions"] == [] and gone["apis"] == []
    assert not gone["apigateway_logging_role"]  # reset_on_delete: the account setting is unset again
    assert "local" not in (gone["state"] or {})
