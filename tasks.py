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
    from ops.core import config

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
def _int_option(option: str, value, low: int | None = None) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Exit(f"error: --{option}: {value!r} is not an integer", code=2) from None
    if low is not None and number < low:
        raise Exit(f"error: --{option}: {number} is not allowed; allowed: an integer >= {low}",
                   code=2)
    return number


def _task_help(task_obj: Task) -> str:
    """What `invoke --help TASK` prints, short, for tasks whose positional argument ate --help."""
    lines = [task_obj.__doc__.strip(), "", "Options:"]
    lines += [f"  --{name:<16} {text}" for name, text in task_obj.help.items()]
    return "\n".join(lines)


def _min_size(value, config_path) -> tuple[int, int]:
    """(height, width) photos must reach: --min-size (N, HxW or 0), else config image_shape."""
    if value in (None, ""):
        _, height, width = (int(p) for p in
                            load_config(config_path).hyperparameters["image_shape"].split(","))
        return height, width
    text = str(value).lower()
    parts = text.split("x")
    if not all(p.strip().isdigit() for p in parts) or len(parts) > 2:
        raise Exit(f"error: --min-size: {value!r} is not allowed; allowed: N, HxW, or 0 (no check)",
                   code=2)
    height, width = (int(parts[0]), int(parts[-1]))
    return height, width


@task(default=True, positional=[], help={
    "data": "images root: one folder per breed, <wnid>-<breed>/<file>.jpg (default: .dogs/data/Images,"
            " where data.download puts it)",
    "out": "folder for the LST files, classes.json and scan_report.json (default: .dogs/lst)",
    "test-fraction": "share of each breed's photos in the test set (default 0.2)",
    "seed": "seed of the split (default 0): same photos + seed give byte-identical files",
    "folds": "write K stratified folds <name>_fold_<k>_{train,test}.lst instead of one split",
    "classes": "breeds to use: the first N (a number) or comma-separated folder/display names",
    "name": "file name prefix (default dogs: dogs_train.lst, dogs_test.lst)",
    "strict": "fail (exit 2) if any photo is bad instead of leaving it out",
    "min-size": "smallest usable photo, N or HxW (default: config image_shape; 0: no check)",
    "config": "configuration file (default: config.yaml)",
})
def lst_render(c, data=None, out=None, test_fraction=None, seed=0, folds=None, classes=None, name="dogs",
           strict=False, min_size=None, config=None):
    """Scan a folder of dog photos, check them, and write train/test LST files + classes.json."""
    from ops.data import lst_summary
    from ops.core import state
    from training import lst

    if data is None:
        data = state.home() / "data" / "Images"
        if not data.is_dir():
            raise Exit("error: --data: give the images root (one folder per breed), or run "
                       "`invoke data.download` first", code=2)
    folds = _int_option("folds", folds, low=2)
    if folds is not None and test_fraction is not None:
        raise Exit("error: give --folds or --test-fraction, not both (each fold tests 1/K)", code=2)
    try:
        fraction = 0.2 if test_fraction is None else float(test_fraction)
    except ValueError:
        raise Exit(f"error: --test-fraction: {test_fraction!r} is not a number", code=2) from None
    with user_errors():
        result = lst.render(data, out or state.home() / "lst", test_fraction=fraction,
                            seed=_int_option("seed", seed, low=0), folds=folds, classes=classes,
                            name=name, strict=strict, min_size=_min_size(min_size, config))
    lst_summary.print_render(result)


@task(help={
    "files": "LST files, comma-separated; a folder means its *.lst files",
    "classes-file": "classes.json (or a text file of breed folders, one a line) to name the classes",
    "per-class": "print the images per class of every file",
})
def lst_info(c, files, classes_file=None, per_class=False):
    """Describe LST files: samples, classes, images per class, and num_classes/num_training_samples."""
    from ops.data import lst_summary
    from training import lst

    if files in ("-h", "--help"):  # a missing positional argument eats --help (invoke's parser)
        raise Exit(_task_help(lst_info), code=0)
    with user_errors():
        described = lst.describe(lst.expand_paths(files))
        names = lst.class_names(classes_file) if classes_file else None
    lst_summary.print_info(described, names, per_class=per_class)


@task(positional=[], help={
    "dest": "folder for the archive and Images/ (default: .dogs/data)",
    "url": "archive URL (default: the official Stanford Dogs images.tar)",
    "checksum": "md5:<hex> or sha256:<hex> of the archive (default: the known MD5); none: skip",
    "breeds": "extract only the first N breeds (sorted by folder)",
    "retries": "times to resume after a cut connection (default 3)",
})
def data_download(c, dest=None, url=None, checksum=None, breeds=None, retries=3):
    """Download Stanford Dogs (images.tar, resumable, checksum-verified) and unpack it to Images/."""
    from ops.data import download as dl
    from ops.core import state

    checksum = dl.DEFAULT_CHECKSUM if checksum is None else checksum
    with user_errors():
        result = dl.download(dest or state.home() / "data", url=url or dl.DEFAULT_URL,
                             checksum=checksum,
                             breeds=_int_option("breeds", breeds, low=1),
                             retries=_int_option("retries", retries, low=0))
    how = f"{result.fetched_bytes:,} bytes fetched" if result.fetched_bytes else "already there"
    if result.resumed_from:
        how += f", resumed from {result.resumed_from:,}"
    checked = "checksum ok" if dl.parse_checksum(checksum) else "checksum not checked"
    print(f"{result.archive} ({how}, {checked})")
    print(f"{result.images}: {len(result.breeds)} breeds, {result.photos:,} photos")
    print(f"next: invoke lst --data {result.images}")


lst_tasks = Collection("lst")
lst_tasks.add_task(lst_render, name="render", default=True)
lst_tasks.add_task(lst_info, name="info")
data_tasks = Collection("data")
data_tasks.add_task(data_download, name="download")



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
    "role": "aws only: SageMaker execution role ARN (default: aws.role_arn, else the training_role_arn "
            "of `invoke deploy --target aws`)",
})
def train(c, data=None, lst_dir=None, fold=None, out=None, target="local", algorithm="pytorch",
          epochs=None, learning_rate=None, batch_size=None, backbone=None, set=None, processes=1,
          fresh=False, config=None, dry_run=False, role=None):
    """Train a breed classifier from LST files + photos into model.tar.gz (locally or on SageMaker)."""
    from ops.core import state
    from ops.train import train_cli

    cfg = load_config(config)
    with user_errors():
        overrides = train_cli.overrides(epochs=epochs, learning_rate=learning_rate,
                                        batch_size=batch_size, backbone=backbone, extra=set)
        data_dir, lst = train_cli.inputs(data, lst_dir)
        fold = train_cli.whole_number("fold", fold, low=1)
        if role:
            if target != "aws":
                raise UserError("--role needs --target aws")
            overrides["role_arn"] = role
        if target == "aws":
            from ops.train import aws_training

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


# tune
@task(help={
    "data": "photo folder the LST files list: one sub-folder per breed (as given to `invoke lst`)",
    "lst-dir": "folder with the LST files and classes.json from `invoke lst` (default: .dogs/lst)",
    "fold": "use the <name>_fold_<k>_{train,test}.lst pair (default: the folder's only pair)",
    "algorithm": "pytorch (our training/ script; default) or builtin (SageMaker's "
                 "image-classification algorithm, as the original)",
    "max-jobs": "training jobs in all (default 10)",
    "max-parallel-jobs": "training jobs at a time (default 2)",
    "role": "SageMaker execution role ARN (default: aws.role_arn, else the stack's training_role_arn)",
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
    from ops.train import aws_tuning
    from ops.core import state

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
@task(help={"port": "port on 127.0.0.1 (default: a free one); an error if it is taken"})
def local_up(c, port=None):
    """Start the local AWS (a patched moto server on 127.0.0.1); idempotent."""
    from ops.emulator import local_aws

    with user_errors():
        running = local_aws.up(int(port) if port else None)
    print(f"local AWS: {running.url} (pid {running.pid}; log {local_aws.log_file()})")


@task
def local_down(c):
    """Stop the local AWS (everything in it is gone)."""
    from ops.emulator import local_aws

    print("local AWS stopped" if local_aws.down() else "local AWS was not running")


@task
def local_status(c):
    """Say whether the local AWS runs, and where."""
    from ops.emulator import local_aws

    running = local_aws.status()
    if running is None:
        raise Exit("local AWS: not running (`invoke local.up`)", code=1)
    print(f"local AWS: {running.url} (pid {running.pid}; log {local_aws.log_file()})")


local = Collection("local")
local.add_task(local_up, "up", default=True)
local.add_task(local_down, "down")
local.add_task(local_status, "status")

_DEPLOY_HELP = {
    "target": "local (the local AWS, `invoke local.up`) or aws (default: local)",
    "model_data": "s3:// URL of a model.tar.gz (default: the artifact `invoke train` recorded); its class "
                  "map, model id and algorithm are read from the artifact itself",
    "classes": "classes.json (or its folder) to use instead of the artifact's own",
    "algorithm": "pytorch or builtin: what trained a --model-data artifact (default: the recorded "
                 "artifact's, else pytorch); builtin serves in the built-in algorithm's image, aws only",
    "endpoint_type": "realtime or serverless (default: the Terraform default, serverless)",
    "instance_type": "real-time instance type, e.g. ml.m5.large",
    "var_file": "a .tfvars file with more Terraform variables (see terraform/examples/)",
    "plugin_dir": "provider mirror for offline init (default: $DOGS_TF_PLUGIN_DIR, else /opt/tf-plugins if present)",
}


def _deploy_settings(target, endpoint_type, instance_type, var_file, plugin_dir):
    from ops.deploy import stack as deploy

    return deploy.settings(load_config(), target, endpoint_type=endpoint_type,
                           instance_type=instance_type, var_file=var_file, plugin_dir=plugin_dir)


def _confirm(question: str) -> bool:
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _print_outputs(outputs: dict, show_api_key: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="deployment")
    table.add_column("output", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name in ("api_invoke_url", "api_predict_url", "endpoint_name", "model_name",
                 "lambda_function_name", "bucket_name"):
        if name in outputs:
            table.add_row(name, str(outputs[name]))
    table.add_row("api_key_value", outputs.get("api_key_value", "") if show_api_key
                  else "(hidden: --show-api-key)")
    Console().print(table)


@task(help={**_DEPLOY_HELP, "auto_approve": "aws: apply without asking (local never asks)",
            "show_api_key": "print the API key too",
            "training_only": "before the first model: apply only the bucket and the training role "
                             "(`invoke train --target aws` then uses it)",
            "model": "deploy an earlier model by its id (`invoke models` lists them)"})
def deploy(c, target="local", model_data=None, classes=None, endpoint_type=None, instance_type=None,
           var_file=None, plugin_dir=None, auto_approve=False, show_api_key=False, algorithm=None,
           training_only=False, model=None):
    """Deploy the trained model: Terraform applies the endpoint, Lambda and API; prints the URL."""
    import time

    from ops.deploy import stack as ops_deploy

    started = time.monotonic()
    with user_errors():
        s = _deploy_settings(target, endpoint_type, instance_type, var_file, plugin_dir)
        if training_only:
            made = ops_deploy.deploy_training(s, auto_approve=auto_approve, confirm=_confirm)
            print(f"bucket {made.get('bucket_name')}, training role {made.get('training_role_arn')}; "
                  + ("next: invoke train --target aws" if target == "aws" else "(the local AWS)"))
            return
        if model and model_data:
            raise Exit("error: give --model ID or --model-data, not both", code=2)
        chosen = ops_deploy.model_from_history(model) if model else ops_deploy.find_model(
            model_data, classes, algorithm, ops_deploy.s3_reader(s.target, s.region))
        outputs = ops_deploy.deploy(s, chosen, auto_approve=auto_approve, confirm=_confirm)
    _print_outputs(outputs, show_api_key)
    print(f"deployed to {target} in {time.monotonic() - started:.0f} s; "
          f"`invoke destroy --target {target}` tears it down")


@task
def models(c):
    """List the models trained and deployed: id, where it lives, when, validation accuracy, where it serves."""
    from rich.console import Console
    from rich.table import Table

    from ops.deploy import model_history

    table = Table(title="models (newest first)")
    for column in ("model id", "artifact", "deployed", "validation accuracy", "serves on"):
        table.add_column(column, overflow="fold")
    for row in model_history.rows():
        accuracy = row.get("validation_accuracy")
        table.add_row(row["model_id"], str(row.get("model_data_url") or ""),
                      f"{row['deployed_at']} ({row['target']})" if row.get("deployed_at") else "trained, not deployed",
                      f"{accuracy:.1%}" if isinstance(accuracy, (int, float)) else "",
                      ", ".join(row["serves"]))
    Console().print(table)


@task(help={"target": _DEPLOY_HELP["target"], "plugin_dir": _DEPLOY_HELP["plugin_dir"],
            "auto_approve": "aws: apply without asking"})
def rollback(c, target="local", plugin_dir=None, auto_approve=False):
    """Serve the model deployed before the current one again (a deploy: blue/green, alarms roll back)."""
    from ops.deploy import stack as ops_deploy
    from ops.deploy import model_history

    with user_errors():
        s = _deploy_settings(target, None, None, None, plugin_dir)
        earlier = model_history.previous(target)
        print(f"rolling back {target} to {earlier['model_id']} (deployed {earlier['deployed_at']})")
        outputs = ops_deploy.deploy(s, ops_deploy.model_from_history(earlier["model_id"]),
                                    auto_approve=auto_approve, confirm=_confirm)
    _print_outputs(outputs, show_api_key=False)


@task(name="plan", help={
    **_DEPLOY_HELP,
    "summary": "also write a reviewer's Markdown summary of the plan to this file (for PR comments)",
    "destroy": "plan the destroy instead (what `invoke destroy` would remove)",
    "release": "the versioned release file naming the model (deploy/model.json: model_data, model_id) "
               "instead of --model-data",
    "save": "aws: keep the saved plan beside the remote state for `invoke apply-plan` (needs "
            "TF_STATE_BUCKET and a committed tree)",
})
def plan_(c, target="local", model_data=None, classes=None, endpoint_type=None, instance_type=None,
          var_file=None, plugin_dir=None, summary=None, destroy=False, algorithm=None, release=None,
          save=False):
    """Show what `invoke deploy` would change (terraform plan); exit 0 either way."""
    from ops.deploy import stack as ops_deploy
    from ops.deploy import plan_review, reviewed_plan

    with user_errors():
        s = _deploy_settings(target, endpoint_type, instance_type, var_file, plugin_dir)
        released_id = None
        if release:
            if model_data:
                raise Exit("error: give --release or --model-data, not both", code=2)
            model_data, released_id = reviewed_plan.read_release(release)
        model = None if destroy else ops_deploy.find_model(
            model_data, classes, algorithm, ops_deploy.s3_reader(s.target, s.region))
        if model and released_id and released_id != model.model_id:
            raise Exit(f"error: {release}: model_id {released_id!r}, but the artifact's record says "
                       f"{model.model_id!r}; is model_data the artifact you meant?", code=2)
        changes = plan_review.plan(s, model, summary, destroy=destroy, save=save)
    print("changes pending" if changes else "no changes")


@task(name="apply-plan", help={"target": "aws (the reviewed plan lies beside its remote state)",
                               "plugin_dir": _DEPLOY_HELP["plugin_dir"]})
def apply_plan(c, target="aws", plugin_dir=None):
    """Apply exactly the plan reviewed for this tree (`invoke plan --save`); refuse if none or stale."""
    from ops.deploy import reviewed_plan

    with user_errors():
        if target != "aws":
            raise Exit("error: apply-plan is for --target aws", code=2)
        s = _deploy_settings(target, None, None, None, plugin_dir)
        outputs = reviewed_plan.apply(s)
    _print_outputs(outputs, show_api_key=False)


@task(help={"target": _DEPLOY_HELP["target"], "plugin_dir": _DEPLOY_HELP["plugin_dir"],
            "auto_approve": "destroy without asking",
            "include_bucket": "aws: destroy the bucket too (default: keep it, it holds the data)"})
def destroy(c, target="local", plugin_dir=None, auto_approve=False, include_bucket=False):
    """Tear the deployed stack down (endpoints bill by the hour); prints what it removes."""
    from ops.deploy import stack as ops_deploy

    with user_errors():
        s = _deploy_settings(target, None, None, None, plugin_dir)
        removed = ops_deploy.destroy(s, keep_bucket=target == "aws" and not include_bucket,
                                     auto_approve=auto_approve or target == "local", confirm=_confirm)
    print(f"destroyed {len(removed)} resources in {target}")


# ---------------------------------------------------------------- predict + serve + demo (issue 5)
@task(help={
    "images": "photos: comma-separated files, folders or globs (more after a bare --)",
    "url": "the API's stage or /predict URL (default: $DOGS_API_URL, else the deployment's)",
    "api-key": "the API key (default: $DOGS_API_KEY, else the deployment's Terraform output)",
    "top": "breeds to show per photo (default 5)",
    "json": "print JSON (one object per photo) instead of tables",
    "target": "which deployment supplies the defaults: local (default; `invoke serve`) or aws",
})
def predict(c, images, url=None, api_key=None, top=5, json=False, target="local"):
    """Ask the API for the breeds of dog photos: a ranked table per photo."""
    import json as json_lib
    import shlex

    from rich.console import Console

    from ops.client import predict_client

    if images in ("-h", "--help"):  # a positional argument eats --help (invoke's parser)
        raise Exit(predict.__doc__.strip() + "\n\nOptions:\n" + "\n".join(
            f"  --{k:<14} {v}" for k, v in predict.help.items()), code=0)
    with user_errors():
        photos = predict_client.expand_photos(images, shlex.split(c.remainder or ""))
        url, api_key = predict_client.resolve(url, api_key, target)
        results = predict_client.predict(url, api_key, photos, top_k=int(top))
    if json:
        print(json_lib.dumps([r.as_dict() for r in results], indent=2))
    else:
        console = Console()
        for table in predict_client.tables(results):
            console.print(table)
    if any(r.error for r in results):
        raise Exit(code=1)


@task(help={
    "stop": "stop the servers a previous `invoke serve --background` left running",
    "background": "start them in the background and return (stop with `invoke serve --stop`)",
    "endpoint-port": "the local endpoint's port (default: a free one)",
    "api-port": "the local API's port (default: a free one)",
    "container": "the endpoint answers through SageMaker's own serving container (TorchServe, no "
                 "network; needs root and Java) instead of the model in-process",
})
def serve(c, stop=False, background=False, endpoint_port=None, api_port=None, container=False):
    """Serve the locally deployed stack: local endpoint (the deployed model) + local API (the Lambda)."""
    import time

    from ops.emulator import serving

    if stop:
        print("stopped" if serving.stop() else "nothing was running")
        return
    with user_errors():
        if serving.running():
            raise serving.ServingError("already serving; `invoke serve --stop` first")
        deployment = serving.local_deployment()
        served = serving.start(deployment, _int_option("endpoint-port", endpoint_port, low=1),
                               _int_option("api-port", api_port, low=1), container=container)
    print(f"POST {served.predict_url}  (header x-api-key: the output api_key_value of "
          f"`invoke deploy --target local`)\nlocal endpoint {served.endpoint_url}  logs {served.log_dir}")
    if background:
        return
    print("serving; Ctrl-C stops")
    try:
        while serving.running():
            time.sleep(2)
        print("a server stopped; see the logs")
    except KeyboardInterrupt:
        pass
    finally:
        serving.stop()




@task(help={
    "data": "photos, one folder per breed (default: ../shared/data/dogs-10/Images when present, "
            "else Stanford Dogs, 10 breeds, downloaded)",
    "keep": "leave the local AWS, endpoint and API running and print the URL and API key",
    "train-per-breed": "training photos per breed for the quick training (default 15)",
    "photos-per-breed": "test photos per breed to predict at the end (default 2)",
})
def demo(c, data=None, keep=False, train_per_breed=15, photos_per_breed=2):
    """The whole system in one command: photos → LST → quick training → Terraform → API → predictions."""
    from rich.console import Console
    from rich.table import Table

    from ops import demo as demo_lib

    console = Console()
    with user_errors():
        result = demo_lib.run(data, keep=keep, train_per_breed=int(train_per_breed),
                              photos_per_breed=int(photos_per_breed), say=console.print)
    table = Table(title=f"predictions by the API (model {result.model_id})", title_justify="left")
    for column in ("photo", "true breed", "predicted", "probability", ""):
        table.add_column(column)
    for p in result.predictions:
        table.add_row(p.photo.name, p.truth, p.breed or p.error, f"{p.probability:.1%}",
                      "[green]✓[/green]" if p.correct else "[red]✗[/red]")
    console.print(table)
    console.print(f"{result.correct} of {len(result.predictions)} test photos right; "
                  f"steps: {', '.join(f'{k} {v:.0f} s' for k, v in result.timings.items())}")
    if keep:
        console.print(f"still running. POST {result.predict_url} with header x-api-key: {result.api_key}\n"
                      "try: invoke predict PHOTO.jpg; stop: invoke serve --stop && invoke local.down")


# ---------------------------------------------------------------- evaluate (issue 6)
@task(name="run", default=True, iterable=["compare", "unknown_data"], auto_shortflags=False, help={
    "lst": "the test LST file (e.g. out/lst/dogs_test.lst)",
    "data": "the images root the LST paths are relative to (one folder per breed)",
    "out": "the report folder (default: .dogs/reports/<LST name>-<via>)",
    "via": "where predictions come from: model (the artifact in-process, default), endpoint "
           "(SageMaker runtime) or api (POST <url>/predict)",
    "model": "--via model: the model.tar.gz (default: the artifact `invoke train` recorded)",
    "url": "--via api: the API's base URL, e.g. https://.../beta (default: $DOGS_API_URL, else "
           "the deployment's, as for `invoke predict`)",
    "api_key": "--via api: the API key sent as x-api-key (default: $DOGS_API_KEY, else the "
               "deployment's Terraform output)",
    "target": "--via api: which deployment supplies the URL and key: local (default; `invoke serve`) "
              "or aws",
    "unknown_data": "a folder of photos of breeds the model does not know (any depth; repeat it or "
                    "give a comma list): adds the known-breed score's AUROC and the rates at the "
                    "stored threshold",
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
                 min_confidence="0.5", cache=None, compare=None, no_progress=False, target="local",
                 unknown_data=None):
    """Evaluate a model per breed on a test LST: metrics.json, per_breed.csv, plots, report.html."""
    if compare:
        return _compare(compare, out)
    import os
    from pathlib import Path

    from ops.core import state
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
        unknown = [f.strip() for item in unknown_data or [] for f in item.split(",") if f.strip()]
        source = sources.open_source(via, model=model, url=url, api_key=api_key, target=target,
                                     endpoint=endpoint, model_id=model_id, batch_size=batch_size,
                                     known_breed=bool(unknown))
        out = Path(out or state.home() / "reports" / f"{Path(lst).stem}-{via}")
        report = run.evaluate(lst, data, out, source, classes_path=classes, cache_path=cache,
                              options=run.Options(workers=workers, worst=int(worst),
                                                  min_confidence=min_confidence,
                                                  progress=not no_progress), unknown=unknown)
    console.print_report(report, out)


@task(name="compare", positional=["a", "b"], help={
    "a": "the baseline report folder", "b": "the report folder to compare with it",
    "out": "where compare.json, compare.csv and compare.html go (default: B)"})
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
    print("written: " + " ".join(str(p) for p in paths))


evaluate = Collection("evaluate", evaluate_run, evaluate_compare)
evaluate.default = "run"


# ---------------------------------------------------------------- plan summary (issue 7)
@task(help={"only": "run only these checks, comma-separated: ruff, fmt, validate, checkov, actionlint"})
def lint(c, only=None):
    """Static checks CI runs: ruff, terraform fmt -check, terraform validate, checkov, actionlint."""
    from ops.ci import lint as checks

    names = [n.strip() for n in only.split(",")] if only else None
    unknown = set(names or []) - set(checks.CHECKS)
    if unknown:
        raise Exit(f"error: --only {', '.join(sorted(unknown))}: unknown; "
                   f"known: {', '.join(checks.CHECKS)}", code=2)
    results = checks.run(names)
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.name}")
        if not result.ok:
            print("\n".join("     " + line for line in result.output.splitlines()[-40:]))
            if result.fix:
                print(f"     fix: {result.fix}")
    if not all(r.ok for r in results):
        raise Exit("error: lint failed", code=1)


@task(help={
    "file": "the Markdown to post (from `invoke plan --summary FILE`)",
    "repo": "owner/name (default: from the GitHub Actions environment)",
    "pr": "pull request number (default: from the GitHub Actions event)",
})
def pr_comment(c, file, repo=None, pr=None):
    """Post a plan summary as the pull request's one plan comment (updated in place)."""
    import os
    from pathlib import Path

    from ops.ci import pr_comment as comments

    with user_errors():
        token = os.environ.get("GITHUB_TOKEN")
        if not token:
            raise Exit("error: GITHUB_TOKEN is not set", code=2)
        target = (comments.PullRequest(repo, int(pr)) if repo and pr
                  else comments.from_github_env())
        outcome = comments.upsert(target, Path(file).read_text(), token)
    print(f"{outcome} the plan comment on {target.repo}#{target.number}")



# ---------------------------------------------------------------- bench (issue 8)
@task(help={"model": "model.tar.gz to serve (default: the artifact `invoke train` recorded)",
            "requests": "requests per stage and concurrency level (default 64)",
            "intra_op_threads": "the local endpoint's threads per forward pass (default: its own)",
            "cold_runs": "fresh interpreters timing the handler's cold import (default 7)",
            "out": "JSON file (default: .dogs/bench/serving_bench.json)"})
def bench(c, model=None, requests=64, intra_op_threads=None, cold_runs=7, out=None):
    """Benchmark serving: bare forward, preprocessing, endpoint and API round trips, memory, cold start."""
    import importlib.util
    from pathlib import Path

    from ops.core.config import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("serving_bench",
                                                  PROJECT_ROOT / "benchmarks" / "serving_bench.py")
    serving_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serving_bench)
    requests = _int_option("requests", requests, low=1)
    intra_op_threads = _int_option("intra-op-threads", intra_op_threads, low=1)
    cold_runs = _int_option("cold-runs", cold_runs, low=1)
    with user_errors():
        serving_bench.bench(Path(model) if model else None, requests=requests, threads=intra_op_threads,
                            cold_runs=cold_runs, out=Path(out) if out else None)


# ---------------------------------------------------------------- SageMaker's containers (issue 13)
@task(name="serve", iterable=["photo"], help={
    "model": "model.tar.gz or its folder (default: the artifact `invoke train` recorded)",
    "port": "host port forwarded into the container's namespace (default: a free one)",
    "workers": "TorchServe workers, SAGEMAKER_MODEL_SERVER_WORKERS (default: one per core)",
    "photo": "send this photo, print the answer (repeatable); then stop instead of serving on"})
def container_serve(c, model=None, port=None, workers=None, photo=None):
    """Serve a model in SageMaker's PyTorch inference container code (TorchServe), with no network."""
    import json
    import time
    from pathlib import Path

    from ops.core import artifact
    from ops.containers import container_serving, netns

    port = _int_option("port", port, low=1)
    workers = _int_option("workers", workers, low=1)
    with user_errors():
        path = Path(model) if model else artifact.recorded_artifact()
        with container_serving.serve(path, workers=workers, echo=print) as running:
            for name in photo or []:
                try:
                    status, _, body = running.invoke(Path(name).read_bytes(), "application/x-image")
                except OSError as exc:  # a missing photo, or no answer in time
                    raise Exit(f"error: {name}: {exc}\n{running.log_tail(10)}", code=1) from None
                if status == 200:
                    answer = json.loads(body)
                    best = max(range(len(answer)), key=answer.__getitem__)
                    print(f"{name}: 200, class {best} ({answer[best]:.3f})")
                else:
                    print(f"{name}: {status} {artifact.error_message(body)}")
            if photo:
                return
            forwarder = netns.Forwarder(running.namespace, container_serving.PORT, port or 0)
            print(f"serving {path} at {forwarder.url} (/ping, /invocations); logs: {running.log}; "
                  "Ctrl-C stops it")
            try:
                while running.process.poll() is None:
                    time.sleep(0.5)
                raise Exit(f"the container stopped:\n{running.log_tail()}")
            except KeyboardInterrupt:
                print("stopping")
            finally:
                forwarder.close()


@task(name="train", help={
    "data": "images root, one folder per breed (default: .dogs/data/Images)",
    "lst-dir": "folder from `invoke lst` with the LST files and classes.json (default: .dogs/lst)",
    "fold": "train on <name>_fold_<k>_train.lst / test on its _test.lst (folds from `invoke lst`)",
    "out": "folder for model.tar.gz, metrics.json and the container's log "
           "(default: .dogs/container/model)",
    "processes": "training processes, torch_distributed through torchrun (default 2; 1: a plain job)",
    "epochs": "override the epochs hyperparameter",
    "learning-rate": "override learning_rate",
    "batch-size": "override mini_batch_size",
    "backbone": "override backbone (resnet or efficientnet_lite0)",
    "set": "more hyperparameter overrides, key=value[,key=value...], e.g. optimizer=sgd,seed=1",
    "work": "the job's folder: its /opt/ml and the image's Python (default: a temporary one)",
    "keep": "keep the job's folder afterwards (a failed job's is always kept)",
    "config": "configuration file (default: config.yaml)",
})
def container_train(c, data=None, lst_dir=None, fold=None, out=None, processes=2, epochs=None,
                    learning_rate=None, batch_size=None, backbone=None, set=None, work=None, keep=False,
                    config=None):
    """Train in SageMaker's PyTorch training container code: its toolkit pip-installs and launches train.py."""
    from ops.containers import container_training
    from ops.core import state
    from ops.train import train_cli

    cfg = load_config(config)
    with user_errors():
        overrides = train_cli.overrides(epochs=epochs, learning_rate=learning_rate,
                                        batch_size=batch_size, backbone=backbone, extra=set)
        data_dir, lst = train_cli.inputs(data, lst_dir)
        run = container_training.train_in_container(
            cfg, data_dir=data_dir, lst_dir=lst, fold=train_cli.whole_number("fold", fold, low=1),
            out_dir=out or state.home() / "container" / "model", overrides=overrides,
            processes=train_cli.whole_number("processes", processes, low=1), work_dir=work, keep=keep,
            echo=print)
    train_cli.print_summary(run)
    print("container phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.phases.items())
          + f"; serve it: invoke container.serve --model {run.artifact}")


container = Collection("container", container_serve)
container.add_task(container_train)


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
