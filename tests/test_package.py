"""`pip install .` gives a working operator: the wheel carries every file the code reads beside itself, its
console command `dogs` runs the tasks from any folder, and the project (config.yaml, .dogs/) is the
user's folder, not the package's.

The wheel is built from the tracked files alone (as a fresh clone has them) and installed, without its
dependencies, into a fresh venv that sees this environment's packages as a user's installed operator
role would (`pip install --require-hashes -r requirements/operator.txt`).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from ops.core import config

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ops", "training", "predict_lambda", "tasks")


def tracked_files() -> list[str]:
    return subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout.strip("\0").split("\0")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source, dist = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in tracked_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_symlink():
            target.symlink_to((REPO / name).readlink())
        elif (REPO / name).is_file():
            shutil.copy2(REPO / name, target)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", str(source), "-w", str(dist)], check=True,
                   capture_output=True, timeout=300)
    return next(dist.glob("dog_breeds-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel; this environment's site-packages behind it for the dependencies."""
    env = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env)
    site = next((env / "lib").glob("python*/site-packages"))
    (site / "operator-role.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install",
                    "--quiet", "--no-deps", "--disable-pip-version-check", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    return env


def run(env: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    environment = {"PATH": f"{env / 'bin'}:/usr/bin:/bin", "COLUMNS": "200", "HOME": str(cwd)}
    return subprocess.run([str(env / "bin" / argv[0]), *argv[1:]], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300)


def test_the_wheel_carries_every_file_the_code_reads_beside_itself(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = [n for n in tracked_files() if n.startswith(tuple(p + "/" for p in PACKAGES))
            and not n.endswith(".py") and not (REPO / n).is_symlink()]
    assert data and not [n for n in data if n not in names]  # templates, price tables, the try-it page...
    shared = {f"ops/share/{n}" for n in tracked_files()
              if n.startswith("terraform/") and n.endswith((".tf", ".hcl"))
              and not n.startswith("terraform/examples/")}
    assert "ops/share/terraform/main.tf" in shared and not shared - names  # the root and its modules
    assert {"ops/share/config.yaml", "ops/share/.checkov.yaml"} <= names
    assert "dogs = tasks.program:main" in zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))).decode()


def test_dogs_runs_the_tasks_from_another_folder(installed, tmp_path):
    listed = run(installed, tmp_path, "dogs", "--list")
    assert listed.returncode == 0, listed.stderr
    assert {"demo", "train", "deploy", "predict", "lst.render"} <= set(listed.stdout.split())

    checked = run(installed, tmp_path, "dogs", "check-config")
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.startswith(str(installed))  # no config.yaml here: the default the package carries

    assert run(installed, tmp_path, "dogs", "check-config", "--bogus").returncode == 2
    assert run(installed, tmp_path, "dogs", "no-such-task").returncode == 2


def test_the_project_is_the_users_folder_and_its_files_come_from_the_package(installed, tmp_path,
                                                                             small_images):
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    shutil.copyfile(config.DEFAULT_CONFIG, project / "config.yaml")
    lst = run(installed, project / "sub", "dogs", "lst", "--data", str(small_images), "--out", "lst")
    assert lst.returncode == 0, lst.stderr
    assert (project / "sub" / "lst" / "classes.json").is_file()  # relative paths: the working folder's

    script = ("import json, ops, ops.core.config as c, ops.core.state as s, ops.deploy.terraform as t\n"
              "print(json.dumps([ops.__file__, str(c.project_root()), str(s.home()), str(c.project_config()),"
              " str(t.sync_module('local'))]))")
    probe = run(installed, project / "sub", "python", "-c", script)
    assert probe.returncode == 0, probe.stderr
    package, root, home, config_file, module = map(Path, json.loads(probe.stdout))
    assert package.is_relative_to(installed)  # the wheel's copy, not the checkout
    assert (root, home, config_file) == (project, project / ".dogs", project / "config.yaml")
    assert (module / "main.tf").is_file() and (module / "modules" / "api" / "main.tf").is_file()
    assert module.is_relative_to(project / ".dogs")


def test_demo_help_names_the_users_folders_not_the_developers(installed, tmp_path):
    shown = run(installed, tmp_path, "dogs", "--help", "demo")
    assert shown.returncode == 0, shown.stderr
    assert "../shared" not in shown.stdout and "Stanford Dogs" in shown.stdout
