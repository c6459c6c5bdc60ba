"""pyproject.toml's dependencies by role and the hashed locks agree: every declared requirement is pinned
at a version its range allows, every pin carries hashes, the role locks pin what requirements.txt pins,
and the pins are what this environment runs (the lock is current)."""
from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
ROLE_LOCKS = ("operator", "serving", "training")


def entries(path: Path) -> dict[str, tuple[Requirement, list[str]]]:
    """{name: (the pinned requirement with its marker, its hashes)} of a lock written by scripts/lock."""
    found: dict[str, tuple[Requirement, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        text = line.strip().rstrip("\\").strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("--hash=sha256:"):
            current[1].append(text.removeprefix("--hash=sha256:"))
            continue
        requirement = Requirement(text)
        assert len(requirement.specifier) == 1 and str(requirement.specifier).startswith("=="), text
        current = found[canonicalize_name(requirement.name)] = (requirement, [])
    return found


def pins(path: Path = ROOT / "requirements.txt") -> dict[str, str]:
    return {name: str(req.specifier).removeprefix("==") for name, (req, _) in entries(path).items()}


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


@pytest.mark.parametrize("lock", ["requirements.txt", *[f"requirements/{r}.txt" for r in ROLE_LOCKS]])
def test_every_pin_carries_sha256_hashes(lock):
    for name, (_, hashes) in entries(ROOT / lock).items():
        assert hashes and all(len(h) == 64 for h in hashes), f"{lock}: {name} has no sha256 hash"


@pytest.mark.parametrize("role", ROLE_LOCKS)
def test_a_role_lock_holds_its_role_at_the_pins_of_requirements_txt(role):
    everything, locked = pins(), pins(ROOT / "requirements" / f"{role}.txt")
    assert {n: v for n, v in locked.items() if everything.get(n) != v} == {}
    for wanted_role, requirement in declared():
        if wanted_role == role:
            assert canonicalize_name(requirement.name) in locked, (role, requirement)


def test_linux_only_pins_have_markers_so_the_operator_lock_installs_on_macos():
    mac = {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"}
    operator = entries(ROOT / "requirements" / "operator.txt")
    assert not [name for name in operator if name.startswith(("nvidia-", "cuda-", "torch", "triton"))]
    everything = entries(ROOT / "requirements.txt")
    linux_only = [name for name in everything if name.startswith(("nvidia-", "cuda-"))]
    assert linux_only and not any(everything[n][0].marker.evaluate(mac) for n in linux_only)


def test_the_pins_are_what_this_environment_runs():
    here = {name: req for name, (req, _) in entries(ROOT / "requirements.txt").items()
            if req.marker is None or req.marker.evaluate()}
    stale = {name: (str(req.specifier), metadata.version(name)) for name, req in here.items()
             if str(req.specifier) != f"=={metadata.version(name)}"}
    assert not stale, f"requirements.txt differs from the environment (pinned, installed): {stale}"
