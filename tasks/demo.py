"""The whole system in one command: `invoke demo`."""
from __future__ import annotations

from tasks import options
from tasks.command import command


@command(parse={"train_per_breed": options.COUNT, "photos_per_breed": options.COUNT}, help={
    "data": "your photos, one folder per breed (default: 10 breeds of Stanford Dogs, downloaded once "
            "into .dogs/data; a checkout with the developers' dogs-10 sample beside it uses that)",
    "keep": "leave the local AWS, endpoint and API running and print the URL and API key",
    "train-per-breed": "training photos per breed for the quick training (default 15)",
    "photos-per-breed": "test photos per breed to predict at the end (default 2)",
    "verbose": "print every step's details and Terraform's output (default: one line a step, "
               "Terraform's output in .dogs/demo/terraform.log)",
})
def demo(c, data=None, keep=False, train_per_breed=15, photos_per_breed=2, verbose=False):
    """The whole system in one command: photos → LST → quick training → Terraform → API → predictions."""
    from rich.console import Console

    import ops.demo as demo_lib

    console = Console()
    result = demo_lib.run(data, keep=keep, train_per_breed=train_per_breed,
                          photos_per_breed=photos_per_breed, console=console, verbose=verbose)
    demo_lib.print_result(result, keep, console)
