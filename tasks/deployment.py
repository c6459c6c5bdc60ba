"""The model → the stack: `invoke deploy`, `plan`, `apply-plan`, `rollback`, `destroy`, `models`."""
from __future__ import annotations

import time

from tasks import options
from tasks.command import command, load_config

ENDPOINT_TYPES = options.Choice(("realtime", "serverless"))
STACK_HELP = {
    "plugin_dir": "provider mirror for offline init (default: $DOGS_TF_PLUGIN_DIR, else /opt/tf-plugins "
                  "if present)",
}
MODEL_HELP = {
    **STACK_HELP,
    "var_file": "a .tfvars file with more Terraform variables (see terraform/examples/)",
    "model_data": "s3:// URL of a model.tar.gz (default: the artifact `invoke train` recorded); its class "
                  "map, model id and algorithm are read from the artifact itself",
    "classes": "classes.json (or its folder) to use instead of the artifact's own",
    "algorithm": "pytorch or builtin: what trained a --model-data artifact (default: the recorded "
                 "artifact's, else pytorch); builtin serves in the built-in algorithm's image, aws only",
    "endpoint_type": "realtime or serverless (default: the Terraform default, serverless)",
    "instance_type": "real-time instance type, e.g. ml.m5.large",
}


def _settings(config, target, endpoint_type=None, instance_type=None, var_file=None, plugin_dir=None):
    import ops.deploy.deploy_cli as deploy_cli

    return deploy_cli.settings(load_config(config), target, endpoint_type, instance_type, var_file,
                               plugin_dir)


@command(parse={"target": options.TARGET, "endpoint_type": ENDPOINT_TYPES}, help={
    **MODEL_HELP, "auto_approve": "aws: apply without asking (local never asks)",
    "show_api_key": "print the API key too",
    "training_only": "before the first model: apply only the bucket and the training role "
                     "(`invoke train --target aws` then uses it)",
})
def deploy(c, target="local", model=None, model_data=None, classes=None, endpoint_type=None,
           instance_type=None, var_file=None, plugin_dir=None, auto_approve=False, show_api_key=False,
           algorithm=None, training_only=False, config=None):
    """Deploy the trained model: Terraform applies the endpoint, Lambda and API; prints the URL."""
    import ops.deploy.deploy_cli as deploy_cli

    started = time.monotonic()
    s = _settings(config, target, endpoint_type, instance_type, var_file, plugin_dir)
    outputs = deploy_cli.deploy(s, model=model, model_data=model_data, classes=classes,
                                algorithm=algorithm, training_only=training_only,
                                auto_approve=auto_approve)
    if training_only:
        print(f"bucket {outputs.get('bucket_name')}, training role {outputs.get('training_role_arn')}; "
              + ("next: invoke train --target aws" if target == "aws" else "(the local AWS)"))
        return
    deploy_cli.print_outputs(outputs, show_api_key)
    print(f"deployed to {target} in {time.monotonic() - started:.0f} s; "
          f"`invoke destroy --target {target}` tears it down")


@command
def models(c):
    """List the models trained and deployed: id, where it lives, when, validation accuracy, where it serves."""
    import ops.deploy.deploy_cli as deploy_cli

    deploy_cli.print_models()


@command(parse={"target": options.TARGET}, help={**STACK_HELP, "auto_approve": "aws: apply without asking"})
def rollback(c, target="local", plugin_dir=None, auto_approve=False, config=None):
    """Serve the model deployed before the current one again (a deploy: blue/green, alarms roll back)."""
    import ops.deploy.deploy_cli as deploy_cli

    outputs = deploy_cli.rollback(_settings(config, target, plugin_dir=plugin_dir), auto_approve)
    deploy_cli.print_outputs(outputs)


@command(name="plan", parse={"target": options.TARGET, "endpoint_type": ENDPOINT_TYPES}, help={
    **MODEL_HELP,
    "summary": "also write a reviewer's Markdown summary of the plan to this file (for PR comments)",
    "destroy": "plan the destroy instead (what `invoke destroy` would remove)",
    "release": "the versioned release file naming the model (deploy/model.json: model_data, model_id) "
               "instead of --model-data",
    "save": "aws: keep the saved plan beside the remote state for `invoke apply-plan` (needs "
            "TF_STATE_BUCKET and a committed tree)",
})
def plan_(c, target="local", model_data=None, classes=None, endpoint_type=None, instance_type=None,
          var_file=None, plugin_dir=None, summary=None, destroy=False, algorithm=None, release=None,
          save=False, config=None):
    """Show what `invoke deploy` would change (terraform plan); exit 0 either way."""
    import ops.deploy.deploy_cli as deploy_cli

    s = _settings(config, target, endpoint_type, instance_type, var_file, plugin_dir)
    changes = deploy_cli.plan(s, model_data=model_data, classes=classes, algorithm=algorithm,
                              summary=summary, destroy=destroy, release=release, save=save)
    print("changes pending" if changes else "no changes")


@command(name="apply-plan", parse={"target": options.TARGET}, help={
    **STACK_HELP, "target": "aws: the reviewed plan lies beside its remote state"})
def apply_plan(c, target="aws", plugin_dir=None, config=None):
    """Apply exactly the plan reviewed for this tree (`invoke plan --save`); refuse if none or stale."""
    import ops.deploy.deploy_cli as deploy_cli

    deploy_cli.print_outputs(deploy_cli.apply_plan(_settings(config, target, plugin_dir=plugin_dir)))


@command(parse={"target": options.TARGET}, help={
    **STACK_HELP, "auto_approve": "destroy without asking",
    "include_bucket": "aws: destroy the bucket too (default: keep it, it holds the data)"})
def destroy(c, target="local", plugin_dir=None, auto_approve=False, include_bucket=False, config=None):
    """Tear the deployed stack down (endpoints bill by the hour); prints what it removes."""
    import ops.deploy.deploy_cli as deploy_cli

    removed = deploy_cli.destroy(_settings(config, target, plugin_dir=plugin_dir), include_bucket,
                                 auto_approve)
    print(f"destroyed {len(removed)} resources in {target}")
