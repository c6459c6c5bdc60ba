"""`invoke deploy / plan / apply-plan / rollback / destroy / models`: which model, which settings, the table.

The commands' own decisions (the model chosen by --model, --model-data or --release, the question
before an AWS change) live here; the stack itself is driven by ops/deploy/stack.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import ops.deploy.stack as stack
import ops.deploy.model_history as model_history
import ops.core.state as state
import ops.deploy.served_model as served_model
from ops.core.config import Config

OUTPUT_ROWS = ("api_invoke_url", "api_predict_url", "endpoint_name", "model_name",
               "lambda_function_name", "bucket_name")


def confirm(question: str) -> bool:
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def settings(cfg: Config, target: str, endpoint_type: str | None = None, instance_type: str | None = None,
             var_file: str | None = None, plugin_dir: str | None = None) -> stack.Settings:
    return stack.settings(cfg, target, endpoint_type=endpoint_type, instance_type=instance_type,
                          var_file=var_file, plugin_dir=plugin_dir)


def chosen_model(s: stack.Settings, model: str | None, model_data: str | None, classes: str | None,
                 algorithm: str | None) -> stack.Model:
    """--model (a model id from `invoke models`, or a model.tar.gz here), else --model-data, else the
    artifact `invoke train` recorded."""
    if model and model_data:
        raise stack.DeployError("give --model or --model-data, not both")
    if model and Path(model).is_file():
        return served_model.model_from_file(Path(model), classes, algorithm,
                                            served_model.s3_reader(s.target, s.region))
    if model and Path(model).exists():
        raise stack.DeployError(f"--model {model}: deploy takes a model.tar.gz file or a model id "
                                "(`invoke models`), not a folder")
    trained = state.trained()
    if model and not (trained and model == trained.model_id):  # the recorded one needs no history entry
        return served_model.model_from_history(model)
    return served_model.find_model(model_data, classes, algorithm, served_model.s3_reader(s.target, s.region))


def deploy(s: stack.Settings, *, model: str | None = None, model_data: str | None = None,
           classes: str | None = None, algorithm: str | None = None, training_only: bool = False,
           auto_approve: bool = False) -> dict[str, Any]:
    """`invoke deploy`: the chosen model's stack (or, with training_only, the bucket and training role)."""
    if training_only:
        return stack.deploy_training(s, auto_approve=auto_approve, confirm=confirm)
    chosen = chosen_model(s, model, model_data, classes, algorithm)
    return stack.deploy(s, chosen, auto_approve=auto_approve, confirm=confirm)


def rollback(s: stack.Settings, auto_approve: bool = False, echo=print) -> dict[str, Any]:
    """`invoke rollback`: deploy the model served before the current one."""
    earlier = model_history.previous(s.target)
    echo(f"rolling back {s.target} to {earlier['model_id']} (deployed {earlier['deployed_at']})")
    return stack.deploy(s, served_model.model_from_history(earlier["model_id"]), auto_approve=auto_approve,
                        confirm=confirm)


def plan(s: stack.Settings, *, model_data: str | None = None, classes: str | None = None,
         algorithm: str | None = None, summary: str | None = None, destroy: bool = False,
         release: str | None = None, save: bool = False) -> bool:
    """`invoke plan`: terraform plan of the chosen model (or of the destroy); whether changes are pending."""
    import ops.deploy.plan_review as plan_review
    import ops.deploy.reviewed_plan as reviewed_plan

    released_id = None
    if release:
        if model_data:
            raise stack.DeployError("give --release or --model-data, not both")
        model_data, released_id = reviewed_plan.read_release(release)
    model = None if destroy else served_model.find_model(model_data, classes, algorithm,
                                                  served_model.s3_reader(s.target, s.region))
    if model and released_id and released_id != model.model_id:
        raise stack.DeployError(f"{release}: model_id {released_id!r}, but the artifact's record says "
                                f"{model.model_id!r}; is model_data the artifact you meant?")
    return plan_review.plan(s, model, summary, destroy=destroy, save=save)


def apply_plan(s: stack.Settings) -> dict[str, Any]:
    """`invoke apply-plan`: exactly the plan reviewed for this tree."""
    import ops.deploy.reviewed_plan as reviewed_plan

    if s.target != "aws":
        raise stack.DeployError("apply-plan is for --target aws")
    return reviewed_plan.apply(s)


def destroy(s: stack.Settings, include_bucket: bool = False, auto_approve: bool = False) -> list[str]:
    """`invoke destroy`: the stack, but on aws the bucket (the training data) unless include_bucket."""
    return stack.destroy(s, keep_bucket=s.target == "aws" and not include_bucket,
                         auto_approve=auto_approve or s.target == "local", confirm=confirm)


def print_outputs(outputs: dict, show_api_key: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="deployment")
    table.add_column("output", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name in OUTPUT_ROWS:
        if name in outputs:
            table.add_row(name, str(outputs[name]))
    table.add_row("api_key_value", outputs.get("api_key_value", "") if show_api_key
                  else "(hidden: --show-api-key)")
    Console().print(table)


def print_models() -> None:
    """`invoke models`: id, artifact, when and where deployed, validation accuracy, where it serves."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="models (newest first)")
    for column in ("model id", "artifact", "deployed", "validation accuracy", "serves on"):
        table.add_column(column, overflow="fold")
    for row in model_history.rows():
        accuracy = row.get("validation_accuracy")
        deployed = (f"{row['deployed_at']} ({row['target']})" if row.get("deployed_at")
                    else "trained, not deployed")
        table.add_row(row["model_id"], str(row.get("model_data_url") or ""), deployed,
                      f"{accuracy:.1%}" if isinstance(accuracy, (int, float)) else "",
                      ", ".join(row["serves"]))
    Console().print(table)
