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
@task(help={
    "data": "images root, one folder per breed (default: .dogs/data/Images)",
    "lst-dir": "folder from `invoke lst` with the LST files and classes.json (default: .dogs/lst)",
    "fold": "train on <name>_fold_<k>_train.lst / test on its _test.lst (folds from `invoke lst`)",
    "out": "folder for model.tar.gz and metrics.json (default: .dogs/model)",
    "target": "local (default): train on this machine; aws: a SageMaker training job",
    "algorithm": "aws only: pytorch (our training/ script, default) or builtin (image classification)",
    "epochs": "override the epochs hyperparameter",
    "learning-rate": "override learning_rate",
    "batch-size": "override mini_batch_size",
    "backbone": "override backbone (resnet or efficientnet_lite0)",
    "set": "more hyperparameter overrides, key=value[,key=value...], e.g. optimizer=sgd,seed=1",
    "processes": "local only: data-parallel processes (torchrun, gloo); default 1",
    "fresh": "local only: ignore (delete) the checkpoint of an earlier interrupted run",
    "config": "configuration file (default: config.yaml)",
    "dry-run": "aws only: print the job request and its estimated cost instead of starting it",
})
def train(c, data=None, lst_dir=None, fold=None, out=None, target="local", algorithm="pytorch",
          epochs=None, learning_rate=None, batch_size=None, backbone=None, set=None, processes=1,
          fresh=False, config=None, dry_run=False):
    """Train a breed classifier from LST files + photos into model.tar.gz (locally or on SageMaker)."""
    from ops import state, train_cli

    cfg = load_config(config)
    with user_errors():
        overrides = train_cli.overrides(epochs=epochs, learning_rate=learning_rate,
                                        batch_size=batch_size, backbone=backbone, extra=set)
        data_dir = train_cli.folder(data, state.home() / "data" / "Images", "--data",
                                    "give the images root or run `invoke data.download`")
        lst = train_cli.folder(lst_dir, state.home() / "lst", "--lst-dir",
                               "give the folder `invoke lst` wrote")
        fold = train_cli.whole_number("fold", fold, low=1)
        if target == "aws":
            from ops import aws_training

            return aws_training.train_job(cfg, data_dir=data_dir, lst_dir=lst, fold=fold,
                                          algorithm=algorithm, dry_run=dry_run,
                                          overrides=overrides)
        if target != "local":
            raise UserError(f"--target: {target!r} is not allowed; allowed: local, aws")
        if dry_run or algorithm != "pytorch":
            raise UserError("--dry-run and --algorithm builtin need --target aws")
        run = train_cli.train_here(cfg, data_dir=data_dir, lst_dir=lst, fold=fold,
                                   out_dir=out or state.home() / "model", overrides=overrides,
                                   processes=train_cli.whole_number("processes", processes, low=1),
                                   fresh=fresh)
    train_cli.print_summary(run)



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
