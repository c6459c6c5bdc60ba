"""The artifact's own record (class map, model id, algorithm, metrics) read from S3 or disk, so
`invoke deploy` / `plan` need only --model-data on a machine that never trained the model."""
from __future__ import annotations

import io
import json

import pytest

from ops.train import aws_training
from ops.deploy import stack as deploy, served_model
from ops.core import model_record, state
from tests.fixtures.artifact import recorded_artifact, tarball
from tests.fixtures.terraform_stack import CLASS_FOLDERS
from training import classmap

NAMES = [c.name for c in classmap.from_folders(CLASS_FOLDERS)]


def pytorch_artifact(model_id: str = "dogs-efficientnet-lite0-1") -> bytes:
    """Shaped like training/export.py's model folder: weights first (large), the record after."""
    return recorded_artifact(model_id, weights=b"w" * 300_000,
                             metrics={"best": {"validation_accuracy": 0.91, "epoch": 4}})


@pytest.fixture
def fresh_home(tmp_path, use_home):
    """A machine that trained nothing: no project state."""
    return use_home(tmp_path / "fresh")


def test_a_pytorch_artifact_in_s3_is_deployable_with_only_its_url(mocked_aws, data_bucket, fresh_home):
    s3 = mocked_aws.client("s3")
    s3.put_object(Bucket=data_bucket, Key="dogs/output/job-9/output/model.tar.gz", Body=pytorch_artifact())
    url = f"s3://{data_bucket}/dogs/output/job-9/output/model.tar.gz"

    model = served_model.find_model(url, s3=lambda: s3)

    assert model.class_names == NAMES
    assert model.model_id == "dogs-efficientnet-lite0-1" and model.algorithm == "pytorch"
    assert state.read("artifact") is None


def test_the_record_carries_metrics_and_framework_version(tmp_path):
    path = tmp_path / "model.tar.gz"
    path.write_bytes(pytorch_artifact("m-1"))

    record = model_record.read(path)

    assert record.framework_version == "2.6.0"
    assert record.metrics == {"validation_accuracy": 0.91, "epoch": 4}
    assert record.location == str(path)


def test_the_record_names_the_python_of_the_runtime_the_artifact_carries(tmp_path):
    path = tmp_path / "model.tar.gz"
    description = {"model_id": "m-2", "torch_version": "2.14.1",
                   "serving_runtime": {"package": "onnxruntime", "version": "1.32.0", "python": "3.11"}}
    path.write_bytes(tarball({"classes.json": classmap.to_json(classmap.from_folders(CLASS_FOLDERS)).encode(),
                              "model.json": json.dumps(description).encode()}))

    record = model_record.read(path)

    assert (record.framework_version, record.serving_python) == ("2.14.1", "3.11")
    assert model_record.read(_without_runtime(tmp_path)).serving_python is None


def _without_runtime(tmp_path):
    path = tmp_path / "plain.tar.gz"
    path.write_bytes(pytorch_artifact("m-3"))
    return path


def test_reading_stops_once_the_record_is_found(mocked_aws, data_bucket):
    """A large artifact is not read to its end: the record files come first in a stream."""
    members = {"classes.json": classmap.to_json(classmap.from_folders(CLASS_FOLDERS)).encode(),
               "model.json": b'{"model_id": "m"}', "metrics.json": b"{}"}
    members["model.pt"] = b"x" * 5_000_000
    stream = io.BytesIO(tarball(members))

    files = model_record.record_files(stream, "test")

    assert set(files) == set(model_record.RECORD_FILES)
    assert stream.tell() < len(stream.getvalue())


def test_a_builtin_job_records_its_class_map_beside_the_artifact(cfg, training_inputs, mocked_aws,
                                                                 data_bucket, dogs_home, use_home,
                                                                 tmp_path):
    images, lst_dir = training_inputs
    result = aws_training.train_job(cfg, data_dir=images, lst_dir=lst_dir, algorithm="builtin",
                                    session=mocked_aws, poll_seconds=0, echo=lambda _: None)
    s3 = mocked_aws.client("s3")
    bucket, key = model_record.S3_URL.match(result["s3_uri"]).groups()
    # SageMaker's part: the algorithm's own files, no classes.json
    s3.put_object(Bucket=bucket, Key=key, Body=tarball({"image-classification-0001.params": b"p",
                                                        "image-classification-symbol.json": b"{}"}))
    use_home(tmp_path / "another-machine")

    model = served_model.find_model(result["s3_uri"], s3=lambda: s3)

    assert model.algorithm == "builtin" and model.model_id == result["job_name"]
    assert model.class_names == [c.name for c in classmap.load(lst_dir)]
    sidecar = json.loads(s3.get_object(Bucket=bucket, Key=key.replace("model.tar.gz", "model.json"))["Body"].read())
    assert sidecar["provenance"]["training_job"] == result["job_name"]


def test_an_artifact_with_no_class_map_anywhere_says_what_to_pass(mocked_aws, data_bucket, fresh_home):
    s3 = mocked_aws.client("s3")
    s3.put_object(Bucket=data_bucket, Key="m/model.tar.gz", Body=tarball({"model.pt": b"w"}))

    with pytest.raises(model_record.ModelRecordError, match="no class map .* pass --classes"):
        served_model.find_model(f"s3://{data_bucket}/m/model.tar.gz", s3=lambda: s3)


def test_a_missing_s3_artifact_is_one_clear_error(mocked_aws, data_bucket, fresh_home):
    with pytest.raises(model_record.ModelRecordError, match="cannot read the artifact \\(NoSuchKey\\)"):
        served_model.find_model(f"s3://{data_bucket}/nothing/model.tar.gz", s3=lambda: mocked_aws.client("s3"))


def test_not_an_s3_url_is_refused(fresh_home):
    with pytest.raises(deploy.DeployError, match="must be an S3 URL"):
        served_model.find_model("/tmp/model.tar.gz")


def test_classes_option_wins_over_the_artifacts_record(mocked_aws, data_bucket, fresh_home, tmp_path):
    s3 = mocked_aws.client("s3")
    s3.put_object(Bucket=data_bucket, Key="m/model.tar.gz", Body=pytorch_artifact())
    other = tmp_path / "classes.json"
    other.write_text(classmap.to_json(classmap.from_folders(["n1-a", "n2-b", "n3-c"])))

    model = served_model.find_model(f"s3://{data_bucket}/m/model.tar.gz", str(other), s3=lambda: s3)

    assert model.class_names == ["a", "b", "c"]


def test_a_record_that_contradicts_algorithm_option_is_refused(mocked_aws, data_bucket, fresh_home):
    s3 = mocked_aws.client("s3")
    s3.put_object(Bucket=data_bucket, Key="m/model.tar.gz", Body=pytorch_artifact())

    with pytest.raises(deploy.DeployError, match="trained with --algorithm pytorch"):
        served_model.find_model(f"s3://{data_bucket}/m/model.tar.gz", algorithm="builtin", s3=lambda: s3)
