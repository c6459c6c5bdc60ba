"""API Gateway's access rules as the local API applies them: usage-plan throttle and quota, API keys,
SigV4 for AWS_IAM (signed by botocore, as an AWS SDK caller signs), and the rules read back from the
(moto) control plane."""
from __future__ import annotations

import datetime as dt

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto import mock_aws

from ops.emulator import api_access
from ops.emulator.api_access import Access, Client, Quota, Refused, TokenBucket

URL = "http://127.0.0.1:3000/beta/predict?top_k=2"
CREDENTIALS = {"AKIDLOCAL": "local-secret"}


class Clock:
    def __init__(self, t=0.0):
        self.t = t

    def __call__(self):
        return self.t


def signed_headers(body=b'{"image": "QUJD"}', key="AKIDLOCAL", secret="local-secret",
                   region="us-east-1", service="execute-api", url=URL) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return dict(request.headers.items())


def verify(headers, body=b'{"image": "QUJD"}', url=URL, **kw):
    return api_access.verify_sigv4("POST", url, headers, body, CREDENTIALS, "us-east-1", **kw)


def test_bucket_allows_the_burst_then_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.t = 0.5  # one token back at 2 per second
    assert [bucket.take(), bucket.take()] == [True, False]


def test_quota_resets_at_the_start_of_the_next_utc_day():
    now = [dt.datetime(2026, 12, 1, 23, 59, tzinfo=dt.timezone.utc)]
    quota = Quota(2, "DAY", now=lambda: now[0])
    assert [quota.take(), quota.take(), quota.take()] == [True, True, False]
    now[0] = dt.datetime(2026, 12, 2, 0, 0, 1, tzinfo=dt.timezone.utc)
    assert quota.take()


@pytest.mark.parametrize("period, start", [("WEEK", dt.datetime(2026, 11, 30)),
                                           ("MONTH", dt.datetime(2026, 12, 1))])
def test_quota_periods_start_on_monday_and_the_first(period, start):
    quota = Quota(1, period, now=lambda: dt.datetime(2026, 12, 3, 15, tzinfo=dt.timezone.utc))
    assert quota.period_start == start.replace(tzinfo=dt.timezone.utc)


def test_each_key_spends_its_own_quota():
    access = Access(clients={"key-a": Client("a", quota=Quota(1, "DAY")),
                             "key-b": Client("b", quota=Quota(1, "DAY"))})
    assert access.admit("POST", URL, {"x-api-key": "key-a"}, b"").api_key_id == "a"
    with pytest.raises(Refused) as refused:
        access.admit("POST", URL, {"x-api-key": "key-a"}, b"")
    assert (refused.value.status, refused.value.message, refused.value.error_type,
            refused.value.response_type) == (429, "Limit Exceeded", "LimitExceededException",
                                             "QUOTA_EXCEEDED")
    assert access.admit("POST", URL, {"x-api-key": "key-b"}, b"").api_key_id == "b"


def test_throttled_key_is_429_too_many_requests_with_retry_after():
    access = Access(clients={"k": Client("a", throttle=TokenBucket(0.001, 1))})
    access.admit("POST", URL, {"x-api-key": "k"}, b"")
    with pytest.raises(Refused) as refused:
        access.admit("POST", URL, {"x-api-key": "k"}, b"")
    assert (refused.value.status, refused.value.message, refused.value.response_type) == (
        429, "Too Many Requests", "THROTTLED")  # the local API adds THROTTLED's headers (Retry-After)


def test_stage_throttle_caps_all_keys_together():
    access = Access(clients={"k1": Client("a"), "k2": Client("b")}, stage_throttle=TokenBucket(0.001, 1))
    access.admit("POST", URL, {"x-api-key": "k1"}, b"")
    with pytest.raises(Refused, match="Too Many Requests"):
        access.admit("POST", URL, {"x-api-key": "k2"}, b"")


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"x-api-key": ""}],
                         ids=["missing", "unknown", "empty"])
def test_key_outside_every_plan_is_403_forbidden(headers):
    with pytest.raises(Refused) as refused:
        Access(clients={"k": Client("a")}).admit("POST", URL, headers, b"")
    assert (refused.value.status, refused.value.message) == (403, "Forbidden")


def test_a_request_signed_by_botocore_is_the_callers():
    assert verify(signed_headers()) == "AKIDLOCAL"


def iam_refusal(headers, **kw) -> tuple[int, str]:
    with pytest.raises(Refused) as refused:
        verify(headers, **kw)
    return refused.value.status, refused.value.error_type


@pytest.mark.parametrize("make, error_type", [
    (lambda: {}, "MissingAuthenticationTokenException"),
    (lambda: {"Authorization": "Bearer abc"}, "IncompleteSignatureException"),
    (lambda: signed_headers(secret="not-the-secret"), "InvalidSignatureException"),
    (lambda: signed_headers(key="AKIDSTRANGER"), "UnrecognizedClientException"),
    (lambda: signed_headers(service="s3"), "IncompleteSignatureException"),
    (lambda: signed_headers(region="eu-west-1"), "IncompleteSignatureException"),
], ids=["unsigned", "not-sigv4", "wrong-secret", "unknown-key", "other-service", "other-region"])
def test_bad_signatures_are_403(make, error_type):
    assert iam_refusal(make()) == (403, error_type)


def test_a_changed_body_or_url_breaks_the_signature():
    headers = signed_headers()
    assert iam_refusal(headers, body=b'{"image": "QUJE"}') == (403, "InvalidSignatureException")
    assert iam_refusal(headers, url=URL.replace("top_k=2", "top_k=3")) == (403, "InvalidSignatureException")


def test_a_signature_older_than_five_minutes_has_expired():
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=6)
    with pytest.raises(Refused, match="Signature expired"):
        verify(signed_headers(), now=lambda: later)


def test_iam_and_key_both_checked():
    access = Access(authorization="AWS_IAM", clients={"k": Client("a")}, credentials=CREDENTIALS)
    with pytest.raises(Refused, match="Forbidden"):
        access.admit("POST", URL, signed_headers(), b'{"image": "QUJD"}')
    identity = access.admit("POST", URL, {**signed_headers(), "x-api-key": "k"}, b'{"image": "QUJD"}')
    assert identity == api_access.Identity(api_key_id="a", access_key="AKIDLOCAL")


def test_iam_only_needs_no_key():
    access = Access(authorization="AWS_IAM", api_key_required=False, credentials=CREDENTIALS)
    assert access.admit("POST", URL, signed_headers(), b'{"image": "QUJD"}').access_key == "AKIDLOCAL"
    with pytest.raises(Refused, match="Missing Authentication Token"):
        access.admit("POST", URL, {"x-api-key": "k"}, b'{"image": "QUJD"}')


@pytest.fixture
def deployed_api(fake_aws_credentials):
    """What the api module applies, made with boto3 on moto: two clients' keys and plans."""
    with mock_aws():
        c = boto3.client("apigateway", region_name="us-east-1")
        api = c.create_rest_api(name="dogs")["id"]
        c.update_rest_api(restApiId=api, patchOperations=[  # stored as API Gateway stores "/": "~1"
            {"op": "add", "path": "/binaryMediaTypes", "value": "image~1jpeg"}])
        root = c.get_resources(restApiId=api)["items"][0]["id"]
        resource = c.create_resource(restApiId=api, parentId=root, pathPart="predict")["id"]
        c.put_method(restApiId=api, resourceId=resource, httpMethod="POST", authorizationType="AWS_IAM",
                     apiKeyRequired=True)
        c.put_integration(restApiId=api, resourceId=resource, httpMethod="POST", type="MOCK")
        c.put_gateway_response(restApiId=api, responseType="THROTTLED", statusCode="429",
                               responseParameters={"gatewayresponse.header.Retry-After": "'1'"})
        keys = {}
        for name, (rate, quota) in {"alpha": (5.0, 3), "bravo": (1.0, 100)}.items():
            key = c.create_api_key(name=name, enabled=True)
            plan = c.create_usage_plan(name=name, apiStages=[{"apiId": api, "stage": "beta"}],
                                       throttle={"rateLimit": rate, "burstLimit": 2},
                                       quota={"limit": quota, "period": "DAY"})
            c.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
            keys[name] = key
        other = c.create_api_key(name="other-stage", enabled=True)  # in a plan of another stage
        plan = c.create_usage_plan(name="other", apiStages=[{"apiId": api, "stage": "prod"}])
        c.create_usage_plan_key(usagePlanId=plan["id"], keyId=other["id"], keyType="API_KEY")
        c.create_deployment(restApiId=api, stageName="beta")
        yield api, keys, other


def test_read_deployed_api_is_what_was_applied(deployed_api):
    api, keys, other = deployed_api
    deployed = api_access.read_deployed_api(None, "us-east-1", api, "beta", "/predict")
    access = deployed.access
    assert (access.authorization, access.api_key_required) == ("AWS_IAM", True)
    assert {c.plan: (c.throttle.rate, c.throttle.burst, c.quota.limit) for c in access.clients.values()} == {
        "alpha": (5.0, 2, 3), "bravo": (1.0, 2, 100)}
    assert access.clients[keys["alpha"]["value"]].key_id == keys["alpha"]["id"]
    assert other["value"] not in access.clients
    assert deployed.routes == (api_access.Route("POST", "/predict", True),)
    assert deployed.gateway_responses == {"THROTTLED": {"Retry-After": "'1'"}}
    assert deployed.binary_media_types == ("image/jpeg",)


def test_every_list_is_read_to_its_last_page():
    pages = {None: {"items": [1, 2], "position": "p2"}, "p2": {"items": [3], "position": "p3"},
             "p3": {"items": [4]}}
    calls = []

    def call(restApiId, position=None):
        calls.append(position)
        return pages[position]

    assert api_access._pages(call, restApiId="a") == [1, 2, 3, 4]
    assert calls == [None, "p2", "p3"]
