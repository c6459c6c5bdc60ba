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

# tune
@task(help={
    "data": "photo folder the LST files list: one sub-folder per breed (as given to `invoke lst`)",
    "lst-dir": "folder with the LST files and classes.json from `invoke lst` (default: .dogs/lst)",
    "fold": "use the <name>_fold_<k>_{train,test}.lst pair (default: the folder's only pair)",
    "algorithm": "pytorch (our training/ script; default) or builtin (SageMaker's "
                 "image-classification algorithm, as the original)",
    "max-jobs": "training jobs in all (default 10)",
    "max-parallel-jobs": "training jobs at a time (default 2)",
    "role": "SageMaker execution role ARN (default: aws.role_arn in config.yaml)",
    "instance-type": "training instance type (default: aws.instance_type in config.yaml)",
    "instance-count": "instances per training job (default: aws.instance_count)",
    "dry-run": "print the tuning job request and the estimated cost; create nothing",
    "wait": "wait for the result and record the best artifact (default; --no-wait returns at once)",
    "config": "configuration file (default: config.yaml)",
})
def tune(c, data, lst_dir=None, fold=None, algorithm="pytorch", max_jobs=10, max_parallel_jobs=2,
         role=None, instance_type=None, instance_count=None, dry_run=False, wait=True,
         config=None):
    """Tune learning rate, batch size, optimizer... on SageMaker; record the best model."""
    from ops import aws_tuning, state

    cfg = load_config(config)
    overrides = {k: v for k, v in (("role_arn", role), ("instance_type", instance_type),
                                   ("instance_count", instance_count)) if v not in (None, "")}
    with user_errors():
        aws_tuning.tune_job(cfg, data_dir=data, lst_dir=lst_dir or state.home() / "lst",
                            fold=_whole_number("fold", fold), algorithm=algorithm,
                            max_jobs=_whole_number("max-jobs", max_jobs),
                            max_parallel_jobs=_whole_number("max-parallel-jobs", max_parallel_jobs),
                            dry_run=dry_run, overrides=overrides, wait=wait)


def _whole_number(option: str, value) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Exit(f"error: --{option}: {value!r} is not an integer", code=2) from None


# ---------------------------------------------------------------- local AWS + deploy (issue 4)


# ---------------------------------------------------------------- predict + serve + demo (issue 5)


# ---------------------------------------------------------------- evaluate (issue 6)


# ---------------------------------------------------------------- plan summary (issue 7)


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
