"""The release file and the tree key that tie a reviewed plan to what is merged (ops/deploy/reviewed_plan.py)."""
from __future__ import annotations

import json
import subprocess

import pytest

from ops.deploy import reviewed_plan

URL = "s3://dog-breeds-123456789012-us-east-1/dogs/output/job-1/output/model.tar.gz"


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "deploy").mkdir(parents=True)
    (root / "terraform").mkdir()
    (root / "terraform" / "main.tf").write_text("# stack\n")
    (root / "deploy" / "model.json").write_text(json.dumps({"model_data": URL, "model_id": "job-1"}))
    (root / "README.md").write_text("docs\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "one")
    return root


def test_the_shipped_release_file_is_valid():
    model_data, model_id = reviewed_plan.read_release()
    assert model_data.endswith("/model.tar.gz") and model_id


def test_the_release_names_the_artifact_and_its_id(repo):
    assert reviewed_plan.read_release(repo / "deploy" / "model.json") == (URL, "job-1")


@pytest.mark.parametrize("content, words", [
    ('{"model_data": "https://x/model.tar.gz"}', "model_data must be"),
    ('{"model_data": "%s", "model": "x"}' % URL, "unknown keys model"),
    ("{not json", "not JSON"),
], ids=["not-s3", "unknown-key", "not-json"])
def test_a_bad_release_file_is_one_clear_error(tmp_path, content, words):
    path = tmp_path / "model.json"
    path.write_text(content)
    with pytest.raises(reviewed_plan.ReviewedPlanError, match=words):
        reviewed_plan.read_release(path)


def test_the_same_tree_has_the_same_key_in_another_clone(repo, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    assert reviewed_plan.tree_key(clone) == reviewed_plan.tree_key(repo)


def test_a_change_outside_the_plans_inputs_keeps_the_key(repo):
    before = reviewed_plan.tree_key(repo)
    (repo / "README.md").write_text("more docs\n")
    git(repo, "commit", "-qam", "docs")
    assert reviewed_plan.tree_key(repo) == before


def test_a_new_release_changes_the_key(repo):
    before = reviewed_plan.tree_key(repo)
    (repo / "deploy" / "model.json").write_text(json.dumps({"model_data": URL.replace("job-1", "job-2")}))
    git(repo, "commit", "-qam", "release")
    assert reviewed_plan.tree_key(repo) != before


def test_uncommitted_changes_are_refused(repo):
    (repo / "terraform" / "main.tf").write_text("# edited\n")
    with pytest.raises(reviewed_plan.ReviewedPlanError, match="uncommitted changes"):
        reviewed_plan.tree_key(repo)
