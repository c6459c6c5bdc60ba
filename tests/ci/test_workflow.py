"""The pull-request workflow is valid, pinned, and only wires invoke tasks that exist."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "terraform.yml"
CHECK = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]


def steps():
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return [(name, step) for name, job in jobs.items() for step in job["steps"]]


def test_workflow_matches_the_github_workflow_schema():
    result = subprocess.run([*CHECK, str(WORKFLOW)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "run-on:"))
    result = subprocess.run([*CHECK, str(broken)], capture_output=True, text=True)
    assert result.returncode != 0


def test_every_action_is_pinned_to_a_commit():
    uses = [step["uses"] for _, step in steps() if "uses" in step]
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref


def test_run_steps_only_call_the_setup_script_or_invoke_tasks():
    runs = [step["run"].strip() for _, step in steps() if "run" in step]
    for command in runs:
        assert "\n" not in command, f"multi-line logic in YAML: {command}"
        assert (command == "./scripts/setup" or command.startswith(".venv/bin/invoke ")
                or command.startswith(".venv/bin/python -m pytest")), command


def test_invoked_tasks_exist():
    listed = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    names = {line.split()[0] for line in listed.splitlines()[2:] if line.strip()}
    for _, step in steps():
        match = re.match(r"\.venv/bin/invoke ([\w.-]+)", step.get("run", ""))
        if match:
            assert match.group(1) in names, f"workflow calls unknown task {match.group(1)}"


def test_apply_waits_for_approval_and_plan_uses_oidc():
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    assert jobs["apply"]["environment"] == "production"
    assert "refs/heads/main" in jobs["apply"]["if"]
    for job in ("plan", "apply"):
        assert jobs[job]["permissions"]["id-token"] == "write"
        creds = [s for s in jobs[job]["steps"] if "configure-aws-credentials" in s.get("uses", "")]
        assert creds and "role-to-assume" in creds[0]["with"]
        assert "aws-access-key-id" not in creds[0]["with"]
    assert jobs["plan"]["permissions"]["pull-requests"] == "write"


@pytest.mark.parametrize("job", ["plan", "apply"])
def test_deploying_jobs_need_the_tests(job):
    assert yaml.safe_load(WORKFLOW.read_text())["jobs"][job]["needs"] == "test"
