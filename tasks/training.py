"""LST files + photos → model.tar.gz: `invoke train` (here or on SageMaker) and `invoke tune`."""
from __future__ import annotations

from tasks import options
from tasks.command import command, load_config

ALGORITHMS = options.Choice(("pytorch", "builtin"))
HYPERPARAMETER_HELP = {
    "epochs": "override the epochs hyperparameter",
    "learning-rate": "override learning_rate",
    "batch-size": "override mini_batch_size",
    "backbone": "override backbone (resnet or efficientnet_lite0)",
    "set": "more hyperparameter overrides, key=value[,key=value...], e.g. optimizer=sgd,seed=1",
}
INPUT_HELP = {
    "data": "images root, one folder per breed (default: .dogs/data/Images)",
    "lst-dir": "folder from `invoke lst` with the LST files and classes.json (default: .dogs/lst)",
    "fold": "train on <name>_fold_<k>_train.lst / test on its _test.lst (folds from `invoke lst`)",
}


@command(parse={"target": options.TARGET, "algorithm": ALGORITHMS, "fold": options.COUNT,
                "processes": options.COUNT}, help={
    **INPUT_HELP, **HYPERPARAMETER_HELP,
    "out": "folder for model.tar.gz and metrics.json (default: .dogs/model)",
    "target": "local: train on this machine; aws: a SageMaker training job",
    "algorithm": "aws only: pytorch (our training/ script, default) or builtin (image classification)",
    "processes": "local only: data-parallel processes (torchrun, gloo); default 1",
    "fresh": "local only: ignore (delete) the checkpoint of an earlier interrupted run",
    "dry-run": "aws only: print the job request and its estimated cost instead of starting it",
    "role": "aws only: SageMaker execution role ARN (default: aws.role_arn, else the training_role_arn "
            "of `invoke deploy --target aws`)",
})
def train(c, data=None, lst_dir=None, fold=None, out=None, target="local", algorithm="pytorch",
          epochs=None, learning_rate=None, batch_size=None, backbone=None, set=None, processes=1,
          fresh=False, config=None, dry_run=False, role=None):
    """Train a breed classifier from LST files + photos into model.tar.gz (locally or on SageMaker)."""
    import ops.train.train_cli as train_cli

    cfg = load_config(config)
    overrides = train_cli.overrides(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                                    backbone=backbone, extra=set)
    run = train_cli.train(cfg, target=target, algorithm=algorithm, data=data, lst_dir=lst_dir, fold=fold,
                          out=out, overrides=overrides, processes=processes, fresh=fresh,
                          dry_run=dry_run, role=role)
    if run is not None:
        train_cli.print_summary(run)


@command(parse={"fold": options.COUNT, "max_jobs": options.Integer(),
                "max_parallel_jobs": options.Integer(), "instance_count": options.Integer()}, help={
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
})
def tune(c, data, lst_dir=None, fold=None, algorithm="pytorch", max_jobs=10, max_parallel_jobs=2,
         role=None, instance_type=None, instance_count=None, dry_run=False, wait=True, config=None):
    """Tune learning rate, batch size, optimizer... on SageMaker; record the best model."""
    import ops.train.aws_tuning as aws_tuning
    import ops.core.state as state

    overrides = {k: v for k, v in (("role_arn", role), ("instance_type", instance_type),
                                   ("instance_count", instance_count)) if v not in (None, "")}
    aws_tuning.tune_job(load_config(config), data_dir=data, lst_dir=lst_dir or state.home() / "lst",
                        fold=fold, algorithm=algorithm, max_jobs=max_jobs,
                        max_parallel_jobs=max_parallel_jobs, dry_run=dry_run, overrides=overrides,
                        wait=wait)
