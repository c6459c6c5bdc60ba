"""`invoke tune` against moto: the CreateHyperParameterTuningJob request, waiting, the best artifact."""
import json

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from ops.train import aws_tuning, job_watch
from ops.core import state
from training import hyperparameters as hp
from training.errors import UserError

from tests.fixtures.mocked_aws import REGION, SAGEMAKER_ROLE as ROLE


@pytest.fixture
def captured(mocked_aws):
    requests = []
    mocked_aws.events.register(
        "provide-client-params.sagemaker.CreateHyperParameterTuningJob",
        lambda params, **kw: requests.append(json.loads(json.dumps(params))))
    return requests


def _backend():
    return sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION]


def _finish_with_best(session, name, best_job):
    """What SageMaker does while we wait: runs trials, then names the best one."""
    session.client("sagemaker").create_training_job(
        TrainingJobName=best_job, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://b/dogs/output/"},
        ResourceConfig={"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1,
                        "VolumeSizeInGB": 70},
        StoppingCondition={"MaxRuntimeInSeconds": 60})
    job = _backend().hyper_parameter_tuning_jobs[name]
    job.hyper_parameter_tuning_job_status = "Completed"
    job.best_training_job = {
        "TrainingJobName": best_job, "TrainingJobStatus": "Completed",
        "TunedHyperParameters": {"learning_rate": "0.0005", "optimizer": "adam"},
        "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:accuracy",
                                                        "Value": 0.93}}


def _tune(cfg, inputs, session, **kwargs):
    images, lst_dir = inputs
    lines = []
    result = aws_tuning.tune_job(cfg, data_dir=images, lst_dir=lst_dir, session=session,
                                 poll_seconds=0, echo=lines.append, **kwargs)
    return result, lines


def _start_in_progress(session):
    def hold(http_response, parsed, model, **kwargs):
        name = parsed["HyperParameterTuningJobArn"].rsplit("/", 1)[1]
        _backend().hyper_parameter_tuning_jobs[name].hyper_parameter_tuning_job_status = \
            "InProgress"
    session.events.register("after-call.sagemaker.CreateHyperParameterTuningJob", hold)


def test_tuning_request_searches_the_ranges_for_validation_accuracy(
        cfg, training_inputs, mocked_aws, captured, training_source, dogs_home):
    _start_in_progress(mocked_aws)
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        _finish_with_best(mocked_aws, captured[0]["HyperParameterTuningJobName"], "trial-007")

    _tune(cfg, training_inputs, mocked_aws, algorithm="pytorch", max_jobs=12,
          max_parallel_jobs=3, sleep=sleep)

    (request,) = captured
    assert len(request["HyperParameterTuningJobName"]) <= 32
    job_config = request["HyperParameterTuningJobConfig"]
    assert job_config["Strategy"] == "Bayesian"
    assert job_config["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize", "MetricName": "validation:accuracy"}
    assert job_config["TrainingJobEarlyStoppingType"] == "Auto"
    assert job_config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 12,
                                            "MaxParallelTrainingJobs": 3}
    ranges = job_config["ParameterRanges"]
    assert {"Name": "learning_rate", "MinValue": "0.00001", "MaxValue": "0.01",
            "ScalingType": "Logarithmic"} in ranges["ContinuousParameterRanges"]
    categorical = {r["Name"]: r["Values"] for r in ranges["CategoricalParameterRanges"]}
    assert categorical == {"mini_batch_size": ["16", "32", "64"],
                           "optimizer": ["sgd", "adam", "rmsprop", "nag"]}
    definition = request["TrainingJobDefinition"]
    static = definition["StaticHyperParameters"]
    assert all(isinstance(v, str) for v in static.values())
    assert not set(aws_tuning.tuned_keys()) & set(static)
    assert static["sagemaker_program"] == '"training/train.py"' and static["epochs"] == "120"
    assert "validation:accuracy" in {m["Name"] for m in
                                     definition["AlgorithmSpecification"]["MetricDefinitions"]}
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 14400,
                                               "MaxWaitTimeInSeconds": 28800}
    assert "CheckpointConfig" not in definition  # trials must not share checkpoints
    assert [c["ContentType"] for c in definition["InputDataConfig"]] == ["application/x-image"] * 4
    assert {"Key": "Project", "Value": "dog-breeds"} in request["Tags"]
    assert sleeps == [0]


def test_the_best_trials_artifact_is_recorded(cfg, training_inputs, mocked_aws, captured,
                                              dogs_home):
    _start_in_progress(mocked_aws)

    def sleep(seconds):
        _finish_with_best(mocked_aws, captured[0]["HyperParameterTuningJobName"], "trial-003")

    result, lines = _tune(cfg, training_inputs, mocked_aws, algorithm="builtin", sleep=sleep)

    recorded = state.read("artifact")
    assert recorded["s3_uri"] == "s3://b/dogs/output/trial-003/output/model.tar.gz"
    assert (recorded["model_id"], recorded["job_name"], recorded["algorithm"]) == (
        "trial-003", "trial-003", "builtin")
    assert recorded["tuning_job"] == captured[0]["HyperParameterTuningJobName"]
    assert recorded["objective"] == 0.93
    assert result["s3_uri"] == recorded["s3_uri"]
    assert any(line.startswith("Best: trial-003 validation:accuracy=0.93") for line in lines)
    status_lines = [line for line in lines if line.startswith(recorded["tuning_job"] + ":")]
    assert [line.split(";")[0].split(": ")[1] for line in status_lines] == ["InProgress",
                                                                           "Completed"]


def test_builtin_tuning_sends_no_metric_definitions(cfg, training_inputs, mocked_aws, captured,
                                                    dogs_home):
    result, _ = _tune(cfg, training_inputs, mocked_aws, algorithm="builtin", dry_run=True)
    definition = result["request"]["TrainingJobDefinition"]
    assert "MetricDefinitions" not in definition["AlgorithmSpecification"]
    assert definition["StaticHyperParameters"]["num_layers"] == "50"
    assert captured == []


def test_failed_tuning_job_prints_the_reason(cfg, training_inputs, mocked_aws, captured,
                                             dogs_home):
    _start_in_progress(mocked_aws)

    def sleep(seconds):
        job = _backend().hyper_parameter_tuning_jobs[captured[0]["HyperParameterTuningJobName"]]
        job.hyper_parameter_tuning_job_status = "Failed"
        job.failure_reason = "All training jobs failed"

    with pytest.raises(job_watch.TrainingJobFailed, match="failed: All training jobs failed"):
        _tune(cfg, training_inputs, mocked_aws, algorithm="builtin", sleep=sleep)
    assert state.read("artifact") is None


def test_dry_run_prints_the_request_and_cost_per_job(cfg, training_inputs, mocked_aws, captured,
                                                     dogs_home):
    result, lines = _tune(cfg, training_inputs, mocked_aws, algorithm="builtin", dry_run=True,
                          max_jobs=4, max_parallel_jobs=2)
    assert captured == []
    assert json.loads(lines[0]) == result["request"]
    assert lines[1].startswith("Estimated cost: at most $5.89 on demand")
    assert lines[1].endswith("per training job; up to 4 jobs, 2 at a time")


@pytest.mark.parametrize("jobs, parallel", [(0, 0), (2, 3), (501, 1)])
def test_bad_job_limits(cfg, training_inputs, mocked_aws, jobs, parallel):
    with pytest.raises(UserError, match="need 1 <= parallel jobs <= jobs <= 500"):
        _tune(cfg, training_inputs, mocked_aws, max_jobs=jobs, max_parallel_jobs=parallel)


def test_every_range_bound_is_a_valid_hyperparameter_value(monkeypatch):
    aws_tuning.check_ranges()
    bad = {"ContinuousParameterRanges": [], "IntegerParameterRanges": [],
           "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["lbfgs"]}]}
    monkeypatch.setattr(aws_tuning, "PARAMETER_RANGES", bad)
    with pytest.raises(hp.HyperparameterError, match="optimizer"):
        aws_tuning.check_ranges()


def test_builtin_log_lines_feed_the_metrics():
    tail = job_watch.LogTail(None, "job", echo=lambda line: None)
    tail._line("job/algo-1", "[11/27/2026 INFO] Epoch[3] Validation-accuracy=0.873047")
    assert tail.metrics == {"validation:accuracy": 0.873047}
    tail._line("job/algo-1", "epoch 4 validation:accuracy=0.912 train:loss=1.5e-02")
    assert tail.metrics == {"validation:accuracy": 0.912, "train:loss": 0.015}
