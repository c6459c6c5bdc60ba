"""`invoke demo`: the whole system on the embedded default, in one command.

photos → LST files → a quick local training → local AWS up → `terraform apply` → local endpoint and API
up → predictions for a few test photos → everything stopped (unless `keep`). Each step is the same
library call the step's own command makes; this module only strings them together and reports.
"""
from __future__ import annotations

import random
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, TextIO

from ops.core.config import PROJECT_ROOT
from training.errors import UserError

# The developers' and CI's 10-breed sample, beside a checkout (../shared/data): offline, where Stanford
# Dogs cannot be downloaded.
DOGS10 = PROJECT_ROOT.parent / "shared" / "data" / "dogs-10" / "Images"
# Quick training on a laptop CPU: the ImageNet backbone frozen, its features computed once, the new
# head started from the ImageNet classifier's rows for these breeds, small images, a few epochs: about a
# minute of CPU for 10 breeds (computing the backbone's features is nearly all of it).
QUICK_HYPERPARAMETERS = {
    "backbone": "efficientnet_lite0", "use_pretrained_model": 1, "trainable_blocks": 0,
    "cache_features": 1, "head_init": "imagenet", "optimizer": "adam", "learning_rate": 0.001,
    "epochs": 4, "early_stopping": False, "mini_batch_size": 32, "image_shape": "3,128,128",
    "resize": 146,
}


def train_quick(data: Path, lst_dir: Path, out_dir: Path, log_path: Path) -> dict:
    """Train locally with the quick settings (config.yaml's, then QUICK_HYPERPARAMETERS) and record the
    artifact the way `invoke train` does, for `invoke deploy` to find."""
    from ops.core import config, state
    from ops.train.local_train import train_local
    from training import hyperparameters as hp

    values = hp.validate({**config.load().training_hyperparameters("local"), **QUICK_HYPERPARAMETERS})
    run = train_local(data_dir=data, lst_dir=lst_dir, out_dir=out_dir, hyperparameters=values,
                      work_dir=out_dir / "work", log_path=log_path, progress=True)
    artifact = state.record_trained(state.TrainedArtifact(
        model_id=run.model_id, algorithm="pytorch", local_path=str(run.artifact.resolve())))
    return {**artifact.as_dict(), "accuracy": (run.metrics.get("best") or {}).get("validation_accuracy")}


def deploy_local(terraform_output: TextIO | None = None, echo: Callable[[str], None] = print) -> dict:
    """`invoke deploy --target local`: Terraform applies the stack to the local AWS."""
    from ops.core import config
    from ops.deploy import stack as deploy, served_model

    return deploy.deploy(deploy.settings(config.load(), "local"), served_model.find_model(),
                         auto_approve=True, echo=echo, terraform_output=terraform_output)


class DemoError(UserError, RuntimeError):
    """A demo step failed; the message says which and why."""


@dataclass
class Prediction:
    photo: Path
    truth: str
    breed: str
    probability: float
    error: str = ""

    @property
    def correct(self) -> bool:
        return not self.error and self.breed == self.truth


@dataclass
class DemoResult:
    predictions: list[Prediction]
    model_id: str
    predict_url: str
    api_key: str
    timings: dict[str, float] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def correct(self) -> int:
        return sum(p.correct for p in self.predictions)


def photos_root(data: str | Path | None, home: Path) -> Path:
    """--data, else the dogs-10 sample beside a checkout, else Stanford Dogs (10 breeds) downloaded."""
    if data:
        return Path(data)
    if DOGS10.is_dir():
        return DOGS10
    from ops.data import download

    return download.download(home / "data", breeds=10).images


def quick_lst(data: Path, out: Path, train_per_breed: int, test_per_breed: int, seed: int = 0):
    """LST files for all photos (`invoke lst`), then both lists cut to a few photos a breed."""
    from training import lst

    result = lst.render(data, out, seed=seed, name="demo")
    split = result.splits[0]
    for path, per_breed in ((split.train, train_per_breed), (split.test, test_per_breed)):
        kept: dict[int, int] = {}
        entries = []
        for entry in lst.read_lst(path):
            if kept.get(entry.class_id, 0) < per_breed:
                kept[entry.class_id] = kept.get(entry.class_id, 0) + 1
                entries.append(entry)
        lst.write_lst(path, entries)
    return result


def test_photos(lst_result, data: Path, per_breed: int, seed: int = 0) -> list[tuple[Path, str]]:
    """A few photos of each breed from the test list (never trained on): (path, true breed)."""
    from training import lst

    names = {c.id: c.name for c in lst_result.classes}
    by_class: dict[int, list] = {}
    for entry in lst.read_lst(lst_result.splits[0].test):
        by_class.setdefault(entry.class_id, []).append(entry)
    rng = random.Random(seed)
    chosen = []
    for class_id in sorted(by_class):
        for entry in rng.sample(by_class[class_id], min(per_breed, len(by_class[class_id]))):
            chosen.append((data / entry.path, names[class_id]))
    return chosen


class Steps:
    """Each step as one line when done (what it made, its time); while it runs, a spinner with the time
    it has taken, or a bar where the count is known (`count`). `verbose`: each step's name first, its
    details on lines of their own, and Terraform's output on screen rather than in the log."""

    def __init__(self, console, verbose: bool = False):
        self.console, self.verbose = console, verbose
        self.timings: dict[str, float] = {}
        self.progress, self.task = None, None

    def _progress(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TimeElapsedColumn

        # A log or a pipe gets the steps' lines only (a live display there is a blank line per step).
        return Progress(SpinnerColumn(), "{task.description}", BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=self.console, transient=True,
                        disable=not self.console.is_terminal)

    @contextmanager
    def __call__(self, name: str) -> Iterator[list[str]]:
        """Yields a list: what the step appends to it is said on its line."""
        said: list[str] = []
        if self.verbose:
            self.console.print(f"[bold]{name}[/bold] ...")
        started = time.monotonic()
        self.progress = self._progress()
        with self.progress:
            self.task = self.progress.add_task(name, total=None)
            try:
                yield said
            except UserError as exc:
                raise DemoError(f"{name}: {exc}") from None
            finally:
                self.progress.remove_task(self.task)
                self.progress, self.task = None, None
        self.timings[name] = round(time.monotonic() - started, 1)
        if self.verbose:
            for line in said:
                self.console.print(f"  {line}", highlight=False)
            self.console.print(f"  done in {self.timings[name]:.0f} s")
        else:
            self.console.print(f"[green]✓[/green] [bold]{name}[/bold]: {'; '.join(said)} "
                               f"[dim]({self.timings[name]:.0f} s)[/dim]", highlight=False)

    def count(self, total: int | None = None, advance: int = 0) -> None:
        """The running step's bar: how many there are (`total`), one more done (`advance`)."""
        if self.task is not None:
            self.progress.update(self.task, total=total or self.progress.tasks[0].total, advance=advance)


class TerraformLog:
    """Terraform's streamed output into a log file, counting the resources it finishes for the bar."""
    PLANNED = re.compile(r"^Plan: (\d+) to add, (\d+) to change, (\d+) to destroy")
    FINISHED = re.compile(r": (Creation|Modifications|Destruction) complete after ")

    def __init__(self, path: Path, steps: Steps):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.steps, self.total = path, steps, None
        self.file = open(path, "a")

    def write(self, line: str) -> None:
        self.file.write(line)
        planned = self.PLANNED.match(line)
        if planned:
            self.total = sum(int(n) for n in planned.groups())
            self.steps.count(total=self.total)
        elif self.FINISHED.search(line):
            self.steps.count(advance=1)

    def say(self, message: str) -> None:
        self.write(message + "\n")

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def run(data: str | Path | None = None, *, keep: bool = False, train_per_breed: int = 15,
        photos_per_breed: int = 2, console=None, verbose: bool = False) -> DemoResult:
    from rich.console import Console

    from ops.emulator import local_aws, serving
    from ops.client import predict_client
    from ops.core import state

    console = console or Console()
    home = state.home()
    work = home / "demo"
    steps = Steps(console, verbose)
    logs = {"training": work / "train.log", "Terraform": work / "terraform.log"}
    with steps("photos") as said:
        data = photos_root(data, home)
        said.append(str(data))
    with steps("LST files (invoke lst)") as said:
        lst_result = quick_lst(data, work / "lst", train_per_breed, test_per_breed=5)
        said.append(f"{len(lst_result.classes)} breeds; training on {train_per_breed} photos a breed")
    with steps("quick local training (invoke train)") as said:
        artifact = train_quick(data, work / "lst", work / "model", logs["training"])
        accuracy = artifact.get("accuracy")
        said.append(f"model {artifact['model_id']}" + (f", {accuracy:.0%} on its validation photos"
                                                       if accuracy is not None else ""))
    stack_up, finished = False, False
    terraform_log = None if verbose else TerraformLog(logs["Terraform"], steps)
    try:
        with steps("local AWS up (invoke local.up)") as said:
            aws = local_aws.up()
            stack_up = True
            said.append(aws.url)
        with steps("terraform apply (invoke deploy --target local)") as said:
            deploy_local(terraform_log, echo=terraform_log.say if terraform_log else print)
            if terraform_log:
                said.append(f"{terraform_log.total or 0} resources changed")
        with steps("local endpoint and API up (invoke serve)") as said:
            served = serving.start(serving.local_deployment())
            api_key = serving.local_deployment().api_key
            said.append(f"POST {served.predict_url}")
        with steps("predictions for test photos (invoke predict)") as said:
            photos = test_photos(lst_result, data, photos_per_breed)
            results = predict_client.predict(served.predict_url, api_key, [p for p, _ in photos],
                                             top_k=3)
            said.append(f"{len(photos)} photos the training never saw")
        predictions = [Prediction(photo, truth, r.top[0]["breed"] if r.top else "",
                                  r.top[0]["probability"] if r.top else 0.0,
                                  r.error["message"] if r.error else "")
                       for (photo, truth), r in zip(photos, results)]
        finished = True
        return DemoResult(predictions, artifact["model_id"], served.predict_url, api_key, steps.timings,
                          {k: v for k, v in logs.items() if v.exists()})
    finally:
        if terraform_log:
            terraform_log.close()
        if stack_up and not (keep and finished):
            with steps("stopping the local endpoint, API and AWS") as said:
                serving.stop()
                local_aws.down()
                said.append("nothing left running")


def print_result(result: DemoResult, keep: bool, console=None) -> None:
    """The API's predictions for the test photos, right or wrong, the steps' times, and (keep) the URL."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"predictions by the API (model {result.model_id})", title_justify="left")
    for column in ("photo", "true breed", "predicted", "probability", ""):
        table.add_column(column)
    for p in result.predictions:
        table.add_row(p.photo.name, p.truth, p.breed or p.error, f"{p.probability:.1%}",
                      "[green]✓[/green]" if p.correct else "[red]✗[/red]")
    console.print(table)
    console.print(f"{result.correct} of {len(result.predictions)} test photos right, in "
                  f"{sum(result.timings.values()):.0f} s", highlight=False)
    if result.logs:
        console.print("logs: " + ", ".join(f"{name} {path}" for name, path in result.logs.items()),
                      highlight=False, soft_wrap=True)
    if keep:
        console.print(f"still running. POST {result.predict_url} with header x-api-key: {result.api_key}\n"
                      "try: invoke predict PHOTO.jpg; stop: invoke serve --stop && invoke local.down",
                      highlight=False, soft_wrap=True)
