"""SageMaker's own container code on this machine: `invoke container.serve`, `invoke container.train`."""
from __future__ import annotations

from invoke import Collection, Exit

from tasks import options
from tasks.command import command, load_config
from tasks.training import HYPERPARAMETER_HELP, INPUT_HELP


@command(name="serve", iterable=["photo"], parse={"port": options.PORT, "workers": options.COUNT}, help={
    "port": "host port forwarded into the container's namespace (default: a free one)",
    "workers": "TorchServe workers, SAGEMAKER_MODEL_SERVER_WORKERS (default: one per core)",
    "photo": "send this photo, print the answer (repeatable); then stop instead of serving on"})
def container_serve(c, model=None, port=None, workers=None, photo=None):
    """Serve a model in SageMaker's PyTorch inference container code (TorchServe), with no network."""
    import ops.containers.container_serving as container_serving

    if not container_serving.serve_command(model, workers=workers, port=port, photos=photo or []):
        raise Exit(code=1)


@command(name="train", parse={"fold": options.COUNT, "processes": options.COUNT}, help={
    **INPUT_HELP, **HYPERPARAMETER_HELP,
    "out": "folder for model.tar.gz, metrics.json and the container's log "
           "(default: .dogs/container/model)",
    "processes": "training processes, torch_distributed through torchrun (default 2; 1: a plain job)",
    "work": "the job's folder: its /opt/ml and the image's Python (default: a temporary one)",
    "keep": "keep the job's folder afterwards (a failed job's is always kept)",
})
def container_train(c, data=None, lst_dir=None, fold=None, out=None, processes=2, epochs=None,
                    learning_rate=None, batch_size=None, backbone=None, set=None, work=None, keep=False,
                    config=None):
    """Train in SageMaker's PyTorch training container code: its toolkit pip-installs and launches train.py."""
    import ops.containers.container_training as container_training
    import ops.core.state as state
    import ops.train.train_cli as train_cli

    cfg = load_config(config)
    overrides = train_cli.overrides(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                                    backbone=backbone, extra=set)
    data_dir, lst_dir = train_cli.inputs(data, lst_dir)
    run = container_training.train_in_container(
        cfg, data_dir=data_dir, lst_dir=lst_dir, fold=fold, overrides=overrides,
        out_dir=out or state.home() / "container" / "model", processes=processes, work_dir=work,
        keep=keep, echo=print)
    train_cli.print_summary(run)
    print("container phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.phases.items())
          + f"; serve it: invoke container.serve --model {run.artifact}")


container = Collection("container", container_serve)
container.add_task(container_train)
