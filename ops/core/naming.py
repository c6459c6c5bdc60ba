"""The project's names on AWS, written once: the stack name, the bucket's name rule, the key prefix and
the project tag.

Terraform keeps its own copies as variables (terraform/variables.tf `name` and `bucket_prefix`, the bucket
rule in terraform/main.tf, the default tags in terraform/providers.tf); tests/ops/test_naming.py checks
that they agree with these.
"""
from __future__ import annotations

NAME = "dog-breeds"
PREFIX = "dogs/"
PROJECT_TAG_KEY = "Project"


def bucket_name(account: str, region: str, name: str = NAME) -> str:
    """The bucket used when none is configured: <name>-<account id>-<region>."""
    return f"{name}-{account}-{region}"


def project_tags(name: str = NAME) -> dict[str, str]:
    """The tag every resource and job of ours carries."""
    return {PROJECT_TAG_KEY: name}
