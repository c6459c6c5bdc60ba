"""Shared test set-up. Fixtures live one module per concern in tests/fixtures/, loaded here as plugins.

The quick tier (`python -m pytest -m quick`, README): every test not marked slow that starts no local
AWS (moto), browser or SageMaker container and is no benchmark or evaluation run — pure functions, the
Lambda, the parsers, Terraform validate. A test joins it or leaves it by what it uses, with no mark of
its own.
"""
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

pytest_plugins = sorted(f"tests.fixtures.{p.stem}" for p in FIXTURES.glob("*.py")
                        if not p.stem.startswith("_"))

NOT_QUICK_FIXTURES = {"moto_server", "mocked_aws", "local_stack_home", "served_stack", "browser", "eval_set"}
NOT_QUICK_PATHS = ("tests/benchmarks/", "tests/ops/evaluate/", "tests/ops/test_container_")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if ("slow" in item.keywords or item.nodeid.startswith(NOT_QUICK_PATHS)
                or NOT_QUICK_FIXTURES & set(item.fixturenames)):
            continue
        item.add_marker(pytest.mark.quick)
