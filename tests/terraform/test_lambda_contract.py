"""Terraform and the Lambda agree without a deployment: the handler's defaults are the stack's, and every
content type API Gateway hands over as binary is one the handler accepts (no 415 for a listed type)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VARIABLES = (REPO / "terraform" / "variables.tf").read_text()


@pytest.fixture
def lambda_module():
    """The handler's modules by name, imported as the Lambda runtime imports them from the zip."""
    import importlib

    return lambda name: importlib.import_module(f"predict_lambda.{name}")


def variable_block(name: str) -> str:
    start = VARIABLES.index(f'variable "{name}" {{')
    return VARIABLES[start:VARIABLES.index("\n}\n", start)]


def optional_default(variable: str, field: str) -> str:
    return re.search(rf"\b{field}\s*=\s*optional\(\w+,\s*([^)]+)\)", variable_block(variable)).group(1)


@pytest.mark.parametrize("field, setting", [
    ("max_images", "max_images"), ("endpoint_timeout_seconds", "endpoint_timeout_seconds"),
    ("default_top_k", "default_top_k"),
])
def test_the_lambdas_defaults_are_terraforms(lambda_module, field, setting):
    defaults = lambda_module("settings").Settings
    assert float(optional_default("limits", field)) == float(getattr(defaults, setting))


def test_the_lambdas_default_body_limit_is_the_default_endpoints(lambda_module):
    """limits.max_body_bytes null: 5 MiB real-time, 4 MiB serverless (the default endpoint_type)."""
    main = (REPO / "terraform" / "main.tf").read_text()
    serverless = re.search(r"local\.realtime \? (\d+) : (\d+)", main).group(2)
    assert '"serverless"' in variable_block("endpoint_type").split("default")[1].splitlines()[0]
    assert lambda_module("settings").DEFAULT_MAX_BODY_BYTES == int(serverless)


def test_every_binary_media_type_is_accepted_by_the_lambda(lambda_module):
    listed = re.findall(r'"([^"]+)"', variable_block("binary_media_types").split("default")[1].splitlines()[0])
    accepted = lambda_module("payload").IMAGE_TYPES
    assert listed and set(listed) <= accepted, set(listed) - accepted
    assert "application/x-image" in listed  # the type the API documents for raw images


def test_the_lambda_asks_each_algorithms_image_for_what_it_answers(lambda_module):
    """ENDPOINT_ACCEPT: the verbose answer only from this project's inference.py."""
    main = (REPO / "terraform" / "main.tf").read_text()
    expression = re.search(r"ENDPOINT_ACCEPT\s*=\s*(.+)", main).group(1)
    builtin, pytorch = re.findall(r'"([^"]+)"', expression.split("==", 1)[1])[1:]
    assert (builtin, pytorch) == ("application/json", lambda_module("settings").VERBOSE_ACCEPT)
    assert lambda_module("settings").Settings.endpoint_accept == pytorch


def test_the_verbose_accept_is_one_string_on_both_sides_of_the_wire(lambda_module):
    """The Lambda's Accept, the operator's (evaluate --via endpoint) and what inference.py answers verbosely."""
    from ops.core.artifact import VERBOSE_JSON
    from training import inference

    accept = lambda_module("settings").VERBOSE_ACCEPT
    assert accept == VERBOSE_JSON
    assert inference.verbose(accept) and not inference.verbose("application/json")
