"""The embedded default on this machine: `invoke local.up/down/status` (the local AWS) and `invoke serve`."""
from __future__ import annotations

from invoke import Collection, Exit

from tasks import options
from tasks.command import command


@command(parse={"port": options.PORT},
         help={"port": "port on 127.0.0.1 (default: a free one); an error if it is taken"})
def up(c, port=None):
    """Start the local AWS (a patched moto server on 127.0.0.1); idempotent."""
    import ops.emulator.local_aws as local_aws

    running = local_aws.up(port)
    print(f"local AWS: {running.url} (pid {running.pid}; log {local_aws.log_file()})")


@command
def down(c):
    """Stop the local AWS (everything in it is gone)."""
    import ops.emulator.local_aws as local_aws

    print("local AWS stopped" if local_aws.down() else "local AWS was not running")


@command
def status(c):
    """Say whether the local AWS runs, and where."""
    import ops.emulator.local_aws as local_aws

    running = local_aws.status()
    if running is None:
        raise Exit("local AWS: not running (`invoke local.up`)", code=1)
    print(f"local AWS: {running.url} (pid {running.pid}; log {local_aws.log_file()})")


@command(parse={"endpoint_port": options.PORT, "api_port": options.PORT}, help={
    "stop": "stop the servers a previous `invoke serve --background` left running",
    "background": "start them in the background and return (stop with `invoke serve --stop`)",
    "endpoint-port": "the local endpoint's port (default: a free one)",
    "api-port": "the local API's port (default: a free one)",
    "container": "the endpoint answers through SageMaker's own serving container (TorchServe, no "
                 "network; needs root and Java) instead of the model in-process",
})
def serve(c, stop=False, background=False, endpoint_port=None, api_port=None, container=False):
    """Serve the locally deployed stack: local endpoint (the deployed model) + local API (the Lambda)."""
    import ops.emulator.serving as serving

    if stop:
        print("stopped" if serving.stop() else "nothing was running")
        return
    serving.serve(endpoint_port, api_port, container=container, background=background)


local = Collection("local")
local.add_task(up, "up", default=True)
local.add_task(down, "down")
local.add_task(status, "status")
