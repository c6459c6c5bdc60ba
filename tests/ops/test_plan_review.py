"""Plan summaries of plans Terraform really made against the local AWS: creation, no changes,
a model update, a destroy, and a plan that fails. The Markdown is parsed, not string-matched whole."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from ops.ci import plan_summary
from ops.deploy import stack as deploy, plan_review, served_model
from ops.emulator import local_aws
from tests.fixtures.terraform_stack import write_artifact

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse(markdown: str) -> dict:
    """The summary's parts: headline counts, its sections, and the resources listed in each."""
    counts = re.search(r"Plan: (\d+) to add, (\d+) to change, (\d+) to replace, (\d+) to destroy",
                       markdown)
    sections = {}
    for block in re.split(r"^### ", markdown, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        sections[heading.strip()] = body
    return {
        "marker": markdown.startswith(plan_summary.MARKER),
        "counts": dict(zip(("add", "change", "replace", "destroy"), map(int, counts.groups())))
        if counts else None,
        "sections": sections,
        "no_changes": "**No changes.**" in markdown,
        "failed": "**The plan failed.**" in markdown,
        "details": "<details><summary>Full plan</summary>" in markdown,
    }


def listed(section: str, action: str | None = None) -> set[str]:
    """Resource addresses in a section (`- `addr`` bullets, or `**action** `addr`` lines)."""
    pattern = rf"\*\*{action}\*\* `([^`]+)`" if action else r"^- `([^`]+)`"
    return set(re.findall(pattern, section, flags=re.M))


def rows(section: str, address: str) -> dict[str, tuple[str, str]]:
    """The attribute table under one resource: {path: (before, after)}."""
    start = section.index(f"`{address}`")
    table = {}
    for line in section[start:].splitlines()[1:]:
        if line.startswith("**"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 3 and cells[0] not in ("attribute", "---"):
            table[cells[0].replace(" (forces replacement)", "")] = (cells[1], cells[2])
    return table


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """One stack, its own local AWS and work folder: four real plans and a failing one."""
    home = tmp_path_factory.mktemp("plan-review-home")
    saved = os.environ.get("DOGS_HOME")
    os.environ["DOGS_HOME"] = str(home)
    quiet = lambda _: None  # noqa: E731
    settings = deploy.Settings(target="local", region=local_aws.REGION, endpoint_type="realtime")
    out = {}
    try:
        local_aws.up()
        write_artifact(home / "run-1", "run-1", b"first")
        md = home / "create.md"
        out["create_changes"] = plan_review.plan(settings, served_model.find_model(), md, echo=quiet)
        out["create"] = md.read_text()
        deploy.deploy(settings, served_model.find_model(), echo=quiet)

        md = home / "same.md"
        result = subprocess.run(
            [sys.executable, "-m", "invoke", "plan", "--target", "local", "--endpoint-type", "realtime",
             "--summary", str(md)],
            cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=600)
        out["same_cli"] = result
        out["same"] = md.read_text() if md.exists() else ""

        write_artifact(home / "run-2", "run-2", b"second")
        md = home / "update.md"
        out["update_changes"] = plan_review.plan(settings, served_model.find_model(), md, echo=quiet)
        out["update"] = md.read_text()

        md = home / "destroy.md"
        plan_review.plan(settings, None, md, destroy=True, echo=quiet)
        out["destroy"] = md.read_text()
        out["state"] = [r for r in deploy.tf.state_list("local") if ".data." not in r
                        and not r.startswith("data.")]

        md = home / "failed.md"
        bad_vars = home / "bad.tfvars"
        bad_vars.write_text("serverless = { memory_size_in_mb = 1000 }\n")
        bad = deploy.Settings(target="local", region=local_aws.REGION, endpoint_type="serverless",
                              var_file=bad_vars)
        with pytest.raises(deploy.tf.TerraformError) as err:
            plan_review.plan(bad, served_model.find_model(), md, echo=quiet)
        out["failed_error"] = str(err.value)
        out["failed"] = md.read_text()
        deploy.destroy(settings, keep_bucket=False, auto_approve=True, echo=quiet)
    finally:
        local_aws.down()
        if saved is None:
            os.environ.pop("DOGS_HOME", None)
        else:
            os.environ["DOGS_HOME"] = saved
    return out


def test_creation_lists_every_new_resource_and_masks_the_api_key(plans):
    summary = parse(plans["create"])
    assert plans["create_changes"] and summary["marker"] and summary["details"]
    counts = summary["counts"]
    assert counts["add"] > 10 and counts["change"] == counts["replace"] == counts["destroy"] == 0
    created = listed(summary["sections"]["Created"])
    assert len(created) == counts["add"]
    assert {"module.endpoint.aws_sagemaker_endpoint.this",
            "module.api.aws_api_gateway_rest_api.this"} <= created
    assert ":warning: Replaced or destroyed" not in summary["sections"]
    outputs = summary["sections"]["Outputs"]
    assert re.search(r"\| api_key_value \| `null` \| `\(sensitive\)` \|", outputs) or \
        re.search(r"\| api_key_value \| `null` \| `\(known after apply\)` \|", outputs)


def test_no_changes_from_the_cli(plans):
    assert plans["same_cli"].returncode == 0, plans["same_cli"].stderr
    summary = parse(plans["same"])
    assert summary["no_changes"] and summary["counts"] is None and summary["marker"]


def test_model_update_replaces_model_and_config_and_updates_the_endpoint(plans):
    summary = parse(plans["update"])
    assert plans["update_changes"]
    counts = summary["counts"]
    assert counts["replace"] == 2 and counts["destroy"] == 0
    replaced = listed(summary["sections"][":warning: Replaced or destroyed"], "replace")
    assert replaced == {"module.endpoint.aws_sagemaker_model.this",
                        "module.endpoint.aws_sagemaker_endpoint_configuration.this"}
    updates = summary["sections"]["Updated in place"]
    assert "module.endpoint.aws_sagemaker_endpoint.this" in listed(updates, "update")
    endpoint_rows = rows(updates, "module.endpoint.aws_sagemaker_endpoint.this")
    before, after = endpoint_rows["endpoint_config_name"]
    assert before != after and after.startswith('`"dog-breeds-')  # the new config, by name
    model_rows = rows(summary["sections"][":warning: Replaced or destroyed"],
                      "module.endpoint.aws_sagemaker_model.this")
    assert "run-1" in model_rows["primary_container[0].model_data_url"][0]
    assert "run-2" in model_rows["primary_container[0].model_data_url"][1]


def test_destroy_calls_out_every_resource_first(plans):
    summary = parse(plans["destroy"])
    counts = summary["counts"]
    assert counts["destroy"] == len(plans["state"]) and counts["add"] == 0
    destroyed = listed(summary["sections"][":warning: Replaced or destroyed"], "destroy")
    assert destroyed == set(plans["state"])
    assert plans["destroy"].index("Replaced or destroyed") < plans["destroy"].index("Full plan")


def test_failed_plan_still_gets_a_summary_with_the_error(plans):
    summary = parse(plans["failed"])
    assert summary["failed"] and summary["counts"] is None
    assert "memory_size_in_mb" in plans["failed_error"]
    assert "memory_size_in_mb must be one of" in plans["failed"]
