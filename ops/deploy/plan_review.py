"""`invoke plan --summary FILE.md`: plan, then write the reviewer's Markdown summary of that plan.

A plan that fails still gets a summary (saying so, with Terraform's error), so a pull request shows
why; the error is raised after the file is written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ops.ci import plan_summary
from ops.deploy import stack as deploy, hosting_cost, reviewed_plan, served_model
from ops.deploy import terraform as tf
from training.errors import UserError
from training.files import write_text_atomic

PLAN_FILE = "review.tfplan"


def plan(s: deploy.Settings, model: served_model.Model | None, summary_path: str | Path | None = None,
         *, destroy: bool = False, save: bool = False, echo: Callable[[str], None] = print) -> bool:
    """Plan (a destroy plan with `destroy`) and, with `summary_path`, write the summary there; with
    `save`, keep the saved plan beside the remote state for `invoke apply-plan` (ops/deploy/reviewed_plan.py).

    Returns whether changes are pending."""
    title = f"Terraform plan: {s.target}{' (destroy)' if destroy else ''}"
    try:
        if save:
            reviewed_plan.tree_key()  # refuse a dirty tree before planning
        values = deploy.prepare(s, None if destroy else model, echo)
        if s.target == "aws":
            echo(hosting_cost.stops_billing(values, keep_bucket=True) if destroy
                 else deploy.cost_note(s, values))
        changes, _ = tf.plan(s.target, var_files=deploy.var_files(s.target), destroy=destroy,
                             out=PLAN_FILE, echo=summary_path is None)
        if save:
            reviewed_plan.save(s, tf.workdir(s.target) / PLAN_FILE, echo)
        if summary_path is None:
            return changes
        plan_json = tf.show(s.target, PLAN_FILE, as_json=True)
        plan_text = tf.show(s.target, PLAN_FILE)
    except UserError as exc:
        if summary_path is not None:
            write_text_atomic(Path(summary_path), plan_summary.render_markdown(
                None, title=title, error=str(exc)))
        raise
    markdown = plan_summary.render_plan_file(plan_json, title=title, plan_text=plan_text)
    write_text_atomic(Path(summary_path), markdown)
    echo(f"plan summary written to {summary_path}")
    return changes
