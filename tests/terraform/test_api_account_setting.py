"""The region's API Gateway account setting (its CloudWatch role) is shared by every API there: the stack
leaves it alone unless told to manage it, and the optional WAF web ACL lands on the stage.

Read back from the local AWS after real applies: a default stack (serverless) applied and destroyed in
an account whose setting another stack owns, then a stack managing the setting with a web ACL, destroyed.
"""
from __future__ import annotations

import pytest

from ops.deploy import stack as deploy, served_model
from ops.emulator import local_aws
from tests.fixtures.terraform_stack import policy_statements, write_artifact

pytestmark = pytest.mark.slow

STACK_ROLE = "dog-breeds-apigateway-logs"
DEFAULT = deploy.Settings(target="local", region=local_aws.REGION, endpoint_type="serverless")


def account_role(aws) -> str | None:
    return aws("apigateway").get_account().get("cloudwatchRoleArn") or None


def set_account_role(aws, arn: str) -> None:
    aws("apigateway").update_account(patchOperations=[
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": arn}])


def other_stacks_role(aws) -> str:
    """A logging role another stack set for the region, as a real account has."""
    iam = aws("iam")
    role = iam.create_role(RoleName="other-stack-apigateway-logs", AssumeRolePolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",'
        ' "Principal": {"Service": "apigateway.amazonaws.com"}}]}'))["Role"]["Arn"]
    set_account_role(aws, role)
    return role


def web_acl(aws) -> str:
    return aws("wafv2").create_web_acl(
        Name="dog-breeds-test", Scope="REGIONAL", DefaultAction={"Allow": {}}, Rules=[],
        VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False,
                          "MetricName": "dog-breeds-test"})["Summary"]["ARN"]


@pytest.fixture(scope="module")
def seen(local_stack_home, aws, tmp_path_factory):
    write_artifact(tmp_path_factory.mktemp("artifact"), "account-1")
    quiet = lambda _: None  # noqa: E731
    iam, held = aws("iam"), {}
    held["other"] = other_stacks_role(aws)
    try:
        outputs = deploy.deploy(DEFAULT, served_model.find_model(), echo=quiet)
        held["default_applied"] = account_role(aws)
        held["default_roles"] = [r["RoleName"] for r in iam.list_roles()["Roles"]]
        held["default_stage"] = aws("apigateway").get_stage(restApiId=outputs["api_id"],
                                                            stageName=outputs["api_stage_name"])
        deploy.destroy(DEFAULT, keep_bucket=False, auto_approve=True, echo=quiet)
        held["default_destroyed"] = account_role(aws)

        held["acl"] = web_acl(aws)
        managed = deploy.Settings(target="local", region=local_aws.REGION, endpoint_type="serverless",
                                  extra={"manage_apigateway_cloudwatch_role": True,
                                         "api_waf_web_acl_arn": held["acl"]})
        outputs = deploy.deploy(managed, served_model.find_model(), echo=quiet)
        held["managed_applied"] = account_role(aws)
        held["managed_trust"] = iam.get_role(RoleName=STACK_ROLE)["Role"]["AssumeRolePolicyDocument"]
        stage = aws("apigateway").get_stage(restApiId=outputs["api_id"], stageName=outputs["api_stage_name"])
        held["stage_acl"] = aws("wafv2").get_web_acl_for_resource(
            ResourceArn=f"arn:aws:apigateway:{local_aws.REGION}::/restapis/{outputs['api_id']}"
                        f"/stages/{stage['stageName']}").get("WebACL", {}).get("ARN")
        deploy.destroy(managed, keep_bucket=False, auto_approve=True, echo=quiet)
        held["managed_destroyed"] = account_role(aws)
    finally:
        set_account_role(aws, "")  # the session's other stacks find the region as it was
    held["account"] = aws("sts").get_caller_identity()["Account"]
    return held


def test_default_stack_leaves_the_account_setting_alone(seen):
    assert seen["default_applied"] == seen["other"]
    assert STACK_ROLE not in seen["default_roles"]
    assert seen["default_stage"]["accessLogSettings"]["destinationArn"].endswith("/beta/access")


def test_default_destroy_keeps_the_other_stacks_setting(seen):
    assert seen["default_destroyed"] == seen["other"]


def test_managed_setting_is_the_stacks_role_and_destroy_unsets_it(seen):
    assert seen["managed_applied"] == f"arn:aws:iam::{seen['account']}:role/{STACK_ROLE}"
    assert seen["managed_destroyed"] is None  # reset_on_delete


def test_managed_role_trusts_api_gateway_for_this_account_only(seen):
    [trust] = policy_statements(seen["managed_trust"])
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": seen["account"]}}


def test_web_acl_is_associated_with_the_stage(seen):
    assert seen["stage_acl"] == seen["acl"]
