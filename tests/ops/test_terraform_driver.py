"""ops/deploy/terraform.py: working directories per target, the local override, the mirror, error lines."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ops.deploy import terraform as tf

REPO = Path(__file__).resolve().parents[2]

VALIDATION_OUTPUT = """
Error: Invalid value for variable

  on terraform.tfvars.json line 2:
   2:   "model_data_url": "http://x",
    ├────────────────
    │ var.model_data_url is "http://x"

model_data_url must be an S3 URL of a model archive, s3://<bucket>/<key>/model.tar.gz.

This was checked by the validation rule at variables.tf:61,3-13.
"""


def test_diagnostics_make_one_line_naming_the_variable():
    boxed = "\n".join(("│ " + ln if ln else "│") for ln in VALIDATION_OUTPUT.strip().splitlines())
    line = tf.diagnostics("╷\n" + boxed + "\n╵\n")
    assert line == ("Invalid value for variable (var.model_data_url): model_data_url must be an S3 URL "
                    "of a model archive, s3://<bucket>/<key>/model.tar.gz.")


def test_targets_have_separate_working_directories(tmp_path, use_home):
    use_home(tmp_path)
    local, aws = tf.sync_module("local"), tf.sync_module("aws")
    assert local != aws and local.parent == aws.parent == tmp_path / "terraform"
    assert (local / "main.tf").read_text() == (REPO / "terraform" / "main.tf").read_text()
    assert (local / "modules" / "endpoint" / "main.tf").is_file()


def test_sync_keeps_state_and_drops_removed_files(tmp_path, use_home):
    use_home(tmp_path)
    work = tf.sync_module("local")
    (work / "terraform.tfstate").write_text("{}")
    (work / "stale.tf").write_text("# removed upstream")
    tf.sync_module("local")
    assert (work / "terraform.tfstate").read_text() == "{}"
    assert not (work / "stale.tf").exists()


def test_unknown_target_is_rejected():
    with pytest.raises(tf.TerraformError, match="target 'prod': must be one of local, aws"):
        tf.workdir("prod")


def test_local_override_points_every_service_at_the_local_aws(tmp_path):
    path = tf.render_local_override(tmp_path, "https://127.0.0.1:4567", "us-east-1", "/x/cert.pem")
    text = path.read_text()
    for service in tf.LOCAL_SERVICES:
        assert f'{service} ' in text and text.count('= "https://127.0.0.1:4567"') == len(tf.LOCAL_SERVICES)
    for setting in ("skip_credentials_validation = true", "s3_use_path_style           = true",
                    'custom_ca_bundle = "/x/cert.pem"'):
        assert setting in text
    result = subprocess.run(["terraform", "fmt", "-check", "-"], input=text, text=True,
                            capture_output=True)
    assert result.returncode == 0, "the rendered override is not fmt-clean"


def test_plugin_dir_from_environment_and_missing_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(tf.PLUGIN_DIR_ENV, str(tmp_path))
    assert tf.plugin_dir() == tmp_path
    monkeypatch.setenv(tf.PLUGIN_DIR_ENV, str(tmp_path / "nope"))
    with pytest.raises(tf.TerraformError, match="no such folder"):
        tf.plugin_dir()


def test_deploy_without_a_trained_model_exits_2_with_one_line(tmp_path):
    env = {"DOGS_HOME": str(tmp_path), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    result = subprocess.run([sys.executable, "-m", "invoke", "deploy"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: no trained model: run `invoke train` first, or pass --model-data s3://.../model.tar.gz"]


def test_a_cli_config_variable_naming_a_missing_file_is_dropped(tmp_path):
    from ops.deploy.terraform import has_cli_config_file

    existing = tmp_path / "terraformrc"
    existing.write_text("")
    assert has_cli_config_file({}) is True
    assert has_cli_config_file({"TF_CLI_CONFIG_FILE": str(existing)}) is True
    assert has_cli_config_file({"TF_CLI_CONFIG_FILE": str(tmp_path / "missing")}) is False
