"""Fixes for the gaps of moto's server that keep Terraform's AWS provider from converging against it.

Applied inside the local AWS server process only (`python -m ops.emulator.local_aws serve`), before it serves:
our Terraform stays exactly what runs against real AWS. Each fix names the gap it closes:

- application-autoscaling has no ListTagsForResource / TagResource / UntagResource: the provider reads
  tags after creating a scalable target and retries "unknown operation" until apply times out.
- sagemaker Describe* answers empty `VpcConfig`, `DataCaptureConfig` (and other empty blocks) that
  AWS leaves out, so the provider sees a block the configuration lacks and plans a replacement.
- API Gateway binaryMediaTypes: the provider adds and removes media types with PATCH operations whose
  value is in the path (`/binaryMediaTypes/image~1jpeg`, RFC 6901 escaping); moto reads the missing
  `value` and stores empty strings.
- API Gateway CreateRestApi ignores `binaryMediaTypes`, so they are missing until changed again.
- API Gateway UpdateAccount fails (500) on an operation without a value: the provider
  resets the account's CloudWatch role that way on destroy (`reset_on_delete`) and retries forever.
- sagemaker CreateModel drops `EnableNetworkIsolation` (always described as false).
- sagemaker has no UpdateEndpoint (a new endpoint configuration could only replace the endpoint) and
  keeps no `DeploymentConfig` (blue/green + rollback), so every plan wants to recreate the endpoint.
- application-autoscaling RegisterScalableTarget drops its `Tags`.
- IAM/S3 policy conditions: moto evaluates only StringEquals and treats any other operator as met,
  knows no `aws:SecureTransport`, and answers Deny for any statement whose condition fails; so the
  bucket's "Deny unless TLS" statement denied every request. We add `Bool`, set `aws:SecureTransport`
  from the request's scheme (the server speaks HTTPS), and let a statement whose condition fails not
  apply, as IAM does.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Callable, Iterable

HEALTH_PATH = "/_dogs/health"
_applied = False
_request = threading.local()  # the request being served (werkzeug serves each in its own thread)


def apply() -> None:
    """Patch moto's classes in this process (idempotent)."""
    global _applied
    if _applied:
        return
    _patch_application_autoscaling_tags()
    _patch_apigateway_binary_media_types()
    _patch_apigateway_account_reset()
    _patch_sagemaker_endpoint_updates()
    _patch_policy_conditions()
    _applied = True


def wrap_app(app: Callable) -> Callable:
    """WSGI middleware over moto's app: rewrites the responses that need it (see module doc)."""
    def middleware(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:  # cheap, and says the patches are in
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"patched moto\n"]
        _request.secure = environ.get("wsgi.url_scheme") == "https"
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("SageMaker.Describe"):
            return app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)
            return lambda data: None

        body = b"".join(app(environ, capture))
        if captured["status"].startswith("200"):
            body = json.dumps(_without_empty(json.loads(body or b"{}"))).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(body)))])
        return [body]

    return middleware


def _without_empty(value: Any) -> Any:
    """Drop keys whose value is None or an empty object, recursively (AWS omits unset blocks)."""
    if isinstance(value, dict):
        cleaned = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v is not None and v != {}}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def _patch_application_autoscaling_tags() -> None:
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    tags: dict[str, dict[str, str]] = {}  # resource ARN -> tags (this process only)

    def list_tags_for_resource(self) -> str:
        return json.dumps({"Tags": tags.get(self._get_param("ResourceARN"), {})})

    def tag_resource(self) -> str:
        tags.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
        return "{}"

    def untag_resource(self) -> str:
        current = tags.get(self._get_param("ResourceARN"), {})
        for key in self._get_param("TagKeys") or []:
            current.pop(key, None)
        return "{}"

    for fn in (list_tags_for_resource, tag_resource, untag_resource):
        if not hasattr(ApplicationAutoScalingResponse, fn.__name__):
            setattr(ApplicationAutoScalingResponse, fn.__name__, fn)

    register = ApplicationAutoScalingResponse.register_scalable_target

    def register_scalable_target(self) -> str:
        body = register(self)
        if self._get_param("Tags"):
            tags.setdefault(json.loads(body)["ScalableTargetARN"], {}).update(self._get_param("Tags"))
        return body

    ApplicationAutoScalingResponse.register_scalable_target = register_scalable_target


def _patch_apigateway_account_reset() -> None:
    from moto.apigateway.models import Account

    original = Account.apply_patch_operations

    def apply_patch_operations(self, patch_operations):
        return original(self, [op if "value" in op else {**op, "value": ""}
                               for op in patch_operations])

    Account.apply_patch_operations = apply_patch_operations


def _patch_apigateway_binary_media_types() -> None:
    from moto.apigateway.models import RestAPI
    from moto.apigateway.responses import APIGatewayResponse

    create = APIGatewayResponse.create_rest_api

    def create_rest_api(self):
        status, headers, body = create(self)
        media_types = self._get_param("binaryMediaTypes")
        if status == 200 and media_types:
            api = self.backend.get_rest_api(json.loads(body)["id"])
            api.binaryMediaTypes = list(media_types)
            body = json.dumps(api.to_dict())
        return status, headers, body

    APIGatewayResponse.create_rest_api = create_rest_api

    original = RestAPI.apply_patch_operations
    prefix = "/binaryMediaTypes/"

    def apply_patch_operations(self, patch_operations):
        fixed = []
        for op in patch_operations:
            path = op.get("path", "")
            if path.startswith(prefix) and op.get("op") in ("add", "remove") and not op.get("value"):
                media_type = path[len(prefix):].replace("~1", "/").replace("~0", "~")
                op = {**op, "path": prefix.rstrip("/"), "value": media_type}
            fixed.append(op)
        return original(self, fixed)

    RestAPI.apply_patch_operations = apply_patch_operations


def _patch_sagemaker_endpoint_updates() -> None:
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.sagemaker.responses import SageMakerResponse

    create = SageMakerResponse.create_endpoint

    def create_endpoint(self):
        result = create(self)
        endpoint = self.sagemaker_backend.endpoints[self._get_param("EndpointName")]
        endpoint.deployment_config = self._get_param("DeploymentConfig")  # described as DeploymentConfig
        return result

    def update_endpoint(self):
        backend = self.sagemaker_backend
        endpoint = backend.endpoints[self._get_param("EndpointName")]  # KeyError: moto's 400
        config = backend.describe_endpoint_config(self._get_param("EndpointConfigName"))
        endpoint.endpoint_config_name = config["EndpointConfigName"]
        endpoint.production_variants = endpoint._process_production_variants(
            config["ProductionVariants"])
        if not self._get_param("RetainDeploymentConfig"):
            endpoint.deployment_config = self._get_param("DeploymentConfig")
        endpoint.last_modified_time = utcnow()
        return ActionResult({"EndpointArn": endpoint.arn})

    SageMakerResponse.create_endpoint = create_endpoint

    create_model = SageMakerResponse.create_model

    def create_model_keeping_isolation(self):
        result = create_model(self)
        model = self.sagemaker_backend._models[self._get_param("ModelName")]
        model.enable_network_isolation = bool(self._get_param("EnableNetworkIsolation", False))
        return result

    SageMakerResponse.create_model = create_model_keeping_isolation
    if not hasattr(SageMakerResponse, "update_endpoint"):
        SageMakerResponse.update_endpoint = update_endpoint


def _patch_policy_conditions() -> None:
    from moto.iam import policy_conditions
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    def bool_operation(expected: list[str] | str, actual: str) -> bool:
        wanted = expected if isinstance(expected, list) else [expected]
        return str(actual).lower() in [str(w).lower() for w in wanted]

    policy_conditions.CONDITION_OPERATIONS.setdefault("Bool", bool_operation)
    original = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(self, action, resource="*", principal=None,
                            incoming_condition_values=None):
        values = dict(incoming_condition_values or {})
        secure = getattr(_request, "secure", None)
        if secure is not None:
            values.setdefault("aws:SecureTransport", "true" if secure else "false")
        if self._statement.get("Condition") and not self._check_conditions(values):
            return PermissionResult.NEUTRAL  # a statement whose condition fails does not apply (moto: Deny)
        return original(self, action, resource, principal, values)

    IAMPolicyStatement.is_action_permitted = is_action_permitted
