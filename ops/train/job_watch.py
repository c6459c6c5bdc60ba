"""Waiting for a SageMaker training job: status changes, its CloudWatch log lines (and the metrics they
print), the summary at the end; a job that fails or stops is `TrainingJobFailed` with its reason."""
from __future__ import annotations

import re
import time
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from ops.core.aws_clients import aws_errors
from training.errors import UserError

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")
# Our script prints `validation:accuracy=0.912`; SageMaker turns matching log lines into metrics.
# (The built-in algorithm publishes its own metrics and rejects MetricDefinitions: "You can't
# override the metric definitions for Amazon SageMaker algorithms".)
METRIC_NAMES = ("validation:accuracy", "train:accuracy", "validation:loss", "train:loss")
METRIC_DEFINITIONS = [{"Name": n, "Regex": f"{n}=([-+0-9.eE]+)"} for n in METRIC_NAMES]
# What the built-in algorithm logs, e.g. `Epoch[3] Validation-accuracy=0.873047`.
BUILTIN_LOG_METRICS = {"validation:accuracy": r"Validation-accuracy=([0-9.]+)",
                       "train:accuracy": r"Train-accuracy=([0-9.]+)"}


class TrainingJobFailed(UserError, RuntimeError):
    """A SageMaker job ended Failed or Stopped."""


def wait_for_training_job(client, name: str, *, logs=None, poll_seconds: float = 30,
                          sleep: Callable[[float], None] = time.sleep,
                          echo: Callable[[str], None] = print) -> dict:
    """Poll until the job ends, printing status changes and new log lines; raise if it fails."""
    tail = LogTail(logs, name, echo) if logs is not None else None
    last = None
    try:
        while True:
            with aws_errors(f"describing training job {name}"):
                described = client.describe_training_job(TrainingJobName=name)
            status = (described["TrainingJobStatus"], described.get("SecondaryStatus", ""))
            if status != last:
                echo(f"{name}: {status[0]} / {status[1]}{_status_message(described)}")
                last = status
            if tail:
                tail.poll()
            if status[0] in TERMINAL:
                break
            sleep(poll_seconds)
    except KeyboardInterrupt:
        echo(f"Stopped waiting; {name} keeps running (and billing). Stop it with: "
             f"aws sagemaker stop-training-job --training-job-name {name}")
        raise
    if status[0] != "Completed":
        reason = described.get("FailureReason") or "no reason given"
        echo(f"FailureReason: {reason}")
        raise TrainingJobFailed(f"training job {name} {status[0].lower()}: {reason}")
    _print_summary(described, tail, echo)
    return described


def _status_message(described: dict) -> str:
    transitions = described.get("SecondaryStatusTransitions") or []
    message = transitions[-1].get("StatusMessage") if transitions else ""
    return f" - {message}" if message else ""


def _print_summary(described: dict, tail: "LogTail | None", echo: Callable[[str], None]) -> None:
    for metric in described.get("FinalMetricDataList") or []:
        echo(f"final {metric['MetricName']} = {metric['Value']:g}")
    if tail and tail.metrics:
        echo("last logged: " + ", ".join(f"{k}={v:g}" for k, v in tail.metrics.items()))
    billable = described.get("BillableTimeInSeconds")
    seconds = described.get("TrainingTimeInSeconds")
    if billable and seconds:
        echo(f"training time {seconds} s, billable {billable} s "
             f"(managed spot saved {1 - billable / seconds:.0%})")


class LogTail:
    """Follows the job's CloudWatch log streams (`<job>/algo-N-...`), printing new lines once."""

    PATTERNS = ([(n, re.compile(d["Regex"])) for n, d in zip(METRIC_NAMES, METRIC_DEFINITIONS)]
                + [(n, re.compile(p)) for n, p in BUILTIN_LOG_METRICS.items()])

    def __init__(self, logs, job: str, echo: Callable[[str], None]):
        self.logs, self.job, self.echo = logs, job, echo
        self.tokens: dict[str, str | None] = {}
        self.metrics: dict[str, float] = {}

    def poll(self) -> None:
        try:
            streams = self.logs.describe_log_streams(
                logGroupName=LOG_GROUP, logStreamNamePrefix=f"{self.job}/")["logStreams"]
            for stream in streams:
                self._read(stream["logStreamName"])
        except (ClientError, BotoCoreError):
            pass  # logs are a courtesy: no log group yet or no permission must not stop the wait

    def _read(self, stream: str) -> None:
        while True:
            kwargs = {"logGroupName": LOG_GROUP, "logStreamName": stream, "startFromHead": True}
            if self.tokens.get(stream):
                kwargs["nextToken"] = self.tokens[stream]
            page = self.logs.get_log_events(**kwargs)
            for event in page["events"]:
                self._line(stream, event["message"].rstrip())
            token = page.get("nextForwardToken")
            if not page["events"] or token == self.tokens.get(stream):
                self.tokens[stream] = token
                return
            self.tokens[stream] = token

    def _line(self, stream: str, message: str) -> None:
        host = stream.split("/")[1] if "/" in stream else stream
        self.echo(f"  [{host}] {message}")
        for name, pattern in self.PATTERNS:
            match = pattern.search(message)
            if match:
                self.metrics[name] = float(match.group(1))
