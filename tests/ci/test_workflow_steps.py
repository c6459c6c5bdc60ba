"""The workflow's own `run:` steps, in order, in a fresh clone with the environment the workflow gives
them (no .dogs/, no photos), against the local AWS standing in for the account.

What the runner's actions would do is done here the same way: `actions/checkout` is `git clone`,
`./scripts/setup` links the shared .venv (it would install the same requirements), and
`configure-aws-credentials` is the local AWS's credentials and endpoint in the environment
(AWS_ENDPOINT_URL + AWS_CA_BUNDLE: ops.emulator.local_aws.stand_in()). The pull-request comment step is left
out (it talks to GitHub); the test checks its condition, plan.md, instead.

The story: a pull request names model A in deploy/model.json; its plan is saved; after the merge the
apply job applies exactly that plan. Then one names B, is planned, but another apply moves the state
before the merge: the apply job refuses the stale plan. A tree nobody planned is refused too.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ops.emulator import local_aws
from tests.fixtures.artifact import recorded_artifact
from tests.fixtures.terraform_stack import create_state_backend, remove_bucket

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "terraform.yml"
STATE_BUCKET, LOCK_TABLE, ARTIFACTS = "dogs-ci-state", "dogs-ci-locks", "dogs-ci-artifacts"
VARS = {"AWS_REGION": "us-east-1", "TF_STATE_BUCKET": STATE_BUCKET, "TF_STATE_LOCK_TABLE": LOCK_TABLE,
        "AWS_PLAN_ROLE_ARN": "arn:aws:iam::123456789012:role/plan",
        "AWS_APPLY_ROLE_ARN": "arn:aws:iam::123456789012:role/apply"}
LEFT_OUT = ("invoke pr-comment",)  # talks to GitHub


def expand(text: str, env: dict) -> str:
    """${{ vars.X }}, ${{ secrets.X }}, ${{ env.X }} as GitHub expands them."""
    def value(match):
        context, name = match.groups()
        return {"vars": VARS, "secrets": {"GITHUB_TOKEN": "not-used"}, "env": env}[context].get(name, "")
    return re.sub(r"\$\{\{\s*(vars|secrets|env)\.(\w+)\s*\}\}", value, str(text))


class Runner:
    """Runs one job's `run:` steps in the clone as a GitHub runner would (bash -e, the job's env)."""

    def __init__(self, clone: Path, running: local_aws.LocalAws):
        self.clone, self.running = clone, running
        self.workflow = yaml.safe_load(WORKFLOW.read_text())

    def environment(self, job: str, step: dict) -> dict:
        keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "DOGS_TF_PLUGIN_DIR", "TMPDIR")
                if k in os.environ}
        env = dict(keep)
        for scope in (self.workflow.get("env", {}), self.workflow["jobs"][job].get("env", {}),
                      step.get("env", {})):
            env.update({k: expand(v, env) for k, v in scope.items()})
        # what aws-actions/configure-aws-credentials exports, the local AWS standing in for the account
        env.update(local_aws.client_env(self.running), AWS_REGION=VARS["AWS_REGION"],
                   AWS_DEFAULT_REGION=VARS["AWS_REGION"], CI="true", GITHUB_ACTIONS="true")
        return env

    def run_job(self, job: str) -> list[subprocess.CompletedProcess]:
        """A job starts on a fresh runner: nothing of an earlier job's .dogs/ is left."""
        shutil.rmtree(self.clone / ".dogs", ignore_errors=True)
        (self.clone / "plan.md").unlink(missing_ok=True)
        done = []
        for step in self.workflow["jobs"][job]["steps"]:
            command = step.get("run")
            if command is None or command == "./scripts/setup" or any(x in command for x in LEFT_OUT):
                continue
            env = self.environment(job, step)
            result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                                     expand(command, env)], cwd=self.clone, env=env, text=True,
                                    capture_output=True, timeout=900)
            done.append(result)
            if result.returncode != 0:
                break  # a failed step ends the job
        return done


def commit_release(clone: Path, model_id: str) -> None:
    (clone / "deploy" / "model.json").write_text(json.dumps(
        {"model_data": f"s3://{ARTIFACTS}/{model_id}/model.tar.gz", "model_id": model_id}, indent=2) + "\n")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam",
                    f"serve {model_id}"], cwd=clone, check=True)


@pytest.fixture(scope="module")
def story(local_stack_home, aws, tmp_path_factory):
    running = local_aws.require()
    create_state_backend(aws, STATE_BUCKET, LOCK_TABLE)
    aws("s3").create_bucket(Bucket=ARTIFACTS)
    for model_id in ("model-a", "model-b"):
        aws("s3").put_object(Bucket=ARTIFACTS, Key=f"{model_id}/model.tar.gz", Body=recorded_artifact(model_id, weights=model_id.encode()))
    clone = tmp_path_factory.mktemp("runner") / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    assert not (clone / ".dogs").exists()
    (clone / ".venv").symlink_to(os.path.realpath(REPO / ".venv"))  # ./scripts/setup
    runner = Runner(clone, running)
    runs = {}
    try:
        commit_release(clone, "model-a")
        runs["plan_a"] = runner.run_job("plan")
        runs["plan_md"] = (clone / "plan.md").read_text() if (clone / "plan.md").exists() else ""
        runs["saved_a"] = _plans(aws)
        runs["apply_a"] = runner.run_job("apply")
        runs["after_a"] = _served(aws)
        runs["saved_after_apply"] = _plans(aws)

        commit_release(clone, "model-b")
        runs["plan_b"] = runner.run_job("plan")
        _move_state(runner)  # another apply before the merge
        runs["apply_b"] = runner.run_job("apply")
        runs["after_b"] = _served(aws)

        commit_release(clone, "model-a")  # a tree nobody planned
        (clone / "deploy" / "model.json").write_text((clone / "deploy" / "model.json").read_text() + "\n")
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam",
                        "unplanned"], cwd=clone, check=True)
        runs["apply_unplanned"] = runner.run_job("apply")
    finally:
        env = runner.environment("apply", {})
        for cleanup in (["plan", "--target", "aws", "--release", "deploy/model.json"],  # the variables
                        ["destroy", "--target", "aws", "--auto-approve", "--include-bucket"]):
            subprocess.run([".venv/bin/invoke", *cleanup], cwd=clone, env=env, capture_output=True, text=True)
        for bucket in (STATE_BUCKET, ARTIFACTS):
            remove_bucket(aws, bucket)
        aws("dynamodb").delete_table(TableName=LOCK_TABLE)
        runs["left"] = {"buckets": aws("s3").list_buckets()["Buckets"],
                        "endpoints": aws("sagemaker").list_endpoints()["Endpoints"]}
    return runs


def _plans(aws) -> list[str]:
    listed = aws("s3").list_objects_v2(Bucket=STATE_BUCKET, Prefix="plans/")
    return [o["Key"] for o in listed.get("Contents", [])]


def _served(aws) -> dict:
    conf = aws("lambda").get_function_configuration(FunctionName="dog-breeds-predict")
    endpoint = aws("sagemaker").describe_endpoint(EndpointName="dog-breeds")
    return {"model_id": conf["Environment"]["Variables"]["MODEL_ID"],
            "endpoint_config": endpoint["EndpointConfigName"]}


def _move_state(runner: Runner) -> None:
    """Someone applies by hand: the training role's policy is replaced, the state's serial moves."""
    work = runner.clone / ".dogs" / "terraform" / "aws"
    env = runner.environment("apply", {})
    subprocess.run(["terraform", "apply", "-auto-approve", "-input=false", "-no-color",
                    "-target=module.training.aws_iam_role_policy.this",
                    "-replace=module.training.aws_iam_role_policy.this"],
                   cwd=work, env=env, check=True, capture_output=True, text=True)


def _output(results) -> str:
    return "\n".join(r.stdout + r.stderr for r in results)


def test_the_pull_request_plan_runs_from_a_fresh_clone_and_is_saved(story):
    assert story["plan_a"] and all(r.returncode == 0 for r in story["plan_a"]), _output(story["plan_a"])
    assert "changes pending" in _output(story["plan_a"])
    assert story["plan_md"]  # the comment step's condition: hashFiles('plan.md') != ''
    assert len(story["saved_a"]) == 1 and story["saved_a"][0].startswith("plans/")


def test_the_main_job_applies_exactly_the_reviewed_plan(story):
    assert all(r.returncode == 0 for r in story["apply_a"]), _output(story["apply_a"])
    assert "applying the reviewed plan s3://dogs-ci-state/" + story["saved_a"][0] in _output(story["apply_a"])
    assert story["after_a"]["model_id"] == "model-a"
    assert story["saved_after_apply"] == []  # applied once


def test_a_plan_made_stale_by_another_apply_is_refused(story):
    assert all(r.returncode == 0 for r in story["plan_b"]), _output(story["plan_b"])
    [refused] = story["apply_b"]
    assert refused.returncode != 0
    assert "the reviewed plan is stale" in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr
    assert story["after_b"] == story["after_a"]  # still model A: nothing applied


def test_a_tree_nobody_planned_is_refused(story):
    [refused] = story["apply_unplanned"]
    assert refused.returncode != 0
    assert "no reviewed plan for this tree" in refused.stderr + refused.stdout


def test_the_stack_is_destroyed_afterwards(story):
    assert story["left"] == {"buckets": [], "endpoints": []}
