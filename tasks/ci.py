"""What CI runs besides the tests: `invoke check-config`, `invoke lint`, `invoke pr-comment`."""
from __future__ import annotations

from invoke import Exit

from tasks import options
from tasks.command import command, load_config


@command
def check_config(c, config=None):
    """Validate config.yaml and print the resolved settings."""
    import json
    import sys

    cfg = load_config(config)
    print(f"{cfg.path}: valid", file=sys.stderr)  # which file: the project's, or the package's default
    print(json.dumps({"hyperparameters": cfg.hyperparameters, "local": cfg.local, "aws": cfg.aws},
                     indent=2))


@command(parse={"only": options.Names()},
         help={"only": "run only these checks, comma-separated: ruff, fmt, validate, checkov, actionlint"})
def lint(c, only=None):
    """Static checks CI runs: ruff, terraform fmt -check, terraform validate, checkov, actionlint."""
    import ops.ci.lint as checks

    if not checks.check_and_report(only):
        raise Exit("error: lint failed", code=1)


@command(parse={"pr": options.COUNT}, help={
    "file": "the Markdown to post (from `invoke plan --summary FILE`)",
    "repo": "owner/name (default: from the GitHub Actions environment)",
    "pr": "pull request number (default: from the GitHub Actions event)",
})
def pr_comment(c, file, repo=None, pr=None):
    """Post a plan summary as the pull request's one plan comment (updated in place)."""
    import ops.ci.pr_comment as comments

    outcome, target = comments.post(file, repo, pr)
    print(f"{outcome} the plan comment on {target.repo}#{target.number}")
