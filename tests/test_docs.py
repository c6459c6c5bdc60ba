"""The README is a front door: its links and the docs/ pages' links lead somewhere, and its command table
lists every `invoke` task (and only those)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "terraform" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(path: Path) -> list[str]:
    """The page's lines outside fenced and indented code blocks."""
    lines, fenced = [], False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and not line.startswith("    "):
            lines.append(line)
    return lines


def slug(heading: str, seen: dict[str, int]) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    base = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
    count = seen.get(base, 0)
    seen[base] = count + 1
    return base if count == 0 else f"{base}-{count}"


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    return {slug(line.lstrip("#"), seen) for line in prose(path) if re.match(r"#{1,6} ", line)}


def local_links(path: Path) -> list[str]:
    return [target for line in prose(path) for target in LINK.findall(line)
            if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_leads_to_a_file_and_heading_that_exist(page):
    broken = []
    for target in local_links(page):
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with that anchor in {linked.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_link_check_finds_a_broken_link_and_a_broken_anchor(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Deploying: Terraform and the local AWS\n")
    page.write_text("[a](other.md#deploying-terraform-and-the-local-aws) [b](gone.md) [c](other.md#nope)\n"
                    "    [in code](ignored.md)\n")
    assert local_links(page) == ["other.md#deploying-terraform-and-the-local-aws", "gone.md", "other.md#nope"]
    assert "deploying-terraform-and-the-local-aws" in anchors(tmp_path / "other.md")
    assert "nope" not in anchors(tmp_path / "other.md")


def invoke_tasks() -> set[str]:
    """Every task and alias `invoke --list` shows (its JSON format names tasks by function, not by key)."""
    listing = subprocess.run([sys.executable, "-m", "invoke", "--list", "--list-format", "flat"], cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout
    names = set()
    for match in re.finditer(r"^  ([\w.-]+)(?: \(([^)]*)\))?", listing, re.MULTILINE):
        names.add(match[1])
        names.update(alias.strip() for alias in (match[2] or "").split(",") if alias.strip())
    return names


def command_table() -> set[str]:
    """The `invoke X` names in the first column of the README's table of commands."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("## Commands")
    rows = [line for line in lines[start:] if line.startswith("| `invoke ")]
    return {name for row in rows for name in re.findall(r"`invoke ([\w.-]+)`", row.split("|")[1])}


def test_the_readme_command_table_lists_every_invoke_task_and_only_those():
    tasks, table = invoke_tasks(), command_table()
    assert {"train", "deploy", "lst.info", "evaluate.compare"} <= tasks  # the listing itself was read
    assert not tasks - table, f"tasks missing from the README's command table: {sorted(tasks - table)}"
    assert not table - tasks, f"README lists commands invoke does not have: {sorted(table - tasks)}"


def test_the_readme_keeps_exactly_the_two_set_up_commands():
    commands = [line.strip() for line in (ROOT / "README.md").read_text().splitlines()
                if line.startswith("    ") and "./scripts/setup" in line]
    assert commands == ["./scripts/setup && .venv/bin/invoke demo",
                        "./scripts/setup && .venv/bin/python -m pytest"]


def invoke_calls(path: Path) -> list[tuple[str, list[str]]]:
    """Each `invoke TASK --option ...` the page shows, in code blocks or inline code: (task, its options)."""
    text = path.read_text()
    snippets = [line for line in text.splitlines() if line.startswith("    ")]
    snippets += [span for line in text.splitlines() for span in line.split("`")[1::2]]  # inline code
    calls = []
    for snippet in snippets:
        for command in re.split(r"&&|;|\|\|", snippet.split(" # ")[0]):
            match = re.search(r"(?:^|[\s/])invoke ([a-z][\w.-]*)(.*)", command)
            if match:
                calls.append((match[1], re.findall(r"(?<![\w-])--([a-z][\w-]*)", match[2])))
    return calls


def task_options() -> dict[str, set[str]]:
    """Every task (and collection default) by name → the long options `invoke --help` lists."""
    import importlib
    from invoke import Collection

    ns = Collection.from_module(importlib.import_module("tasks"))
    names = set(ns.task_names) | {alias for aliases in ns.task_names.values() for alias in aliases}
    options = {}
    for name in names:
        long = {n for argument in ns[name].get_arguments() for n in argument.names if len(n) > 1}
        options[name] = long | {f"no-{n}" for n in long}
    return options


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_invoke_command_shown_uses_a_task_and_options_that_exist(page):
    options = task_options()
    stale = [f"invoke {task}" + (f" --{opt}" if opt else "")
             for task, opts in invoke_calls(page)
             for opt in ([None] if task not in options else [o for o in opts if o not in options[task]])]
    assert not stale, f"{page.relative_to(ROOT)} shows what `invoke --help` lacks: {sorted(set(stale))}"


def test_the_option_check_reads_commands_from_code_and_prose(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("    invoke lst --data DIR --bogus 1 && invoke plan --summary plan.md   # --not-this\n"
                    "Run `invoke train --target aws` first.\n")
    assert invoke_calls(page) == [("lst", ["data", "bogus"]), ("plan", ["summary"]), ("train", ["target"])]
    assert "bogus" not in task_options()["lst"] and "data" in task_options()["lst"]


def test_the_architecture_map_is_one_diagram_naming_every_ops_subpackage_and_stage_folder():
    text = (ROOT / "docs" / "architecture.md").read_text()
    diagrams = re.findall(r"```mermaid\n(.*?)```", text, re.DOTALL)
    assert len(diagrams) == 1
    folders = [f"ops/{p.parent.name}" for p in sorted((ROOT / "ops").glob("*/__init__.py"))]
    folders += ["training/", "terraform/", "predict_lambda/", "examples/"]
    assert len(folders) > 4  # the subpackages were found
    missing = [f for f in folders if f not in diagrams[0]]
    assert not missing, f"folders the map leaves out: {missing}"


def test_no_ops_subpackage_holds_more_than_ten_modules():
    """The guide's ~10 modules a package at most: small modules that serve one other are merged into it."""
    sizes = {p.name: len([m for m in p.glob("*.py") if m.name != "__init__.py"])
             for p in sorted((ROOT / "ops").iterdir()) if (p / "__init__.py").is_file()}
    assert "evaluate" in sizes and "emulator" in sizes
    assert {name: n for name, n in sizes.items() if n > 10} == {}
