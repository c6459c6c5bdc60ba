"""Command-line entry points (`invoke --list`). Thin: parse options, call library code, print results.

Each section below is one concern; a `Collection` named at module level becomes a namespace
(`invoke lst.info`), its default task answers to the bare name (`invoke lst`).
"""
from __future__ import annotations

from contextlib import contextmanager

from invoke import Collection, Exit, Task, task

from training.errors import UserError


@contextmanager
def user_errors():
    """Turn a UserError into one line on stderr and exit status 2 (no traceback)."""
    try:
        yield
    except UserError as exc:
        raise Exit(f"error: {exc}", code=2) from None


def load_config(path: str | None = None):
    from ops import config

    with user_errors():
        return config.load(path)


# ---------------------------------------------------------------- config
@task(help={"config": "configuration file (default: config.yaml)"})
def check_config(c, config=None):
    """Validate config.yaml and print the resolved settings."""
    import json

    cfg = load_config(config)
    print(json.dumps({"hyperparameters": cfg.hyperparameters, "local": cfg.local,
                      "aws": cfg.aws}, indent=2))


# ---------------------------------------------------------------- data + lst (issue 2)


# ---------------------------------------------------------------- train + tune (issue 3)


# ---------------------------------------------------------------- local AWS + deploy (issue 4)


# ---------------------------------------------------------------- predict + serve + demo (issue 5)


# ---------------------------------------------------------------- evaluate (issue 6)


# ---------------------------------------------------------------- plan summary (issue 7)
@task(help={
    "file": "the Markdown to post (from `invoke plan --summary FILE`)",
    "repo": "owner/name (default: from the GitHub Actions environment)",
    "pr": "pull request number (default: from the GitHub Actions event)",
})
def pr_comment(c, file, repo=None, pr=None):
    """Post a plan summary as the pull request's one plan comment (updated in place)."""
    import os
    from pathlib import Path

    from ops import pr_comment as comments

    with user_errors():
        token = os.environ.get("GITHUB_TOKEN")
        if not token:
            raise Exit("error: GITHUB_TOKEN is not set", code=2)
        target = (comments.PullRequest(repo, int(pr)) if repo and pr
                  else comments.from_github_env())
        outcome = comments.upsert(target, Path(file).read_text(), token)
    print(f"{outcome} the plan comment on {target.repo}#{target.number}")



# ---------------------------------------------------------------- bench (issue 8)


# ---------------------------------------------------------------- namespace
def _namespace() -> Collection:
    """Every module-level Collection becomes a namespace; every other task is top level."""
    ns = Collection()
    grouped = set()
    for obj in list(globals().values()):
        if isinstance(obj, Collection):
            ns.add_collection(obj)
            grouped.update(id(t) for t in obj.tasks.values())
    for obj in list(globals().values()):
        if isinstance(obj, Task) and id(obj) not in grouped:
            ns.add_task(obj)
    return ns


ns = _namespace()
