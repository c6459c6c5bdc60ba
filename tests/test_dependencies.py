"""pyproject.toml's dependencies by role and requirements.txt's pins agree: every declared requirement is
pinned at a version its range allows, and the pins are what this environment runs (the lock is current)."""
from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def pins() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    entries = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    assert all(len(e) == 2 for e in entries), "requirements.txt holds only name==version lines"
    return {canonicalize_name(name): version for name, version in entries}


def declared() -> list[tuple[str, Requirement]]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return [(role, Requirement(r)) for role, reqs in extras.items() if role != "all" for r in reqs]


@pytest.mark.parametrize("role", ["serving", "training", "operator", "dev"])
def test_every_role_is_declared(role):
    assert any(r == role for r, _ in declared())


def test_every_declared_requirement_is_pinned_within_its_range():
    locked = pins()
    for role, requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} ({role}) is not in requirements.txt: run scripts/lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (role, requirement,
                                                                                 locked[name])


def test_the_pins_are_what_this_environment_runs():
    stale = {name: (version, metadata.version(name)) for name, version in pins().items()
             if metadata.version(name) != version}
    assert not stale, f"requirements.txt differs from the environment (pinned, installed): {stale}"
