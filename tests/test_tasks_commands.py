"""Every task in the Collection: `--help` works (before and after the task name), a bad option value
is one line and exit status 2, and a shared option (--target, --model, --config) means one thing.

The tasks come from `tasks.ns` itself, so a new task is covered without touching this file. The
command lines run through invoke's own `invoke` program (its loader, parser and executor), many in one
interpreter to keep the suite fast.
"""
from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tasks
from tasks import options
from tasks.command import SHARED_HELP

REPO = Path(__file__).resolve().parents[1]
DRIVER = r"""
import contextlib, io, json, sys
from invoke.main import program

results = []
for argv in json.loads(sys.stdin.read()):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            program.run(["invoke", *argv])
        except SystemExit as exc:
            code = exc.code or 0
    results.append({"argv": argv, "code": code, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"""


def run_invoke(command_lines: list[list[str]], tmp_path) -> list[dict]:
    """Run each command line as `invoke ...` would, in one interpreter; code, stdout, stderr of each."""
    env = {"PATH": "/usr/bin:/bin", "DOGS_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(command_lines), cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def all_tasks() -> dict[str, object]:
    """Task name (as typed) -> task, for every task in the root Collection."""
    return {name: tasks.ns[name] for name in tasks.ns.task_names}


def documented(flag: str, help_text: str) -> bool:
    """`--name=...`, `-n ...` or `--[no-]name` in invoke's help."""
    return re.search(rf"(^|\s)(-{flag}|--{flag}|--\[no-\]{flag})\b", help_text, re.M) is not None


def flags_of(task) -> list[str]:
    return [a.name.replace("_", "-") for a in task.get_arguments()]


def test_the_collection_holds_every_documented_command():
    names = set(tasks.ns.task_names)
    expected = {"lst", "lst.info", "data.download", "train", "tune", "deploy", "plan", "apply-plan",
                "destroy", "models", "rollback", "local.up", "local.down", "local.status", "serve",
                "predict", "evaluate", "evaluate.compare", "demo", "lint", "pr-comment", "check-config",
                "bench", "container.serve", "container.train"}
    assert expected <= names | {a for aliases in tasks.ns.task_names.values() for a in aliases}


def test_help_before_and_after_every_task_name(tmp_path):
    names = sorted(all_tasks())
    results = run_invoke([["--help", n] for n in names] + [[n, "--help"] for n in names], tmp_path)

    for result in results:
        name = result["argv"][1] if result["argv"][0] == "--help" else result["argv"][0]
        where = f"invoke {' '.join(result['argv'])}: {result['err'][-800:]}"
        assert result["code"] == 0, where
        assert result["out"].startswith(f"Usage: inv[oke] [--core-opts] {name} "), where
        assert "Traceback" not in result["err"] and "error" not in result["err"].lower(), where
        for flag in flags_of(tasks.ns[name]):
            assert documented(flag, result["out"]), f"{where}: {flag} missing"


def expected_error(option: str, parser) -> tuple[str, str]:
    """(the bad value to give, the one line it must produce) for an option parsed by `parser`."""
    flag = options.flag(option)
    if isinstance(parser, options.Choice):
        return "no-such-choice", (f"error: {flag}: 'no-such-choice' is not allowed; "
                                  f"allowed: {', '.join(parser.allowed)}\n")
    if isinstance(parser, options.Size):
        return "x", f"error: {flag}: 'x' is not allowed; allowed: N, HxW, or 0 (no check)\n"
    kind = "a number" if isinstance(parser, options.Number) else "an integer"
    return "x", f"error: {flag}: 'x' is not {kind}\n"


def bad_value_cases() -> list[tuple[str, str, object]]:
    """(task, option, parser) for every option a task parses as a number, size or choice."""
    return [(name, option, parser) for name, task in sorted(all_tasks().items())
            for option, parser in task.parsers.items()
            if isinstance(parser, (options.Integer, options.Number, options.Size, options.Choice))]


def test_a_bad_value_of_any_parsed_option_is_one_line_and_exit_2(tmp_path):
    cases = bad_value_cases()
    assert len(cases) >= 30  # ports, counts, fractions, sizes, targets... in a dozen tasks
    lines = [[name, *["x"] * len(all_tasks()[name].positional), options.flag(option),
              expected_error(option, parser)[0]] for name, option, parser in cases]

    for (name, option, parser), result in zip(cases, run_invoke(lines, tmp_path)):
        where = f"invoke {' '.join(result['argv'])}: {result['err'][-800:]}"
        assert result["code"] == 2, where
        assert result["err"] == expected_error(option, parser)[1], where
        assert not result["out"], where


@pytest.mark.parametrize("option", sorted(SHARED_HELP))
def test_a_shared_option_means_the_same_on_every_task(option):
    having = {name: task for name, task in all_tasks().items()
              if option in inspect.signature(task.body).parameters}
    assert len(having) >= 4, having  # target: train, deploy, plan...; model: deploy, bench...

    for name, task in having.items():
        assert task.option_help[option].startswith(SHARED_HELP[option]), name
        if option == "target":
            assert task.parsers.get("target") == options.TARGET, name


def test_every_task_that_reads_the_config_takes_config():
    readers = [name for name, task in all_tasks().items()
               if "load_config(" in inspect.getsource(task.body)
               or "_settings(config" in inspect.getsource(task.body)]
    assert {"train", "tune", "deploy", "destroy", "rollback", "check-config"} <= set(readers)

    for name in readers:
        assert "config" in inspect.signature(all_tasks()[name].body).parameters, name


def test_an_unknown_option_on_any_task_and_an_unknown_task_exit_2_with_one_line(tmp_path):
    names = sorted(all_tasks())
    lines = [[name, *["x"] * len(all_tasks()[name].positional), "--no-such-option"] for name in names] + [["no-such-task"], ["--no-such-core-flag"],
                                                               ["--help", "no-such-task"]]
    for result in run_invoke(lines, tmp_path):
        where = f"invoke {' '.join(result['argv'])}: {result['err'][-800:]}"
        assert result["code"] == 2, where  # invoke's own parse errors exit 1; the project's program, 2
        assert result["err"].count("\n") == 1 and "No idea what" in result["err"], where
        assert not result["out"], where


def test_the_exit_codes_are_the_documented_ones():
    from tasks import program

    documented_codes = (REPO / "docs" / "architecture.md").read_text()
    for code, meaning in ((program.USAGE_ERROR, "usage error"), (program.PHOTOS_REFUSED, "refused")):
        assert re.search(rf"\|\s*{code}\s*\|[^|]*{meaning}", documented_codes), (code, meaning)
