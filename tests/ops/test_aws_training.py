"""`invoke train --target aws` against moto: uploads, the exact CreateTrainingJob request, waiting."""
import io
import json
import re
import tarfile
import time

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from ops.train import aws_training, job_inputs, job_watch
from ops.core import naming, state
from ops.core.aws_clients import AwsError
from training import hyperparameters as hp
from training.errors import UserError

from tests.fixtures.mocked_aws import REGION, SAGEMAKER_ROLE as ROLE


@pytest.fixture
def captured(mocked_aws):
    """Every CreateTrainingJob request, exactly as our code handed it to botocore."""
    requests = []
    mocked_aws.events.register("provide-client-params.sagemaker.CreateTrainingJob",
                               lambda params, **kw: requests.append(json.loads(json.dumps(params))))
    return requests


def _train(cfg, inputs, session, **kwargs):
    images, lst_dir = inputs
    lines = []
    result = aws_training.train_job(cfg, data_dir=images, lst_dir=lst_dir, session=session,
                                    poll_seconds=0, echo=lines.append, **kwargs)
    return result, lines


def _backend_job(name):
    return sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].training_jobs[name]


def test_builtin_request_is_the_originals_job(cfg, training_inputs, mocked_aws, captured,
                                              data_bucket, dogs_home):
    result, _ = _train(cfg, training_inputs, mocked_aws, algorithm="builtin")

    (request,) = captured
    name = request["TrainingJobName"]
    assert re.fullmatch(r"dog-breeds-builtin-\d{8}-\d{6}-[0-9a-f]{4}", name)
    assert request["AlgorithmSpecification"] == {
        "TrainingImage": "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1",
        "TrainingInputMode": "File"}  # no MetricDefinitions: SageMaker rejects them for built-ins
    base = f"s3://{data_bucket}/dogs/"
    assert [(c["ChannelName"], c["DataSource"]["S3DataSource"]["S3Uri"])
            for c in request["InputDataConfig"]] == [
        ("train", base + "images/"), ("validation", base + "images/"),
        ("train_lst", base + "train_lst/dogs/dogs_train.lst"),
        ("validation_lst", base + "validation_lst/dogs/dogs_test.lst")]
    for channel in request["InputDataConfig"]:
        assert channel["ContentType"] == "application/x-image"
        assert channel["DataSource"]["S3DataSource"]["S3DataType"] == "S3Prefix"
        assert channel["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "FullyReplicated"
    hyper = request["HyperParameters"]
    assert all(isinstance(v, str) for v in hyper.values())
    assert set(hyper) == set(hp.ORIGINAL_KEYS) | {"resize", "top_k"}
    assert (hyper["num_classes"], hyper["num_training_samples"]) == ("2", "4")
    assert (hyper["early_stopping"], hyper["learning_rate"], hyper["image_shape"],
            hyper["resize"]) == ("true", "0.0001", "3,224,224", "256")
    assert request["ResourceConfig"] == {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 2,
                                         "VolumeSizeInGB": 70}
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 4 * 3600,
                                            "MaxWaitTimeInSeconds": 8 * 3600}
    assert request["CheckpointConfig"] == {"S3Uri": f"{base}checkpoints/{name}/",
                                           "LocalPath": "/opt/ml/checkpoints"}
    assert request["OutputDataConfig"] == {"S3OutputPath": base + "output/"}
    assert request["RoleArn"] == ROLE
    assert {"Key": "Project", "Value": "dog-breeds"} in request["Tags"]
    assert {"Key": "algorithm", "Value": "builtin"} in request["Tags"]
    # what moto (the AWS API) holds
    held = mocked_aws.client("sagemaker").describe_training_job(TrainingJobName=name)
    assert held["HyperParameters"] == hyper and held["EnableManagedSpotTraining"] is True
    assert held["CheckpointConfig"] == request["CheckpointConfig"]
    assert result["s3_uri"] == f"{base}output/{name}/output/model.tar.gz"


def test_completed_job_records_its_artifact(cfg, training_inputs, mocked_aws, dogs_home,
                                            data_bucket):
    result, lines = _train(cfg, training_inputs, mocked_aws, algorithm="builtin")

    recorded = state.read("artifact")
    name = result["job_name"]
    assert recorded == {"s3_uri": f"s3://{data_bucket}/dogs/output/{name}/output/model.tar.gz",
                        "model_id": name, "job_name": name, "algorithm": "builtin",
                        "region": REGION}
    assert (dogs_home / "state.json").exists()
    assert any(line.startswith("Artifact: s3://") for line in lines)


def test_inputs_are_uploaded_in_the_originals_layout(cfg, training_inputs, mocked_aws,
                                                     data_bucket, dogs_home):
    images, _ = training_inputs
    (images / "n02088364-beagle" / "left_out_by_invoke_lst.jpg").write_bytes(b"blurry")

    _, lines = _train(cfg, training_inputs, mocked_aws, algorithm="builtin")

    listing = mocked_aws.client("s3").list_objects_v2(Bucket=data_bucket, Prefix="dogs/")
    keys = {o["Key"] for o in listing["Contents"]}
    assert "dogs/images/n02088364-beagle/n02088364_0.jpg" in keys
    assert {"dogs/train_lst/dogs/dogs_train.lst", "dogs/validation_lst/dogs/dogs_test.lst",
            "dogs/train_lst/dogs/classes.json"} <= keys
    assert sum(k.startswith("dogs/images/") for k in keys) == 6  # only the photos the LSTs list
    assert f"photos: 6 uploaded (0.0 MB), 0 already there -> s3://{data_bucket}/dogs/images/" \
        in lines


def test_second_run_uploads_nothing(cfg, training_inputs, mocked_aws, training_source, dogs_home):
    _train(cfg, training_inputs, mocked_aws, algorithm="pytorch", overrides={"instance_count": 1})
    puts = []
    mocked_aws.events.register("before-call.s3.PutObject", lambda **kw: puts.append(kw))

    _, lines = _train(cfg, training_inputs, mocked_aws, algorithm="pytorch",
                      overrides={"instance_count": 1})

    assert puts == []
    assert any(line.startswith("photos: 0 uploaded (0.0 MB), 6 already there") for line in lines)
    assert any(line.startswith("source: 0 uploaded (0.0 MB), 1 already there") for line in lines)


def test_pytorch_request_runs_our_script_like_the_sdk(cfg, training_inputs, mocked_aws, captured,
                                                      data_bucket, training_source, dogs_home):
    _train(cfg, training_inputs, mocked_aws, algorithm="pytorch")

    (request,) = captured
    spec = request["AlgorithmSpecification"]
    assert spec["TrainingImage"] == ("763104351884.dkr.ecr.us-east-1.amazonaws.com/"
                                     "pytorch-training:2.5.1-gpu-py311")
    hyper = request["HyperParameters"]
    assert all(isinstance(v, str) for v in hyper.values())
    assert hyper["sagemaker_program"] == '"training/train.py"'
    assert hyper["sagemaker_region"] == '"us-east-1"'
    assert hyper["sagemaker_job_name"] == json.dumps(request["TrainingJobName"])
    assert hyper["sagemaker_torch_distributed_enabled"] == "true"  # 2 instances
    assert hyper["sagemaker_instance_type"] == '"ml.g4dn.xlarge"'
    # the aws hyperparameters: the local overrides (efficientnet_lite0) are not applied
    assert hyper["backbone"] == "resnet" and hyper["num_classes"] == "2"
    assert {"seed", "optimizer", "lr_scheduler_step"} <= set(hyper)
    # the channels our script reads (LST folders include the class map)
    assert [c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]][2:] == [
        f"s3://{data_bucket}/dogs/train_lst/dogs/", f"s3://{data_bucket}/dogs/validation_lst/dogs/"]
    assert {c["ContentType"] for c in request["InputDataConfig"]} == {"application/x-image"}
    # metrics SageMaker scrapes from our log lines
    regex = {m["Name"]: m["Regex"] for m in spec["MetricDefinitions"]}
    assert re.search(regex["validation:accuracy"], "validation:accuracy=0.912").group(1) == "0.912"
    # the source tarball: the training package, no caches, at the submit directory
    uri = json.loads(hyper["sagemaker_submit_directory"])
    bucket, key = uri[len("s3://"):].split("/", 1)
    body = mocked_aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert sorted(tar.getnames()) == ["training/__init__.py", "training/train.py"]


def test_script_mode_request_matches_what_the_sagemaker_sdk_sends(
        cfg, training_inputs, mocked_aws, captured, data_bucket, training_source, dogs_home):
    _train(cfg, training_inputs, mocked_aws, algorithm="pytorch")
    ours = captured.pop()
    sdk = _sdk_request(mocked_aws, cfg.aws, data_bucket, training_source,
                       ours["AlgorithmSpecification"]["MetricDefinitions"])

    def script_mode(request):
        return {k: v for k, v in request["HyperParameters"].items() if k.startswith("sagemaker_")
                and k not in ("sagemaker_submit_directory", "sagemaker_job_name")}

    assert script_mode(ours) == script_mode(sdk)
    assert set(sdk["HyperParameters"]) - set(ours["HyperParameters"]) == set()
    assert ours["AlgorithmSpecification"] == sdk["AlgorithmSpecification"]
    for key in ("ResourceConfig", "StoppingCondition", "EnableManagedSpotTraining", "RoleArn"):
        assert ours[key] == sdk[key], key


def _sdk_request(session, aws, bucket, source_root, metric_definitions):
    """The CreateTrainingJob request the SageMaker Python SDK's PyTorch estimator makes."""
    import sagemaker
    from sagemaker.pytorch import PyTorch

    requests = []
    session.events.register("provide-client-params.sagemaker.CreateTrainingJob",
                            lambda params, **kw: requests.append(json.loads(json.dumps(params))))
    estimator = PyTorch(
        entry_point="training/train.py", source_dir=str(source_root), role=aws["role_arn"],
        framework_version=aws["pytorch_version"], py_version="py311",
        instance_type=aws["instance_type"], instance_count=aws["instance_count"],
        volume_size=aws["volume_size"], distribution={"torch_distributed": {"enabled": True}},
        use_spot_instances=True, max_run=aws["max_runtime_hours"] * 3600,
        max_wait=aws["max_wait_hours"] * 3600, metric_definitions=metric_definitions,
        disable_profiler=True, debugger_hook_config=False,
        sagemaker_session=sagemaker.Session(boto_session=session, default_bucket=bucket))
    estimator.fit({"train": f"s3://{bucket}/dogs/images/"}, wait=False, logs=False)
    return requests[-1]


def test_one_instance_does_not_ask_for_torch_distributed(cfg, training_inputs, mocked_aws,
                                                         captured, training_source, dogs_home):
    _train(cfg, training_inputs, mocked_aws, algorithm="pytorch",
           overrides={"instance_count": 1, "learning_rate": 0.01, "spot": False})

    (request,) = captured
    assert "sagemaker_torch_distributed_enabled" not in request["HyperParameters"]
    assert request["HyperParameters"]["learning_rate"] == "0.01"
    assert request["EnableManagedSpotTraining"] is False
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 4 * 3600}


def test_source_archive_is_reproducible(training_source):
    before = job_inputs.source_archive()
    assert job_inputs.source_archive() == before
    (training_source / "training" / "train.py").write_text("print('changed')\n")
    assert job_inputs.source_archive() != before


def test_bucket_defaults_to_one_named_after_account_and_region(cfg, training_inputs, mocked_aws,
                                                               captured, dogs_home):
    bucket = naming.bucket_name(DEFAULT_ACCOUNT_ID, REGION)
    mocked_aws.client("s3").create_bucket(Bucket=bucket)
    cfg.aws["bucket"] = ""

    _train(cfg, training_inputs, mocked_aws, algorithm="builtin")

    assert captured[0]["OutputDataConfig"]["S3OutputPath"] == f"s3://{bucket}/dogs/output/"


# ---------------------------------------------------------------- waiting
def _start_job(session, name, status=("InProgress", "Starting")):
    client = session.client("sagemaker")
    client.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://b/out/"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 60})
    job = _backend_job(name)
    job.training_job_status, job.secondary_status = status
    return client, job


def test_wait_prints_each_status_change_and_new_log_lines(mocked_aws):
    client, job = _start_job(mocked_aws, "job-1")
    logs = mocked_aws.client("logs")
    logs.create_log_group(logGroupName=job_watch.LOG_GROUP)
    logs.create_log_stream(logGroupName=job_watch.LOG_GROUP, logStreamName="job-1/algo-1-123")
    steps = iter([("InProgress", "Starting"), ("InProgress", "Training"),
                  ("InProgress", "Training"), ("Completed", "Completed")])

    def sleep(seconds):  # each poll, the job moves on and writes a log line
        job.training_job_status, job.secondary_status = next(steps)
        event = {"timestamp": int(time.time() * 1000),
                 "message": f"epoch {len(lines)} validation:accuracy=0.75"}
        logs.put_log_events(logGroupName=job_watch.LOG_GROUP, logStreamName="job-1/algo-1-123",
                            logEvents=[event])

    lines = []
    described = job_watch.wait_for_training_job(client, "job-1", logs=logs, poll_seconds=0,
                                                   sleep=sleep, echo=lines.append)

    statuses = [line for line in lines if line.startswith("job-1:")]
    assert [s.split(" - ")[0] for s in statuses] == [
        "job-1: InProgress / Starting", "job-1: InProgress / Training",
        "job-1: Completed / Completed"]
    logged = [line for line in lines if line.startswith("  [algo-1-123]")]
    assert len(logged) == 4 and len(set(logged)) == 4  # each line once
    assert "last logged: validation:accuracy=0.75" in lines
    assert described["TrainingJobStatus"] == "Completed"


def test_failed_job_prints_the_failure_reason_and_raises(mocked_aws):
    client, job = _start_job(mocked_aws, "job-2")

    def sleep(seconds):
        job.training_job_status, job.secondary_status = "Failed", "Failed"
        job.failure_reason = "ClientError: Unable to find the LST file in channel train_lst"

    lines = []
    with pytest.raises(job_watch.TrainingJobFailed,
                       match="training job job-2 failed: ClientError: Unable to find the LST"):
        job_watch.wait_for_training_job(client, "job-2", poll_seconds=0, sleep=sleep,
                                           echo=lines.append)
    assert "FailureReason: ClientError: Unable to find the LST file in channel train_lst" in lines


def test_no_wait_returns_once_created_and_records_nothing(cfg, training_inputs, mocked_aws,
                                                         captured, dogs_home):
    result, _ = _train(cfg, training_inputs, mocked_aws, algorithm="builtin", wait=False)
    assert result == {"job_name": captured[0]["TrainingJobName"], "status": "InProgress"}
    assert state.read("artifact") is None


def test_ctrl_c_while_waiting_says_the_job_keeps_running(mocked_aws):
    client, _ = _start_job(mocked_aws, "job-3")

    def interrupted(seconds):
        raise KeyboardInterrupt

    lines = []
    with pytest.raises(KeyboardInterrupt):
        job_watch.wait_for_training_job(client, "job-3", sleep=interrupted, echo=lines.append)
    assert lines[-1] == ("Stopped waiting; job-3 keeps running (and billing). Stop it with: "
                         "aws sagemaker stop-training-job --training-job-name job-3")


def test_failed_job_records_no_artifact(cfg, training_inputs, mocked_aws, dogs_home,
                                        monkeypatch):
    def fail(client, name, **kwargs):
        raise job_watch.TrainingJobFailed(f"training job {name} failed: boom")

    monkeypatch.setattr(aws_training, "wait_for_training_job", fail)
    with pytest.raises(job_watch.TrainingJobFailed):
        _train(cfg, training_inputs, mocked_aws, algorithm="builtin")
    assert state.read("artifact") is None


# ---------------------------------------------------------------- dry run + errors
def test_dry_run_prints_the_request_and_the_cost_and_creates_nothing(
        cfg, training_inputs, mocked_aws, data_bucket, captured, training_source, dogs_home):
    result, lines = _train(cfg, training_inputs, mocked_aws, algorithm="pytorch", dry_run=True)

    assert captured == []
    assert "Contents" not in mocked_aws.client("s3").list_objects_v2(Bucket=data_bucket)
    printed = json.loads(lines[0])
    assert printed == result["request"] and printed["ResourceConfig"]["InstanceCount"] == 2
    # 0.736 $/h x 4 h x 2 instances
    assert result["cost"]["max_on_demand_usd"] == 5.89
    assert result["cost"]["spot_range_usd"] == [0.59, 2.36]
    assert lines[1].startswith("Estimated cost: at most $5.89 on demand = $0.736/h x 4 h max "
                               "runtime x 2 x ml.g4dn.xlarge")
    assert state.read("artifact") is None


def test_dry_run_with_an_unknown_instance_price_says_so(cfg, training_inputs, mocked_aws,
                                                        dogs_home):
    result, lines = _train(cfg, training_inputs, mocked_aws, algorithm="builtin", dry_run=True,
                           overrides={"instance_type": "ml.p5.48xlarge"})
    assert result["cost"]["max_on_demand_usd"] is None
    assert lines[-1].startswith("Estimated cost: unknown: no price for ml.p5.48xlarge")


def test_dry_run_works_without_a_role(cfg, training_inputs, mocked_aws, dogs_home):
    cfg.aws["role_arn"] = ""
    result, lines = _train(cfg, training_inputs, mocked_aws, algorithm="builtin", dry_run=True)
    assert result["request"]["RoleArn"].endswith("SET-aws.role_arn")
    assert any(line.startswith("note: no SageMaker training role") for line in lines)


@pytest.mark.parametrize("change, overrides, error, words", [
    ({"role_arn": ""}, {}, UserError, "no SageMaker training role: create it with `invoke deploy --target aws --training-only`"),
    ({"bucket": "not-created-bucket"}, {}, AwsError, "s3://not-created-bucket does not exist"),
    ({}, {"backbone": "efficientnet_lite0"}, UserError, "needs --algorithm pytorch"),
    ({}, {"epochs": 0}, UserError, "epochs: 0 is out of range"),
    ({}, {"instance_count": "two"}, UserError, "aws.instance_count: 'two' is not allowed"),
], ids=["no-role", "no-bucket", "builtin-backbone", "bad-hyperparameter", "bad-setting"])
def test_bad_input_is_one_line_before_anything_is_created(cfg, training_inputs, mocked_aws,
                                                          captured, dogs_home, change, overrides,
                                                          error, words):
    cfg.aws.update(change)
    with pytest.raises(error) as err:
        _train(cfg, training_inputs, mocked_aws, algorithm="builtin", overrides=overrides)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert captured == []


def test_p2_with_pytorch_explains_the_instance_type(cfg, training_inputs, mocked_aws,
                                                    training_source, dogs_home):
    with pytest.raises(UserError, match="no SageMaker pytorch image .* ml.p2.xlarge.*P2 instances"):
        _train(cfg, training_inputs, mocked_aws, algorithm="pytorch", dry_run=True,
               overrides={"instance_type": "ml.p2.xlarge"})


def test_missing_photos_are_reported(cfg, training_inputs, mocked_aws, dogs_home):
    images, _ = training_inputs
    next(images.rglob("*.jpg")).unlink()
    with pytest.raises(UserError, match="1 photos listed in the LST files are missing"):
        _train(cfg, training_inputs, mocked_aws, algorithm="builtin")


def test_the_stacks_training_role_is_the_default_and_role_overrides_it(cfg, training_inputs, mocked_aws,
                                                                     captured, dogs_home):
    stack_role = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/dog-breeds-training"
    state.record("deployments", {"aws": {"training_role_arn": stack_role}})
    cfg.aws["role_arn"] = ""
    _train(cfg, training_inputs, mocked_aws, algorithm="builtin")
    _train(cfg, training_inputs, mocked_aws, algorithm="builtin", overrides={"role_arn": ROLE})
    assert [r["RoleArn"] for r in captured] == [stack_role, ROLE]
