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
@task(name="run", default=True, iterable=["compare"], auto_shortflags=False, help={
    "lst": "the test LST file (e.g. out/lst/dogs_test.lst)",
    "data": "the images root the LST paths are relative to (one folder per breed)",
    "out": "the report folder (default: .dogs/reports/<LST name>-<via>)",
    "via": "where predictions come from: model (the artifact in-process, default), endpoint "
           "(SageMaker runtime) or api (POST <url>/predict)",
    "model": "--via model: the model.tar.gz (default: the artifact `invoke train` recorded)",
    "url": "--via api: the API's base URL, e.g. https://.../beta (default: $DOGS_API_URL, else "
           "the local API `invoke serve` started)",
    "api_key": "--via api: the API key sent as x-api-key (default: $DOGS_API_KEY)",
    "endpoint": "--via endpoint: the SageMaker endpoint name "
                "(AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME may point at the local one)",
    "model_id": "--via endpoint: the model id to key the prediction cache by "
                "(default: endpoint:<name>)",
    "classes": "the class map (default: the model's, else classes.json beside the LST)",
    "workers": "concurrent requests (api, endpoint; default 4) or model threads (default: the "
               "CPU count)",
    "batch_size": "images per request (default: 8 for api and model; the endpoint takes 1)",
    "worst": "how many worst breeds to analyse (default 5)",
    "min_confidence": "suspected label error: another breed predicted with at least this "
                      "probability (default 0.5)",
    "cache": "the prediction cache (default: .dogs/eval-cache.sqlite)",
    "compare": "compare two report folders instead: --compare A --compare B (deltas B - A)",
    "no_progress": "no progress bar",
})
def evaluate_run(c, lst=None, data=None, out=None, via="model", model=None, url=None, api_key=None,
                 endpoint=None, model_id=None, classes=None, workers=None, batch_size=8, worst=5,
                 min_confidence="0.5", cache=None, compare=None, no_progress=False):
    """Evaluate a model per breed on a test LST: metrics.json, per_breed.csv, plots, report.html."""
    if compare:
        return _compare(compare, out)
    import os
    from pathlib import Path

    from ops import state
    from ops.evaluate import console, run, sources

    with user_errors():
        if not lst or not data:
            raise sources.EvaluationError("give --lst TEST.lst and --data IMAGES_DIR "
                                          "(or --compare A --compare B)")
        workers = int(workers) if workers else (os.cpu_count() or 2) if via == "model" else 4
        batch_size = int(batch_size)
        if workers < 1 or batch_size < 1:
            raise sources.EvaluationError("--workers and --batch-size must be at least 1")
        try:
            min_confidence = float(min_confidence)
        except ValueError:
            min_confidence = -1.0
        if not 0 <= min_confidence <= 1:
            raise sources.EvaluationError("--min-confidence must be a number from 0 to 1")
        if via == "model":
            model = model or (state.read("artifact") or {}).get("local_path")
            if not model:
                raise sources.EvaluationError("--via model needs --model model.tar.gz "
                                              "(or run `invoke train` first)")
            source = sources.ModelSource(model, batch_size=batch_size)
        elif via == "api":
            url = (url or os.environ.get("DOGS_API_URL")
                   or (state.read("serve") or {}).get("predict_url", ""))  # `invoke serve`
            source = sources.ApiSource(url,
                                       api_key or os.environ.get("DOGS_API_KEY"),
                                       batch_size=batch_size)
        elif via == "endpoint":
            source = sources.EndpointSource(endpoint, model_id)
        else:
            raise sources.EvaluationError(f"--via {via}: choose api, endpoint or model")
        out = Path(out or state.home() / "reports" / f"{Path(lst).stem}-{via}")
        report = run.evaluate(lst, data, out, source, classes_path=classes, cache_path=cache,
                              options=run.Options(workers=workers, worst=int(worst),
                                                  min_confidence=min_confidence,
                                                  progress=not no_progress))
    console.print_report(report, out)


@task(name="compare", positional=["a", "b"], help={
    "a": "the baseline report folder", "b": "the report folder to compare with it",
    "out": "where compare.json and compare.csv go (default: B)"})
def evaluate_compare(c, a, b, out=None):
    """Compare two evaluation reports per breed (deltas B - A)."""
    _compare([a, b], out)


def _compare(folders, out):
    from ops.evaluate import compare as cmp

    with user_errors():
        if len(folders) != 2:
            raise cmp.EvaluationError("--compare takes two report folders: "
                                      "--compare A --compare B")
        result = cmp.compare(*folders)
        paths = cmp.write_comparison(result, out or folders[1])
    cmp.print_comparison(result)
    print(f"written: {paths[0]} {paths[1]}")


evaluate = Collection("evaluate", evaluate_run, evaluate_compare)
evaluate.default = "run"


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
