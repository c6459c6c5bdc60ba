"""The stack's name, bucket rule, key prefix and project tag: ops/core/naming.py is their one Python home, and
Terraform's own variables (and config.yaml) say the same."""
import os
import re

import pytest
import yaml

from ops.train import aws_training
from ops.core import config, naming
from ops.deploy import stack as deploy
from ops.core.config import PROJECT_ROOT

TERRAFORM = PROJECT_ROOT / "terraform"


def _default(variable: str) -> str:
    text = (TERRAFORM / "variables.tf").read_text()
    block = re.search(r'variable "%s" \{(.*?)\n\}' % variable, text, re.S).group(1)
    return re.search(r'^\s*default\s*=\s*"([^"]*)"', block, re.M).group(1)


def test_terraform_defaults_are_the_python_names():
    assert _default("name") == naming.NAME
    assert _default("bucket_prefix") == naming.PREFIX


def test_terraform_bucket_rule_is_the_python_rule():
    main = (TERRAFORM / "main.tf").read_text()
    rule = re.search(r'bucket_name\s*=\s*coalesce\(var\.bucket_name,\s*"([^"]+)"\)', main).group(1)
    as_python = (rule.replace("${var.name}", "{name}").replace("${var.region}", "{region}")
                 .replace("${data.aws_caller_identity.current.account_id}", "{account}"))
    assert as_python.format(name="N", account="123", region="R") == naming.bucket_name("123", "R", "N")


def test_terraform_default_tags_carry_the_project_tag():
    providers = (TERRAFORM / "providers.tf").read_text()
    tags = re.search(r"default_tags \{\s*tags\s*=\s*merge\(\{([^}]*)\}", providers).group(1)
    assert re.search(r"\b%s\s*=\s*var\.name\b" % naming.PROJECT_TAG_KEY, tags), tags
    assert naming.project_tags() == {naming.PROJECT_TAG_KEY: _default("name")}


def test_config_and_callers_use_the_one_home():
    shipped = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())["aws"]
    assert shipped["prefix"] == naming.PREFIX == config.AWS_DEFAULTS["prefix"]
    assert aws_training.PROJECT_TAG == {"Key": "Project", "Value": naming.NAME}
    assert deploy.NAME == naming.NAME
    sources = "\n".join(p.read_text() for folder in ("ops", "benchmarks", "predict_lambda", "lambda")
                        for p in (PROJECT_ROOT / folder).rglob("*.py") if p.name != "naming.py")
    assert not re.search(r"dog-breeds-\{", sources), "a bucket name built outside ops/core/naming.py"
    assert not re.search(r'/dogs/models|"dogs/', sources), "the key prefix written outside ops/core/naming.py"


def test_the_configured_prefix_reaches_terraform():
    from types import SimpleNamespace

    cfg = config.load()
    cfg.aws["prefix"] = "team-a/dogs/"
    s = deploy.settings(cfg, "aws")
    package = SimpleNamespace(as_tfvar=lambda: {})
    assert deploy.variables(s, None, "image", package)["bucket_prefix"] == "team-a/dogs/"


def test_the_stacks_default_bucket_names_the_account_sts_answers_for(mocked_aws):
    from moto.core import DEFAULT_ACCOUNT_ID

    assert deploy._aws_bucket("eu-west-1") == naming.bucket_name(DEFAULT_ACCOUNT_ID, "eu-west-1")


def test_the_stacks_default_bucket_without_credentials_is_one_clear_error(monkeypatch, tmp_path):
    from ops.core.aws_clients import AwsError

    # Given no credentials anywhere boto3 looks (environment, files, instance metadata)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    with pytest.raises(AwsError, match=r"looking up the AWS account .*no AWS credentials found"):
        deploy._aws_bucket("us-east-1")


def test_the_local_stacks_bucket_names_the_local_accounts_id(moto_server, monkeypatch):
    import certifi
    from moto.core import DEFAULT_ACCOUNT_ID

    from ops.emulator import local_aws

    running = local_aws.LocalAws(moto_server, pid=0, port=0, ca_bundle=certifi.where())  # plain http here
    monkeypatch.setattr(local_aws, "require", lambda: running)

    assert deploy._local_bucket() == naming.bucket_name(DEFAULT_ACCOUNT_ID, local_aws.REGION)
