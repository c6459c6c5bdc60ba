"""Load and validate the project configuration (`config.yaml`).

Every problem is a `ConfigError` whose message is one line naming the file, the key and what is allowed.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ops.core import naming
from training import hyperparameters as hp
from training.errors import UserError

# The folder holding the packages (ops, training, predict_lambda, tasks): a checkout, or site-packages.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The project's own files that the code reads (terraform/, the default config.yaml): the checkout's, or
# the copies an installed wheel carries in ops/share (pyproject.toml's package data).
FILES = PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").is_file() else Path(__file__).resolve().parents[1] / "share"
DEFAULT_CONFIG = FILES / "config.yaml"
PROJECT_ENV = "DOGS_PROJECT"


def project_root() -> Path:
    """The user's project folder: $DOGS_PROJECT, else the nearest folder from the working folder up that
    holds a config.yaml or a .dogs/ folder, else the working folder. Its .dogs/ holds the state."""
    if os.environ.get(PROJECT_ENV):
        return Path(os.environ[PROJECT_ENV]).resolve()
    here = Path.cwd().resolve()
    return next((folder for folder in (here, *here.parents)
                 if (folder / "config.yaml").is_file() or (folder / ".dogs").is_dir()), here)


def project_config() -> Path:
    """The project's config.yaml, else the default the package carries."""
    path = project_root() / "config.yaml"
    return path if path.is_file() else DEFAULT_CONFIG

SECTIONS = ("hyperparameters", "local", "aws")

_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_BUCKET = re.compile(r"^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_INSTANCE = re.compile(r"^ml\.[a-z0-9]+\.[0-9]*x?large$|^local(_gpu)?$")
_ROLE_ARN = re.compile(r"^$|^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")

# key: (type, check, allowed text)
AWS_KEYS: dict[str, tuple[type, Any, str]] = {
    "region": (str, _REGION.match, "an AWS region name such as us-east-1"),
    "bucket": (str, _BUCKET.match, "an S3 bucket name (3-63 of a-z 0-9 . -), or empty"),
    "prefix": (str, lambda v: v.endswith("/") and not v.startswith("/"),
               "a key prefix ending in '/', not starting with '/', e.g. dogs/"),
    "instance_type": (str, _INSTANCE.match, "a SageMaker instance type such as ml.p2.xlarge"),
    "instance_count": (int, lambda v: 1 <= v <= 100, "an integer from 1 to 100"),
    "volume_size": (int, lambda v: 1 <= v <= 16384, "GB, an integer from 1 to 16384"),
    # SageMaker training jobs (issue 3); optional, defaults in AWS_DEFAULTS
    "role_arn": (str, _ROLE_ARN.match,
                 "a SageMaker execution role ARN (arn:aws:iam::<account>:role/<name>), or empty"),
    "spot": (bool, lambda v: True, "true or false"),
    "max_runtime_hours": ((int, float), lambda v: 0 < v <= 672, "hours, a number in (0, 672]"),
    "max_wait_hours": ((int, float), lambda v: 0 < v <= 672, "hours, a number in (0, 672]"),
    "pytorch_version": (str, _VERSION.match,
                        "a PyTorch version with SageMaker training and inference images, e.g. 2.5.1"),
    "tags": (dict, lambda v: all(isinstance(k, str) and isinstance(x, str) and 0 < len(k) <= 128
                                 and len(x) <= 256 for k, x in v.items()),
             "a mapping of tag names to string values"),
}
# Keys that may be left out of config.yaml, with the value they then take.
AWS_DEFAULTS: dict[str, Any] = {
    "role_arn": "", "spot": True, "max_runtime_hours": 4, "max_wait_hours": 8,
    "pytorch_version": "2.5.1", "tags": {}, "prefix": naming.PREFIX,
}


class ConfigError(UserError, ValueError):
    """The configuration file is missing, malformed or has a bad value."""


@dataclass
class Config:
    hyperparameters: dict[str, Any]
    local: dict[str, Any]
    aws: dict[str, Any]
    path: Path = field(default=DEFAULT_CONFIG)

    def training_hyperparameters(self, target: str) -> dict[str, Any]:
        """The hyperparameters for a target: `local` applies the local overrides."""
        values = dict(self.hyperparameters)
        if target == "local":
            values.update(self.local)
        return values


def load(path: str | Path | None = None) -> Config:
    path = Path(path) if path else project_config()
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    return parse(raw or {}, path)


def parse(raw: Mapping[str, Any], path: Path = DEFAULT_CONFIG) -> Config:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: must be a mapping of sections {', '.join(SECTIONS)}")
    for section in raw:
        if section not in SECTIONS:
            raise ConfigError(f"{path}: {section}: unknown section; allowed: {', '.join(SECTIONS)}")
    try:
        hyper = hp.validate(_section(raw, "hyperparameters", path))
        local = hp.validate(_section(raw, "local", path), fill_defaults=False)
    except hp.HyperparameterError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    aws = _validate_aws(_section(raw, "aws", path), path)
    return Config(hyperparameters=hyper, local=local, aws=aws, path=path)


def _section(raw: Mapping[str, Any], name: str, path: Path) -> Mapping[str, Any]:
    value = raw.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: {name}: must be a mapping of keys to values")
    return value


def _validate_aws(values: Mapping[str, Any], path: Path) -> dict[str, Any]:
    result = validate_aws_values(values, str(path))
    missing = [k for k in AWS_KEYS if k not in result and k not in AWS_DEFAULTS]
    if missing:
        raise ConfigError(f"{path}: aws: missing {', '.join(missing)}")
    return {**AWS_DEFAULTS, **result}


def validate_aws_values(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Check some `aws` keys (from the file, or overrides from flags); `source` prefixes errors."""
    result = {}
    for key, value in values.items():
        if key not in AWS_KEYS:
            raise ConfigError(f"{source}: aws.{key}: unknown key; known: {', '.join(AWS_KEYS)}")
        kind, check, allowed = AWS_KEYS[key]
        if (not isinstance(value, kind) or isinstance(value, bool) != (kind is bool)
                or not check(value)):
            raise ConfigError(f"{source}: aws.{key}: {value!r} is not allowed; allowed: {allowed}")
        result[key] = value
    runtime = result.get("max_runtime_hours", AWS_DEFAULTS["max_runtime_hours"])
    wait = result.get("max_wait_hours", AWS_DEFAULTS["max_wait_hours"])
    if ("max_runtime_hours" in result or "max_wait_hours" in result) and wait < runtime:
        raise ConfigError(f"{source}: aws.max_wait_hours: {wait!r} is less than max_runtime_hours "
                          f"({runtime!r}); a spot job may wait at most that long in total")
    return result
