"""Nobody gets in who should not: per-client API keys and usage plans, the IAM-authorised method, and the
IAM policies themselves, read back from the local AWS after a real `terraform apply` (issue 16).

One stack for the module: two clients with their own plans, `api_authorization = AWS_IAM`, and the API
Gateway CloudWatch role managed (so its policy is read back too). The local API then serves it with the
access rules it reads from that deployment: SigV4 (signed by botocore, as an AWS SDK caller signs), the
client's key, its throttle and quota, 429 with the deployed Retry-After.
"""
from __future__ import annotations

import json

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ops.deploy import stack as deploy, served_model
from ops.emulator import local_aws, processes
from tests.fixtures.api import TEST_ENDPOINT, class_names
from tests.fixtures.terraform_stack import policy_statements, write_artifact

pytestmark = pytest.mark.slow

NAME = "dog-breeds"
CLIENTS = {
    "alpha": {"rate_limit": 50, "burst_limit": 5, "quota_limit": 3, "quota_period": "DAY"},
    "bravo": {"rate_limit": 0.01, "burst_limit": 1, "quota_limit": 100, "quota_period": "WEEK"},
}
SETTINGS = deploy.Settings(target="local", region=local_aws.REGION, endpoint_type="serverless", extra={
    "api_clients": CLIENTS, "api_authorization": "AWS_IAM", "manage_apigateway_cloudwatch_role": True})
# Actions AWS grants on no resource narrower than "*" (Service Authorization Reference: no resource types).
NO_RESOURCE_LEVEL = {
    "ecr:GetAuthorizationToken": "the token is for the registry as a whole; ECR lists no resource type",
    "cloudwatch:PutMetricData": "CloudWatch lists no resource type (the cloudwatch:namespace condition "
                                "key limits it, and the statement uses it)",
    "xray:PutTraceSegments": "X-Ray lists no resource type for its write actions",
    "xray:PutTelemetryRecords": "X-Ray lists no resource type for its write actions",
}


@pytest.fixture(scope="module")
def applied(local_stack_home, aws, tmp_path_factory):
    write_artifact(tmp_path_factory.mktemp("artifact"), "access-1")
    quiet = lambda _: None  # noqa: E731
    try:
        yield deploy.deploy(SETTINGS, served_model.find_model(), echo=quiet)
    finally:
        deploy.destroy(SETTINGS, keep_bucket=False, auto_approve=True, echo=quiet)
        aws("apigateway").update_account(patchOperations=[
            {"op": "replace", "path": "/cloudwatchRoleArn", "value": ""}])


@pytest.fixture(scope="module")
def client_keys(applied):
    from ops.deploy import terraform as tf

    return {**tf.outputs("local")["api_client_keys"], "default": tf.outputs("local")["api_key_value"]}


@pytest.fixture(scope="module")
def api_url(applied, local_stack_home, local_endpoint, loaded_tiny, tmp_path_factory):
    """The local API in front of the deployed API's access rules (the Lambda's code path points at the
    test endpoint serving the tiny model)."""
    logs = tmp_path_factory.mktemp("api-logs")
    env_file = logs / "lambda-env.json"
    env_file.write_text(json.dumps({"ENDPOINT_NAME": TEST_ENDPOINT, "MODEL_ID": loaded_tiny.model_id,
                                    "CLASS_NAMES": json.dumps(list(class_names(loaded_tiny))),
                                    "ENDPOINT_TIMEOUT_SECONDS": "20", "LOG_LEVEL": "INFO"}))
    running = local_aws.require()
    port = processes.free_port()
    server = processes.start("local-api", "ops.emulator.local_api", [
        "--environment", str(env_file), "--aws-url", running.url, "--api-id", applied["api_id"],
        "--stage", applied["api_stage_name"], "--endpoint-url", local_endpoint.url, "--port", str(port)],
        port, "/beta/predict", logs, expect_status=403,
        env={**local_aws.CREDENTIALS, "AWS_CA_BUNDLE": running.ca_bundle})
    yield f"{server.url}/beta/predict"
    server.stop()


def post(url: str, key: str | None = None, secret: str = local_aws.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
         sign: bool = True) -> requests.Response:
    body = json.dumps({"image": "QUJD"}).encode()  # not an image: the Lambda's 4xx, after access
    headers = {"Content-Type": "application/json", **({"x-api-key": key} if key else {})}
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    if sign:
        SigV4Auth(Credentials(local_aws.CREDENTIALS["AWS_ACCESS_KEY_ID"], secret), "execute-api",
                  local_aws.REGION).add_auth(request)
    return requests.post(url, data=body, headers=dict(request.headers.items()), timeout=60)


def plans_by_name(aws) -> dict[str, dict]:
    return {p["name"]: p for p in aws("apigateway").get_usage_plans()["items"]}


def test_each_client_has_its_own_usage_plan(applied, aws):
    plans = plans_by_name(aws)
    for client, limits in CLIENTS.items():
        plan = plans[f"{NAME}-{client}"]
        assert plan["throttle"] == {"rateLimit": limits["rate_limit"], "burstLimit": limits["burst_limit"]}
        assert plan["quota"]["limit"] == limits["quota_limit"]
        assert plan["quota"]["period"] == limits["quota_period"]
        assert plan["apiStages"] == [{"apiId": applied["api_id"], "stage": "beta"}]
        assert applied["api_client_usage_plan_ids"][client] == plan["id"]


def test_each_plan_holds_only_its_clients_key(applied, aws, client_keys):
    gateway = aws("apigateway")
    for client in CLIENTS:
        [key] = gateway.get_usage_plan_keys(usagePlanId=applied["api_client_usage_plan_ids"][client])["items"]
        assert key["value"] == client_keys[client]
    assert len(set(client_keys.values())) == len(client_keys)


def test_the_method_is_iam_authorised_and_needs_a_key(applied, aws):
    gateway = aws("apigateway")
    [predict] = [r for r in gateway.get_resources(restApiId=applied["api_id"])["items"]
                 if r["path"] == "/predict"]
    method = gateway.get_method(restApiId=applied["api_id"], resourceId=predict["id"], httpMethod="POST")
    assert (method["authorizationType"], method["apiKeyRequired"]) == ("AWS_IAM", True)


def test_429_gateway_responses_carry_retry_after(applied, aws):
    responses = {r["responseType"]: r for r in
                 aws("apigateway").get_gateway_responses(restApiId=applied["api_id"])["items"]}
    for kind, seconds in (("THROTTLED", "'1'"), ("QUOTA_EXCEEDED", "'3600'")):
        assert responses[kind]["statusCode"] == "429"
        assert responses[kind]["responseParameters"] == {"gatewayresponse.header.Retry-After": seconds}


def test_iam_callers_get_invoke_on_this_one_method_only(applied, aws):
    iam = aws("iam")
    arn = applied["api_invoke_policy_arn"]
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    [statement] = policy_statements(iam.get_policy_version(PolicyArn=arn, VersionId=version)
                                    ["PolicyVersion"]["Document"])
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == (f"arn:aws:execute-api:{local_aws.REGION}:"
                                     f"{aws('sts').get_caller_identity()['Account']}:"
                                     f"{applied['api_id']}/beta/POST/predict")


@pytest.mark.parametrize("kwargs, status, message", [
    ({"key": "default", "sign": False}, 403, "Missing Authentication Token"),
    ({"key": "default", "secret": "not-the-secret"}, 403, "The request signature we calculated"),
    ({"key": None}, 403, "Forbidden"),
    ({"key": "not-a-key"}, 403, "Forbidden"),
], ids=["unsigned", "wrong-secret", "signed-no-key", "signed-unknown-key"])
def test_local_api_refuses_as_api_gateway_does(api_url, client_keys, kwargs, status, message):
    name = kwargs.pop("key")
    response = post(api_url, client_keys.get(name, name) if name else None, **kwargs)
    assert response.status_code == status
    assert response.json()["message"].startswith(message)


def test_signed_request_with_a_clients_key_reaches_the_lambda(api_url, client_keys):
    response = post(api_url, client_keys["default"])
    assert response.status_code == 422, response.text  # the Lambda's own answer: not an image
    assert response.json()["error"]["code"]


def test_a_spent_quota_is_429_for_that_client_only(api_url, client_keys):
    answers = [post(api_url, client_keys["alpha"]) for _ in range(4)]
    assert [a.status_code for a in answers] == [422, 422, 422, 429]
    assert answers[-1].json() == {"message": "Limit Exceeded"}
    assert answers[-1].headers["Retry-After"] == "3600"
    assert post(api_url, client_keys["bravo"]).status_code == 422


def test_a_throttled_client_is_429_with_retry_after(api_url, client_keys):
    first, second = post(api_url, client_keys["bravo"]), post(api_url, client_keys["bravo"])
    assert second.status_code == 429, (first.status_code, second.text)
    assert second.json() == {"message": "Too Many Requests"}
    assert second.headers["Retry-After"] == "1"


def iam_policies(aws) -> dict[str, dict]:
    """Every policy document the stack applied: its roles' inline and attached policies, its own."""
    iam, documents = aws("iam"), {}
    for role in iam.list_roles()["Roles"]:
        if not role["RoleName"].startswith(NAME):
            continue
        for name in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
            documents[f"{role['RoleName']}/{name}"] = iam.get_role_policy(
                RoleName=role["RoleName"], PolicyName=name)["PolicyDocument"]
        for attached in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]:
            documents[f"{role['RoleName']}/{attached['PolicyName']}"] = managed_document(iam, attached["PolicyArn"])
    for policy in iam.list_policies(Scope="Local")["Policies"]:
        if policy["PolicyName"].startswith(NAME):
            documents[policy["PolicyName"]] = managed_document(iam, policy["Arn"])
    return documents


def managed_document(iam, arn: str) -> dict:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]


def as_list(value) -> list[str]:
    return value if isinstance(value, list) else [value]


def test_the_applied_policies_are_read_back(applied, aws):
    names = set(iam_policies(aws))
    assert {f"{NAME}-lambda/invoke-endpoint", f"{NAME}-invoke", f"{NAME}-apigateway-logs/write-logs"} <= names
    assert any(n.startswith(f"{NAME}-sagemaker") for n in names), names


def test_no_policy_allows_a_wildcard_action(applied, aws):
    for name, document in iam_policies(aws).items():
        for statement in policy_statements(document):
            assert "NotAction" not in statement and "NotResource" not in statement, name
            for action in as_list(statement["Action"]):
                assert "*" not in action, f"{name}: {action}"


def test_resource_star_only_where_aws_has_no_resource_level_permission(applied, aws):
    for name, document in iam_policies(aws).items():
        for statement in policy_statements(document):
            if "*" in as_list(statement.get("Resource", [])):
                unexplained = set(as_list(statement["Action"])) - set(NO_RESOURCE_LEVEL)
                assert not unexplained, f"{name}: {sorted(unexplained)} on resource *"


def test_no_aws_managed_policy_is_attached(applied, aws):
    iam = aws("iam")
    for role in iam.list_roles()["Roles"]:
        if role["RoleName"].startswith(NAME):
            attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
            assert not [p for p in attached if ":aws:policy/" in p["PolicyArn"]], role["RoleName"]
