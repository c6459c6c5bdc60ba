"""`invoke deploy` / `plan`: which image serves the model, its algorithm, and the options refused early.

No AWS and no Terraform: the images come from the installed sagemaker SDK's table, the variables are the
ones `invoke deploy --target aws` writes.
"""
from __future__ import annotations

import pytest

from ops.core import config, model_record, state
from ops.deploy import stack as deploy, lambda_package, served_model
from ops.train import sagemaker_images
from tests.fixtures.terraform_stack import CLASS_FOLDERS
from training import classmap
from training.errors import UserError

REGION = "us-east-1"
BUILTIN_IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
S3_ARTIFACT = "s3://dog-breeds-123456789012-us-east-1/dogs/output/job-1/output/model.tar.gz"


def record(algorithm: str | None, s3_uri: str = S3_ARTIFACT) -> None:
    artifact = {"s3_uri": s3_uri, "model_id": "job-1"}
    if algorithm:
        artifact["algorithm"] = algorithm
    state.record("artifact", artifact)


@pytest.fixture
def home(tmp_path, use_home):
    """A project state folder, and a classes.json of two breeds for --classes."""
    use_home(tmp_path)
    classes = tmp_path / "classes.json"
    classes.write_text(classmap.to_json(classmap.from_folders(CLASS_FOLDERS)))
    return tmp_path, str(classes)


# ---------------------------------------------------------------- one PyTorch version
def test_config_default_has_training_and_inference_images_of_this_machines_python():
    import sys

    from training import serving_runtime

    resolved = sagemaker_images.pytorch_version(config.load().aws["pytorch_version"])
    assert resolved.version == config.AWS_DEFAULTS["pytorch_version"] == "2.5.1"
    # the Python the artifact's ONNX Runtime is built for, and the one the container harness runs here
    python = "py" + serving_runtime.PYTHON.replace(".", "")
    assert resolved.py_versions == {"training": python, "inference": python}
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == serving_runtime.PYTHON


def test_a_minor_version_resolves_to_the_full_one():
    assert sagemaker_images.pytorch_version("2.6").version == "2.6.0"


@pytest.mark.parametrize("version", ["2.8.0", "2.7", "9.9.9"])
def test_a_version_without_an_inference_image_is_refused_listing_the_allowed(version):
    with pytest.raises(UserError) as err:
        sagemaker_images.pytorch_version(version)
    message = str(err.value)
    assert message.startswith(f"aws.pytorch_version {version!r}: ")
    allowed = message.split("allowed: ")[1].split(", ")
    assert "2.6.0" in allowed and "2.8.0" not in allowed and "2.3.0" in allowed


def test_training_and_serving_images_are_the_same_version():
    training = sagemaker_images.pytorch_image(REGION, "2.6.0", "training", "ml.g4dn.xlarge")
    serving = served_model.image_uri(REGION, "ml.m5.large", "pytorch", "2.6.0")
    assert training.endswith("/pytorch-training:2.6.0-gpu-py312")
    assert serving == "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
    assert served_model.image_uri(REGION, "ml.g4dn.xlarge", "pytorch", "2.6").endswith(":2.6.0-gpu-py312")


def test_deploy_settings_carry_the_configured_version():
    cfg = config.load()
    assert deploy.settings(cfg, "aws").pytorch_version == cfg.aws["pytorch_version"]


# ---------------------------------------------------------------- the built-in algorithm
def test_builtin_model_is_served_by_the_image_it_trained_in():
    assert served_model.image_uri(REGION, "ml.m5.large", "builtin") == BUILTIN_IMAGE
    assert sagemaker_images.builtin_image(REGION) == BUILTIN_IMAGE  # what training uses


def test_the_recorded_artifacts_algorithm_is_the_models(home):
    _, classes = home
    record("builtin")
    assert served_model.find_model(classes=classes).algorithm == "builtin"
    assert served_model.find_model(S3_ARTIFACT, classes).algorithm == "builtin"
    record(None)  # a record older than the algorithm field: what aws training always was by default
    assert served_model.find_model(classes=classes).algorithm == "pytorch"


def test_algorithm_option_names_an_artifact_without_a_record(home):
    _, classes = home
    record("pytorch")
    other = "s3://other-bucket/models/x/model.tar.gz"
    assert served_model.find_model(other, classes, "builtin").algorithm == "builtin"
    assert served_model.find_model(other, classes).algorithm == "pytorch"


@pytest.mark.parametrize("option, words", [
    ("builtin", "--algorithm builtin: the recorded artifact was trained with --algorithm pytorch"),
    ("mxnet", "--algorithm 'mxnet': allowed: builtin, pytorch"),
], ids=["contradicts-record", "unknown"])
def test_bad_algorithm_option_is_refused(home, option, words):
    _, classes = home
    record("pytorch")
    with pytest.raises(deploy.DeployError, match=words):
        served_model.find_model(classes=classes, algorithm=option)


def test_aws_variables_of_a_builtin_model_name_its_image_and_algorithm(home, tmp_path):
    _, classes = home
    record("builtin")
    model = served_model.find_model(classes=classes)
    s = deploy.settings(config.load(), "aws", endpoint_type="realtime", instance_type="ml.c5.xlarge")
    package = lambda_package.build(tmp_path / "build")
    image = served_model.image_uri(s.region, s.instance_type, model.algorithm, s.pytorch_version)
    values = deploy.variables(s, model, image, package)
    assert values["image_uri"] == BUILTIN_IMAGE and values["algorithm"] == "builtin"
    assert values["model_data_url"] == S3_ARTIFACT
    assert "inference_environment" not in values  # Terraform leaves the PyTorch variables out


def test_builtin_model_is_refused_for_local_before_anything_runs(home):
    _, classes = home
    record("builtin")
    model = served_model.find_model(classes=classes)
    s = deploy.Settings(target="local", region=REGION)
    with pytest.raises(deploy.DeployError) as err:
        deploy.prepare(s, model, echo=lambda _: None)  # no local AWS runs: the check comes first
    message = str(err.value)
    assert "MXNet" in message and "--target aws" in message
    assert "invoke train --algorithm pytorch" in message


# ---------------------------------------------------------------- serverless has no instances
@pytest.mark.parametrize("options", [
    {"endpoint_type": "serverless", "instance_type": "ml.g4dn.xlarge"},
    {"instance_type": "ml.c5.xlarge"},  # serverless is the default
], ids=["explicit", "default"])
def test_instance_type_with_serverless_is_refused(options):
    with pytest.raises(deploy.DeployError, match="--instance-type ml.* add --endpoint-type realtime"):
        deploy.settings(config.load(), "aws", **options)


def test_unknown_endpoint_type_is_refused():
    with pytest.raises(deploy.DeployError, match="--endpoint-type 'batch': allowed: realtime, serverless"):
        deploy.settings(config.load(), "aws", endpoint_type="batch")


# ---------------------------------------------------------------- the class map read from the tarball
def _artifact_tar(path, infos):
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for info, data in infos:
            tar.addfile(info, io.BytesIO(data) if data else None)
    return path


def _info(name, kind=None, size=0, linkname=""):
    import tarfile

    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind or tarfile.REGTYPE, size, linkname
    return info


def test_the_class_map_is_read_from_the_artifact(tmp_path):
    text = classmap.to_json(classmap.from_folders(CLASS_FOLDERS)).encode()
    archive = _artifact_tar(tmp_path / "model.tar.gz", [(_info("classes.json", size=len(text)), text)])

    assert model_record.read(archive).class_names == [c.name for c in classmap.from_json(text.decode())]


@pytest.mark.parametrize("member,message", [
    ((_info("classes.json", size=2**21), b" " * 2**21), "at most 1048576"),
    ((_info("classes.json", size=5 * 2**30), None), "GiB unpacked"),
    ((_info("classes.json", __import__("tarfile").SYMTYPE, linkname="/etc/passwd"), None),
     "link or special"),
], ids=["big-class-map", "huge-member", "symlink"])
def test_a_hostile_artifact_is_refused_before_its_class_map_is_read(tmp_path, member, message):
    archive = _artifact_tar(tmp_path / "model.tar.gz", [member])

    with pytest.raises(UserError, match=message):
        model_record.read(archive)


@pytest.mark.parametrize("trained, served, noted", [
    (None, "2.6.0", False),            # no record: the config's version
    ("2.4.0", "2.4.0", False),
    ("2.5.1+cpu", "2.5.1", False),     # a local build tag, the same release
    ("2.5.0", "2.5.1", False),         # the same major.minor: its newest patch
    ("2.14.1", "2.6.0", True),         # newer than every image: the newest, with a note
])
def test_the_serving_image_is_of_the_torch_that_saved_the_model(trained, served, noted):
    version, note = sagemaker_images.serving_version(trained, "2.6.0")
    assert version == served and (note is not None) == noted
    if noted:
        assert trained in note and served in note


def test_a_model_older_than_every_image_is_refused():
    with pytest.raises(UserError, match="older than every SageMaker PyTorch inference image"):
        sagemaker_images.serving_version("1.13.1", "2.6.0")


@pytest.mark.parametrize("configured, served, noted", [
    ("2.5.1", "2.5.1", False),   # the configured image runs the runtime's Python
    ("2.6.0", "2.5.1", True),    # it does not (py312): the newest image of Python 3.11, with a note
])
def test_an_artifact_carrying_its_runtime_is_served_by_an_image_of_its_python(configured, served, noted):
    version, note = sagemaker_images.serving_version("2.14.1", configured, "3.11")
    assert version == served and (note is not None) == noted
    if noted:
        assert "Python 3.11" in note and configured in note


def test_deploy_serves_an_artifact_carrying_its_runtime_in_an_image_of_its_python(home):
    s = deploy.Settings(target="aws", region=REGION, pytorch_version="2.5.1")
    model = deploy.Model("s3://b/m/model.tar.gz", "m", ["a"], framework_version="2.14.1",
                         serving_python="3.11")
    notes = []
    assert deploy.model_image(s, model, notes.append).endswith(":2.5.1-cpu-py311") and notes == []


def test_deploy_looks_up_the_image_of_the_artifacts_torch(home):
    s = deploy.Settings(target="aws", region=REGION, pytorch_version="2.6.0")
    model = deploy.Model("s3://b/m/model.tar.gz", "m", ["a"], framework_version="2.4.0")
    notes = []
    assert deploy.model_image(s, model, notes.append).endswith(":2.4.0-cpu-py311")
    model.framework_version = "2.14.1"
    assert deploy.model_image(s, model, notes.append).endswith(":2.6.0-cpu-py312")
    assert len(notes) == 1 and "2.14.1" in notes[0]
