"""Command-line entry points (`invoke --list`). Thin: parse options, call library code, print results.

Each section below is one concern; a `Collection` named at module level becomes a namespace
(`invoke lst.info`), its default task answers to the bare name (`invoke lst`).
"""
from __future__ import annotations

from contextlib import contextmanager

from invoke import Collection, Exit, Task, task

from training.errors import UserError


@contextmanager
def user_errors():
    """Turn a UserError into one line on stderr and exit status 2 (no traceback)."""
    try:
        yield
    except UserError as exc:
        raise Exit(f"error: {exc}", code=2) from None


def load_config(path: str | None = None):
    from ops import config

    with user_errors():
        return config.load(path)


# ---------------------------------------------------------------- config
@task(help={"config": "configuration file (default: config.yaml)"})
def check_config(c, config=None):
    """Validate config.yaml and print the resolved settings."""
    import json

    cfg = load_config(config)
    print(json.dumps({"hyperparameters": cfg.hyperparameters, "local": cfg.local,
                      "aws": cfg.aws}, indent=2))


# ---------------------------------------------------------------- data + lst (issue 2)


# ---------------------------------------------------------------- train + tune (issue 3)


# ---------------------------------------------------------------- local AWS + deploy (issue 4)
@task(help={"port": "port on 127.0.0.1 (default: a free one); an error if it is taken"})
def local_up(c, port=None):
    """Start the local AWS (a patched moto server on 127.0.0.1); idempotent."""
    from ops import local_aws

    with user_errors():
        running = local_aws.up(int(port) if port else None)
    print(f"local AWS: {running.url} (pid {running.pid}; log {local_aws.log_file()})")


@task
def local_down(c):
    """Stop the local AWS (everything in it is gone)."""
    from ops import local_aws

    print("local AWS stopped" if local_aws.down() else "local AWS was not running")


@task
def local_status(c):
    """Say whether the local AWS runs, and where."""
    from ops import local_aws

    running = local_aws.status()
    if running is None:
        raise Exit("local AWS: not running (`invoke local.up`)", code=1)
    print(f"local AWS: {running.url} (pid {running.pid}; log {local_aws.log_file()})")


local = Collection("local")
local.add_task(local_up, "up", default=True)
local.add_task(local_down, "down")
local.add_task(local_status, "status")

_DEPLOY_HELP = {
    "target": "local (the local AWS, `invoke local.up`) or aws (default: local)",
    "model_data": "s3:// URL of a model.tar.gz (default: the artifact `invoke train` recorded)",
    "classes": "classes.json (or its folder) when the artifact carries none",
    "endpoint_type": "realtime or serverless (default: the Terraform default, serverless)",
    "instance_type": "real-time instance type, e.g. ml.m5.large",
    "var_file": "a .tfvars file with more Terraform variables (see terraform/examples/)",
    "plugin_dir": "provider mirror for offline init (default: $DOGS_TF_PLUGIN_DIR, else /opt/tf-plugins if present)",
}


def _deploy_settings(target, endpoint_type, instance_type, var_file, plugin_dir):
    from ops import deploy

    return deploy.settings(load_config(), target, endpoint_type=endpoint_type,
                           instance_type=instance_type, var_file=var_file, plugin_dir=plugin_dir)


def _confirm(question: str) -> bool:
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _print_outputs(outputs: dict, show_api_key: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="deployment")
    table.add_column("output", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name in ("api_invoke_url", "api_predict_url", "endpoint_name", "model_name",
                 "lambda_function_name", "bucket_name"):
        if name in outputs:
            table.add_row(name, str(outputs[name]))
    table.add_row("api_key_value", outputs.get("api_key_value", "") if show_api_key
                  else "(hidden: --show-api-key)")
    Console().print(table)


@task(help={**_DEPLOY_HELP, "auto_approve": "aws: apply without asking (local never asks)",
            "show_api_key": "print the API key too"})
def deploy(c, target="local", model_data=None, classes=None, endpoint_type=None, instance_type=None,
           var_file=None, plugin_dir=None, auto_approve=False, show_api_key=False):
    """Deploy the trained model: Terraform applies the endpoint, Lambda and API; prints the URL."""
    import time

    from ops import deploy as ops_deploy

    started = time.monotonic()
    with user_errors():
        s = _deploy_settings(target, endpoint_type, instance_type, var_file, plugin_dir)
        model = ops_deploy.find_model(model_data, classes)
        outputs = ops_deploy.deploy(s, model, auto_approve=auto_approve, confirm=_confirm)
    _print_outputs(outputs, show_api_key)
    print(f"deployed to {target} in {time.monotonic() - started:.0f} s; "
          f"`invoke destroy --target {target}` tears it down")


@task(name="plan", help=_DEPLOY_HELP)
def plan_(c, target="local", model_data=None, classes=None, endpoint_type=None, instance_type=None,
          var_file=None, plugin_dir=None):
    """Show what `invoke deploy` would change (terraform plan); exit 0 either way."""
    from ops import deploy as ops_deploy

    with user_errors():
        s = _deploy_settings(target, endpoint_type, instance_type, var_file, plugin_dir)
        changes, _ = ops_deploy.plan(s, ops_deploy.find_model(model_data, classes))
    print("changes pending" if changes else "no changes")


@task(help={"target": _DEPLOY_HELP["target"], "plugin_dir": _DEPLOY_HELP["plugin_dir"],
            "auto_approve": "destroy without asking",
            "include_bucket": "aws: destroy the bucket too (default: keep it, it holds the data)"})
def destroy(c, target="local", plugin_dir=None, auto_approve=False, include_bucket=False):
    """Tear the deployed stack down (endpoints bill by the hour); prints what it removes."""
    from ops import deploy as ops_deploy

    with user_errors():
        s = _deploy_settings(target, None, None, None, plugin_dir)
        removed = ops_deploy.destroy(s, keep_bucket=target == "aws" and not include_bucket,
                                     auto_approve=auto_approve or target == "local", confirm=_confirm)
    print(f"destroyed {len(removed)} resources in {target}")


# ---------------------------------------------------------------- predict + serve + demo (issue 5)


# ---------------------------------------------------------------- evaluate (issue 6)


# ---------------------------------------------------------------- plan summary (issue 7)


# ---------------------------------------------------------------- bench (issue 8)


# ---------------------------------------------------------------- namespace
def _namespace() -> Collection:
    """Every module-level Collection becomes a namespace; every other task is top level."""
    ns = Collection()
    grouped = set()
    for obj in list(globals().values()):
        if isinstance(obj, Collection):
            ns.add_collection(obj)
            grouped.update(id(t) for t in obj.tasks.values())
    for obj in list(globals().values()):
        if isinstance(obj, Task) and id(obj) not in grouped:
            ns.add_task(obj)
    return ns


ns = _namespace()
