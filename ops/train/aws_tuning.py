"""Tune hyperparameters with a SageMaker hyperparameter tuning job (`invoke tune`).

The training jobs it launches are the ones `invoke train --target aws` would run (same data layout,
image, channels, spot settings), with the ranges below searched by Bayesian optimisation for the highest
`validation:accuracy`; SageMaker's early stopping ends trials that are clearly worse than earlier ones.
The best trial's model artifact is recorded for `invoke deploy`.
"""
from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from ops.core import config as config_mod
from ops.core.aws_clients import aws_errors, session_for
from ops.train.aws_training import JobPlan, plan_job, record_artifact
from ops.train.job_inputs import upload_inputs
from ops.train.job_watch import TrainingJobFailed
from training import hyperparameters as hp
from training.errors import UserError

OBJECTIVE = {"Type": "Maximize", "MetricName": "validation:accuracy"}
# The search space. Values are strings, as SageMaker wants them; every bound is a valid value of the
# key (tests check this against training.hyperparameters).
PARAMETER_RANGES = {
    "ContinuousParameterRanges": [
        {"Name": "learning_rate", "MinValue": "0.00001", "MaxValue": "0.01",
         "ScalingType": "Logarithmic"},
        {"Name": "weight_decay", "MinValue": "0.000001", "MaxValue": "0.001",
         "ScalingType": "Logarithmic"},
        {"Name": "momentum", "MinValue": "0.8", "MaxValue": "0.99", "ScalingType": "Linear"},
    ],
    "IntegerParameterRanges": [],
    "CategoricalParameterRanges": [
        {"Name": "mini_batch_size", "Values": ["16", "32", "64"]},
        {"Name": "optimizer", "Values": ["sgd", "adam", "rmsprop", "nag"]},
    ],
}
TERMINAL = ("Completed", "Failed", "Stopped")


def tuned_keys() -> list[str]:
    return [r["Name"] for ranges in PARAMETER_RANGES.values() for r in ranges]


def tune_job(cfg: config_mod.Config, *, data_dir: str | Path, lst_dir: str | Path,
             fold: int | None = None, algorithm: str = "pytorch", max_jobs: int = 10,
             max_parallel_jobs: int = 2, dry_run: bool = False,
             overrides: Mapping[str, Any] | None = None, wait: bool = True, session=None,
             poll_seconds: float = 60, sleep: Callable[[float], None] = time.sleep,
             echo: Callable[[str], None] = print) -> dict:
    """Run (or, with dry_run, print) a tuning job; record the best training job's artifact."""
    if not 1 <= max_parallel_jobs <= max_jobs <= 500:
        raise UserError(f"--max-jobs {max_jobs} / --max-parallel-jobs {max_parallel_jobs}: need "
                        "1 <= parallel jobs <= jobs <= 500")
    plan = plan_job(cfg, data_dir=data_dir, lst_dir=lst_dir, fold=fold, algorithm=algorithm,
                    overrides=overrides, session=session, dry_run=dry_run, echo=echo)
    request = tuning_request(plan, tuning_job_name(algorithm), max_jobs, max_parallel_jobs)
    if dry_run:
        cost = plan.cost()
        echo(json.dumps(request, indent=2))
        echo(f"{cost.describe()} per training job; up to {max_jobs} jobs, "
             f"{max_parallel_jobs} at a time")
        return {"dry_run": True, "request": request, "cost": cost.as_dict()}
    session = session_for(plan.region, session)
    upload_inputs(plan, session, echo=echo)
    client = session.client("sagemaker")
    name = request["HyperParameterTuningJobName"]
    with aws_errors(f"creating tuning job {name}"):
        client.create_hyper_parameter_tuning_job(**request)
    echo(f"Tuning job {name} created: https://{plan.region}.console.aws.amazon.com/sagemaker/"
         f"home?region={plan.region}#/hyper-tuning-jobs/{name}")
    if not wait:
        return {"tuning_job": name, "status": "InProgress"}
    described = wait_for_tuning_job(client, name, poll_seconds=poll_seconds, sleep=sleep, echo=echo)
    best = described["BestTrainingJob"]
    with aws_errors(f"describing training job {best['TrainingJobName']}"):
        job = client.describe_training_job(TrainingJobName=best["TrainingJobName"])
    objective = best.get("FinalHyperParameterTuningJobObjectiveMetric", {})
    echo(f"Best: {best['TrainingJobName']} {objective.get('MetricName', '')}="
         f"{objective.get('Value', '?')} with {best.get('TunedHyperParameters', {})}")
    return record_artifact(job, plan.algorithm, echo=echo, extra={
        "tuning_job": name, "objective": objective.get("Value"),
        "tuned_hyperparameters": best.get("TunedHyperParameters", {})})


def tuning_job_name(algorithm: str) -> str:
    """Unique and within the 32 characters SageMaker allows: dogs-pt-261127-154012-a1b2."""
    short = {"builtin": "bi", "pytorch": "pt"}[algorithm]
    return f"dogs-{short}-{time.strftime('%y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def tuning_request(plan: JobPlan, name: str, max_jobs: int, max_parallel_jobs: int) -> dict:
    static = {k: v for k, v in plan.hyperparameters.items() if k not in tuned_keys()}
    definition = {
        "StaticHyperParameters": static,
        "AlgorithmSpecification": plan.algorithm_specification(tuning=True),
        **plan.common(),
        # No CheckpointConfig: the API gives one S3 URI to every trial, and a trial must never
        # resume from another's checkpoint; an interrupted spot trial restarts from scratch.
    }
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": OBJECTIVE,
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs,
                               "MaxParallelTrainingJobs": max_parallel_jobs},
            "ParameterRanges": PARAMETER_RANGES,
            "TrainingJobEarlyStoppingType": "Auto",
        },
        "TrainingJobDefinition": definition,
        "Tags": plan.tags(),
    }


def wait_for_tuning_job(client, name: str, *, poll_seconds: float = 60,
                        sleep: Callable[[float], None] = time.sleep,
                        echo: Callable[[str], None] = print) -> dict:
    """Poll until the tuning job ends, printing status and trial counts as they change."""
    last = None
    while True:
        with aws_errors(f"describing tuning job {name}"):
            described = client.describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name)
        status = described["HyperParameterTuningJobStatus"]
        counts = described.get("TrainingJobStatusCounters", {})
        seen = (status, tuple(sorted(counts.items())))
        if seen != last:
            echo(f"{name}: {status}; trials " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            last = seen
        if status in TERMINAL:
            break
        sleep(poll_seconds)
    if status != "Completed" or not described.get("BestTrainingJob"):
        reason = described.get("FailureReason") or "no training job completed"
        echo(f"FailureReason: {reason}")
        raise TrainingJobFailed(f"tuning job {name} {status.lower()}: {reason}")
    return described


def check_ranges() -> None:
    """Every range bound and category must be a valid value of its hyperparameter."""
    for ranges in PARAMETER_RANGES.values():
        for r in ranges:
            for value in r.get("Values", [r.get("MinValue"), r.get("MaxValue")]):
                hp.parse_value(r["Name"], value)
