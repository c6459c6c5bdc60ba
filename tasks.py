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

    from ops import predict_client

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
})
def serve(c, stop=False, background=False, endpoint_port=None, api_port=None):
    """Serve the locally deployed stack: local endpoint (the deployed model) + local API (the Lambda)."""
    import time

    from ops import serving

    if stop:
        print("stopped" if serving.stop() else "nothing was running")
        return
    with user_errors():
        if serving.running():
            raise serving.ServingError("already serving; `invoke serve --stop` first")
        deployment = serving.local_deployment()
        served = serving.start(deployment, endpoint_port and int(endpoint_port),
                               api_port and int(api_port))
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
