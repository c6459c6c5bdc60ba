"""The deployed REST API as the local API serves it: its routes, gateway responses, binary media types,
and who may call its method and how often (API Gateway's access rules, as deployed).

What Terraform applied is read back from the local AWS once, every list paged (`read_deployed_api`): the
routes (each resource's methods and whether they need the API key), the gateway responses' header
mappings, the binary media types, and for the predict method its authorization
(`NONE` or `AWS_IAM`) and `apiKeyRequired`, every enabled API key in a usage plan of the stage with that
plan's throttle (token bucket: `rateLimit` per second, `burstLimit` deep) and quota (`limit` per `DAY`,
`WEEK` or `MONTH`, from the period's start in UTC), and the stage's own method throttle.

`Access.admit` then answers a request the way API Gateway does, in its order: IAM signature (SigV4,
against the local AWS's credentials), API key, stage throttle, the key's throttle, its quota; a refusal is
`Refused(status, message, error_type, response_type)` with API Gateway's own message and
`x-amzn-ErrorType`; the headers of the gateway response `response_type` (THROTTLED's `Retry-After`, ...)
are the local API's to add, from `DeployedApi.gateway_responses`.
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html
"""
from __future__ import annotations

import datetime as dt
import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

SIGV4_MAX_SKEW_S = 300  # API Gateway refuses signatures more than 5 minutes off
PERIOD_STARTS: dict[str, Callable[[dt.datetime], dt.datetime]] = {
    "DAY": lambda t: t.replace(hour=0, minute=0, second=0, microsecond=0),
    "WEEK": lambda t: (t - dt.timedelta(days=t.weekday())).replace(hour=0, minute=0, second=0,
                                                                   microsecond=0),
    "MONTH": lambda t: t.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
}


@dataclass(frozen=True)
class Route:
    """One method of the REST API that reaches the Lambda."""
    method: str
    resource: str
    api_key_required: bool = True


PREDICT_ROUTE = Route("POST", "/predict", True)
PAGE_ROUTE = Route("GET", "/", False)
PREFLIGHT_ROUTE = Route("OPTIONS", "/predict", False)


class Refused(Exception):
    """A request API Gateway turns away: status, its message, x-amzn-ErrorType, and the gateway response
    whose headers it carries (THROTTLED, ...; "" = DEFAULT_4XX/5XX)."""

    def __init__(self, status: int, message: str, error_type: str, response_type: str = ""):
        super().__init__(f"{status} {message}")
        self.status, self.message, self.error_type = status, message, error_type
        self.response_type = response_type


@dataclass(frozen=True)
class Identity:
    """What the request context's `identity` gets: the key's id, or the IAM caller's access key."""
    api_key_id: str | None = None
    access_key: str | None = None


class TokenBucket:
    """`burst` tokens, refilled at `rate` per second; one per request."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = float(rate), max(int(burst), 1), clock
        self.tokens, self.stamp = float(self.burst), clock()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


class Quota:
    """`limit` requests per period (DAY, WEEK, MONTH), counted from the period's start in UTC."""

    def __init__(self, limit: int, period: str,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)):
        if period not in PERIOD_STARTS:
            raise ValueError(f"quota period {period!r}: expected one of {', '.join(PERIOD_STARTS)}")
        self.limit, self.start_of, self.now = int(limit), PERIOD_STARTS[period], now
        self.period_start, self.used = self.start_of(now()), 0
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            start = self.start_of(self.now())
            if start != self.period_start:
                self.period_start, self.used = start, 0
            if self.used >= self.limit:
                return False
            self.used += 1
            return True


@dataclass
class Client:
    """One API key and what its usage plan allows (None: no limit of that kind)."""
    key_id: str
    plan: str | None = None
    throttle: TokenBucket | None = None
    quota: Quota | None = None


@dataclass
class Access:
    authorization: str = "NONE"
    api_key_required: bool = True
    clients: dict[str, Client] = field(default_factory=dict)  # by key value
    stage_throttle: TokenBucket | None = None
    credentials: dict[str, str] = field(default_factory=dict)  # access key id -> secret, for AWS_IAM
    region: str = "us-east-1"

    def admit(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Identity:
        """The caller's identity, or `Refused` as API Gateway refuses it."""
        access_key = None
        if self.authorization == "AWS_IAM":
            access_key = verify_sigv4(method, url, headers, body, self.credentials, self.region)
        client = None
        if self.api_key_required:
            client = _client_for(headers.get("x-api-key", ""), self.clients)
            if client is None:
                raise Refused(403, "Forbidden", "ForbiddenException", response_type="INVALID_API_KEY")
        if self.stage_throttle and not self.stage_throttle.take():
            raise Refused(429, "Too Many Requests", "TooManyRequestsException", "THROTTLED")
        if client and client.throttle and not client.throttle.take():
            raise Refused(429, "Too Many Requests", "TooManyRequestsException", "THROTTLED")
        if client and client.quota and not client.quota.take():
            raise Refused(429, "Limit Exceeded", "LimitExceededException", "QUOTA_EXCEEDED")
        return Identity(api_key_id=client.key_id if client else None, access_key=access_key)



def _client_for(given: str, clients: Mapping[str, Client]) -> Client | None:
    """The key's client, every key compared in constant time."""
    found = None
    for value, client in clients.items():
        if hmac.compare_digest(given.encode(), value.encode()):
            found = client
    return found


def single_key(api_key: str) -> Access:
    """One key and no usage plan: the local API run without a deployed REST API to read."""
    return Access(clients={api_key: Client(key_id="local")})


def verify_sigv4(method: str, url: str, headers: Mapping[str, str], body: bytes,
                 credentials: Mapping[str, str], region: str,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)) -> str:
    """The signing access key id of a SigV4-signed request (service execute-api), or `Refused`."""
    auth = headers.get("Authorization", "")
    if not auth:
        raise Refused(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
    fields = _authorization_fields(auth)
    access_key, date, scope_region, service, terminator = (fields["Credential"].split("/") + [""] * 5)[:5]
    if service != "execute-api" or terminator != "aws4_request" or scope_region != region:
        raise Refused(403, f"Credential should be scoped to a valid region and to service "
                           f"'execute-api': {fields['Credential']}", "IncompleteSignatureException")
    secret = credentials.get(access_key)
    if secret is None:
        raise Refused(403, "The security token included in the request is invalid.",
                      "UnrecognizedClientException")
    stamp = headers.get("X-Amz-Date", "")
    _check_time(stamp, date, now())
    expected = _signature(method, url, headers, body, fields["SignedHeaders"].split(";"),
                          access_key, secret, region, stamp)
    if not hmac.compare_digest(expected.encode(), fields["Signature"].encode()):
        raise Refused(403, "The request signature we calculated does not match the signature you "
                           "provided. Check your AWS Secret Access Key and signing method. Consult the "
                           "service documentation for details.", "InvalidSignatureException")
    return access_key


def _authorization_fields(auth: str) -> dict[str, str]:
    algorithm, _, rest = auth.partition(" ")
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(",") if "=" in part)
    if algorithm != "AWS4-HMAC-SHA256" or not all(fields.get(k) for k in
                                                   ("Credential", "SignedHeaders", "Signature")):
        raise Refused(403, f"Authorization header requires 'Credential', 'SignedHeaders' and "
                           f"'Signature' parameters (AWS4-HMAC-SHA256). Authorization={auth[:100]}",
                      "IncompleteSignatureException")
    return fields


def _check_time(stamp: str, scope_date: str, now: dt.datetime) -> None:
    try:
        signed = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise Refused(403, "Authorization header requires existence of either a 'X-Amz-Date' or a "
                           "'Date' header.", "IncompleteSignatureException") from None
    if scope_date != stamp[:8]:
        raise Refused(403, f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                           f"of date from HTTP: '{scope_date}' != '{stamp[:8]}'",
                      "InvalidSignatureException")
    if abs((now - signed).total_seconds()) > SIGV4_MAX_SKEW_S:
        raise Refused(403, f"Signature expired: {stamp} is now earlier than "
                           f"{(now - dt.timedelta(seconds=SIGV4_MAX_SKEW_S)):%Y%m%dT%H%M%SZ} "
                           f"({now:%Y%m%dT%H%M%SZ} - 5 min.)", "InvalidSignatureException")


def _signature(method: str, url: str, headers: Mapping[str, str], body: bytes, signed: list[str],
               access_key: str, secret: str, region: str, stamp: str) -> str:
    """botocore's own SigV4 signer over exactly the headers the caller signed."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    lowered = {k.lower(): v for k, v in headers.items()}
    request = AWSRequest(method=method, url=url, data=body,
                         headers={name: lowered[name] for name in signed if name in lowered})
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(access_key, secret, lowered.get("x-amz-security-token")),
                       "execute-api", region)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


@dataclass(frozen=True)
class DeployedApi:
    """What the local API needs of the deployed REST API, read once."""
    routes: tuple[Route, ...]
    gateway_responses: dict[str, dict[str, str]]  # response type -> {header: mapping expression}
    binary_media_types: tuple[str, ...]           # () when the API has none
    access: Access                                # the predict method's


def read_deployed_api(aws_url: str | None, region: str, api_id: str, stage: str,
                      resource_path: str = "/predict", http_method: str = "POST",
                      ca_bundle: str | None = None) -> DeployedApi:
    """The deployed REST API, read from the (local) AWS API Gateway control plane, every list paged."""
    import boto3

    client = boto3.client("apigateway", region_name=region, endpoint_url=aws_url,
                          verify=ca_bundle or None)
    resources = _pages(client.get_resources, restApiId=api_id)
    types = client.get_rest_api(restApiId=api_id).get("binaryMediaTypes") or []
    return DeployedApi(routes=_routes(client, api_id, resources),
                       gateway_responses=_gateway_responses(client, api_id),
                       binary_media_types=tuple(t.replace("~1", "/") for t in types),  # "/" is stored "~1"
                       access=_access(client, api_id, stage, resources, resource_path, http_method,
                                      region))


def _routes(client, api_id: str, resources: list[dict]) -> tuple[Route, ...]:
    """Each resource's methods: path, method and whether it needs the API key."""
    routes = []
    for resource in resources:
        for method, spec in (resource.get("resourceMethods") or {}).items():
            if "apiKeyRequired" not in spec:
                spec = client.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod=method)
            routes.append(Route(method, resource["path"], bool(spec.get("apiKeyRequired"))))
    return tuple(routes) or (PREDICT_ROUTE,)


def _gateway_responses(client, api_id: str) -> dict[str, dict[str, str]]:
    """The gateway responses that map headers: type -> {header name: expression}."""
    prefix = "gatewayresponse.header."
    result = {}
    for item in _pages(client.get_gateway_responses, restApiId=api_id):
        headers = {k.removeprefix(prefix): v for k, v in (item.get("responseParameters") or {}).items()
                   if k.startswith(prefix)}
        if headers:
            result[item["responseType"]] = headers
    return result


def _access(client, api_id: str, stage: str, resources: list[dict], resource_path: str,
            http_method: str, region: str) -> Access:
    from ops.emulator.local_aws import CREDENTIALS

    resource = next(r for r in resources if r["path"] == resource_path)
    method = client.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod=http_method)
    return Access(authorization=method.get("authorizationType", "NONE"),
                  api_key_required=bool(method.get("apiKeyRequired")),
                  clients=_clients(client, api_id, stage),
                  stage_throttle=_stage_throttle(client, api_id, stage),
                  credentials={CREDENTIALS["AWS_ACCESS_KEY_ID"]: CREDENTIALS["AWS_SECRET_ACCESS_KEY"]},
                  region=region)


def _pages(call, **kwargs) -> list[dict]:
    items, position = [], None
    while True:
        page = call(**kwargs, **({"position": position} if position else {}))
        items += page.get("items", [])
        position = page.get("position")
        if not position:
            return items


def _clients(client, api_id: str, stage: str) -> dict[str, Client]:
    keys = {k["id"]: k for k in _pages(client.get_api_keys, includeValues=True) if k.get("enabled")}
    clients = {}
    for plan in _pages(client.get_usage_plans):
        if not any(s.get("apiId") == api_id and s.get("stage") == stage for s in plan.get("apiStages", [])):
            continue
        for plan_key in _pages(client.get_usage_plan_keys, usagePlanId=plan["id"]):
            key = keys.get(plan_key["id"])
            if key:
                clients[key["value"]] = _client_of(key["id"], plan)
    return clients


def _client_of(key_id: str, plan: dict) -> Client:
    throttle, quota = plan.get("throttle") or {}, plan.get("quota") or {}
    return Client(key_id=key_id, plan=plan.get("name"),
                  throttle=TokenBucket(throttle["rateLimit"], throttle.get("burstLimit", 1))
                  if throttle.get("rateLimit") else None,
                  quota=Quota(quota["limit"], quota.get("period", "DAY")) if quota.get("limit") else None)


def _stage_throttle(client, api_id: str, stage: str) -> TokenBucket | None:
    settings = (client.get_stage(restApiId=api_id, stageName=stage).get("methodSettings") or {}).get("*/*")
    if not settings or not settings.get("throttlingRateLimit"):
        return None
    return TokenBucket(settings["throttlingRateLimit"], settings.get("throttlingBurstLimit", 1))

