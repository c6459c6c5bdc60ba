"""The local stack's serving half: the local endpoint and the local API for what Terraform deployed.

`start()` reads the deployment from Terraform's outputs and the running local AWS, starts
`ops.emulator.local_endpoint` (the deployed model, found through the endpoint) and `ops.emulator.local_api` (the deployed
Lambda's environment behind API Gateway's contract) as background processes, and records
`serve = {predict_url, endpoint_url, pids}` in the project state; `stop()` ends them. The API key is
never written to the state: clients read it from Terraform's outputs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ops.emulator import processes
from ops.core import state
from training.errors import UserError

STATE_KEY = "serve"


class ServingError(UserError, RuntimeError):
    """The local stack cannot be served (nothing deployed, local AWS down, a server failed)."""


@dataclass(frozen=True)
class Deployment:
    aws_url: str
    region: str
    endpoint_name: str
    function_name: str
    stage: str
    api_id: str
    api_key: str
    ca_bundle: str = ""  # the local AWS's self-signed certificate


@dataclass(frozen=True)
class Serving:
    predict_url: str
    endpoint_url: str
    endpoint_pid: int
    api_pid: int
    log_dir: str


def local_deployment() -> Deployment:
    """What `invoke deploy --target local` applied, on the running local AWS."""
    from ops.emulator import local_aws
    from ops.deploy import terraform

    aws = local_aws.require()
    out = terraform.outputs("local")
    missing = [k for k in ("endpoint_name", "lambda_function_name", "api_key_value") if not out.get(k)]
    if missing:
        raise ServingError(f"the local deployment has no {', '.join(missing)}; run "
                           "`invoke deploy --target local` first")
    return Deployment(aws_url=aws.url, region=local_aws.REGION, endpoint_name=out["endpoint_name"],
                      function_name=out["lambda_function_name"],
                      stage=out.get("api_stage_name") or "beta", api_id=out.get("api_id") or "local",
                      api_key=out["api_key_value"], ca_bundle=aws.ca_bundle)


def running() -> Serving | None:
    """The recorded local servers, when both still answer."""
    info = state.read(STATE_KEY)
    if not info:
        return None
    serving = Serving(**info)
    if not (processes.answers(serving.endpoint_url + "/ping", 200)
            and processes.answers(serving.predict_url, 403)):
        return None
    return serving


def start(deployment: Deployment, endpoint_port: int | None = None, api_port: int | None = None,
          log_dir: Path | None = None, container: bool = False) -> Serving:
    """Start the local endpoint, then the local API in front of the deployed Lambda handler. With
    `container`, the endpoint answers through SageMaker's own serving container (ops.containers.container_serving)."""
    from ops.emulator.local_aws import CREDENTIALS

    log_dir = log_dir or state.home() / "serve"
    env = dict(CREDENTIALS)  # the endpoint adds them itself (processes.model_server_environment)
    if deployment.ca_bundle:
        env["AWS_CA_BUNDLE"] = deployment.ca_bundle
    endpoint_port = endpoint_port or processes.free_port()
    endpoint = processes.start("local-endpoint", "ops.emulator.local_endpoint", [
        "--endpoint-name", deployment.endpoint_name, "--aws-url", deployment.aws_url,
        "--region", deployment.region, "--port", str(endpoint_port),
        "--work-dir", str(log_dir / "model"), *(["--container"] if container else [])],
        endpoint_port, "/ping", log_dir, env=env)
    api_port = api_port or processes.free_port()
    try:
        api = processes.start("local-api", "ops.emulator.local_api", [
            "--function-name", deployment.function_name, "--aws-url", deployment.aws_url,
            "--region", deployment.region, "--endpoint-url", endpoint.url, "--stage", deployment.stage,
            "--api-id", deployment.api_id, "--port", str(api_port)],
            api_port, f"/{deployment.stage}/predict", log_dir, expect_status=403,
            env={**env, "DOGS_API_KEY": deployment.api_key})
    except BaseException:
        endpoint.stop()
        raise
    serving = Serving(predict_url=f"{api.url}/{deployment.stage}/predict", endpoint_url=endpoint.url,
                      endpoint_pid=endpoint.pid, api_pid=api.pid, log_dir=str(log_dir))
    state.record(STATE_KEY, asdict(serving))
    return serving

def serve(endpoint_port: int | None = None, api_port: int | None = None, *, container: bool = False,
          background: bool = False, echo=print) -> Serving:
    """`invoke serve`: start the local servers for the local deployment; unless `background`, serve
    until Ctrl-C (or until a server stops), then stop them."""
    import time

    if running():
        raise ServingError("already serving; `invoke serve --stop` first")
    served = start(local_deployment(), endpoint_port, api_port, container=container)
    echo(f"POST {served.predict_url}  (header x-api-key: the output api_key_value of "
         f"`invoke deploy --target local`)\nlocal endpoint {served.endpoint_url}  logs {served.log_dir}")
    if background:
        return served
    echo("serving; Ctrl-C stops")
    try:
        while running():
            time.sleep(2)
        echo("a server stopped; see the logs")
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return served


def stop() -> bool:
    """Stop the recorded local servers; False when none was recorded."""
    info = state.read(STATE_KEY)
    if not info:
        return False
    for pid in (info.get("api_pid"), info.get("endpoint_pid")):
        if pid and any(processes.runs_module(pid, m) for m in ("ops.emulator.local_endpoint", "ops.emulator.local_api")):
            processes.stop_pid(pid)
    state.record(STATE_KEY, None)
    return True

