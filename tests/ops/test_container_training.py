"""training/train.py under SageMaker's own training toolkit (sagemaker-training + sagemaker-pytorch-training):
the files a job gets, as the toolkit reads them, and a 2-process torch_distributed job whose artifact serves."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from ops.core import config
from ops.containers import container_env, container_training as ct
from ops.train import train_cli
from ops.train.local_train import container_layout, train_local
from tests.fixtures.artifact import write_tiny_lst
from training import hyperparameters as hp

REPO = Path(__file__).resolve().parents[2]
BREEDS, TRAIN_PER_BREED, TEST_PER_BREED = 3, 8, 4
TINY = {"epochs": 2, "image_shape": "3,128,128", "resize": 146}
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the container's mount namespace needs root "
                                                          "(CI runs as root)")

# What the toolkit makes of the files before it starts the script: its Environment, the source archive
# unpacked as entry_point.run does, and the command its runner would launch.
PROBE = """
import json, sys
from sagemaker_training import environment, files, runner
env = environment.Environment()
files.download_and_extract(env.module_dir, environment.code_dir)
kind = runner.TorchDistributedRunnerType if env.additional_framework_parameters.get(
    "sagemaker_torch_distributed_enabled") else runner.ProcessRunnerType
command = runner.get(kind, env.user_entry_point, env.to_cmd_args(), env.to_env_vars())._create_command()
json.dump({"current_host": env.current_host, "hosts": env.hosts, "channels": env.channel_input_dirs,
           "user_entry_point": env.user_entry_point, "hyperparameters": dict(env.hyperparameters),
           "command": command, "env": env.to_env_vars()}, sys.stdout)
"""


@pytest.fixture(scope="module")
def cfg():
    return config.load()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, dogs10) -> tuple[Path, Path]:
    """(images root, LST folder): 3 breeds of dogs-10, 8 training and 4 test photos each, copied."""
    root = tmp_path_factory.mktemp("container-data")
    images = root / "Images"
    for breed in sorted(p.name for p in dogs10.iterdir() if p.is_dir())[:BREEDS]:
        (images / breed).mkdir(parents=True)
        for photo in sorted((dogs10 / breed).glob("*.jpg"))[:TRAIN_PER_BREED + TEST_PER_BREED]:
            shutil.copyfile(photo, images / breed / photo.name)
    lst_dir = write_tiny_lst(images, root / "lst", train_per_class=TRAIN_PER_BREED,
                             test_per_class=TEST_PER_BREED, name="small")
    return images, lst_dir


def job_files(cfg, dataset, base: Path, processes: int) -> Path:
    """SageMaker's files of the planned job under `base`; returns the source archive."""
    images, lst_dir = dataset
    job = ct.plan(cfg, data_dir=images, lst_dir=lst_dir, fold=None, overrides=TINY)
    source = base.parent / "sourcedir.tar.gz"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(job.source[1])
    ct.write_job_files(job, base, ct.job_hyperparameters(job, "job-1", source, processes))
    return source


def read_config(base: Path, name: str):
    return json.loads((base / "input" / "config" / name).read_text())


def toolkit_view(base: Path) -> dict:
    python = container_env.python("training")
    container_env.ensure("training")
    result = subprocess.run([str(python), "-c", PROBE], env={"PATH": os.environ["PATH"],
                            "SAGEMAKER_BASE_DIR": str(base), "HOME": str(base.parent)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


# ---------------------------------------------------------------- the files SageMaker writes
def test_hyperparameters_are_the_planned_jobs_strings_with_a_local_source(cfg, dataset, tmp_path):
    source = job_files(cfg, dataset, tmp_path / "opt" / "ml", processes=2)

    written = read_config(tmp_path / "opt" / "ml", "hyperparameters.json")

    assert all(isinstance(v, str) for v in written.values())
    assert written["sagemaker_program"] == json.dumps("training/train.py")
    assert written["sagemaker_submit_directory"] == json.dumps(str(source))
    assert written["sagemaker_job_name"] == json.dumps("job-1")
    assert written["sagemaker_torch_distributed_enabled"] == "true"
    assert written["sagemaker_mpi_num_of_processes_per_host"] == "2"
    ours = {k: v for k, v in written.items() if not k.startswith("sagemaker_")}
    local = train_cli.local_hyperparameters(cfg, hp.validate(TINY, fill_defaults=False))
    expected = hp.resolve_derived(local, num_classes=BREEDS,
                                  num_training_samples=BREEDS * TRAIN_PER_BREED)
    assert ours == hp.to_sagemaker(expected)


def test_a_one_process_job_is_a_plain_script_job(cfg, dataset, tmp_path):
    job_files(cfg, dataset, tmp_path / "opt" / "ml", processes=1)

    written = read_config(tmp_path / "opt" / "ml", "hyperparameters.json")

    assert not {"sagemaker_torch_distributed_enabled", "sagemaker_mpi_num_of_processes_per_host"} & set(
        written)


def test_input_and_resource_config_describe_four_file_channels_on_algo_1(cfg, dataset, tmp_path):
    base = tmp_path / "opt" / "ml"
    job_files(cfg, dataset, base, processes=2)

    channels = read_config(base, "inputdataconfig.json")
    resources = read_config(base, "resourceconfig.json")

    assert set(channels) == {"train", "validation", "train_lst", "validation_lst"}
    assert all(c == {"ContentType": "application/x-image", "TrainingInputMode": "File",
                     "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
               for c in channels.values())
    assert resources["current_host"] == "algo-1" and resources["hosts"] == ["algo-1"]
    assert resources["instance_groups"] == [{"instance_group_name": "homogeneousCluster",
                                             "instance_type": cfg.aws["instance_type"],
                                             "hosts": ["algo-1"]}]


def test_each_channel_holds_the_objects_under_its_prefix(cfg, dataset, tmp_path):
    images, lst_dir = dataset
    base = tmp_path / "opt" / "ml"
    job_files(cfg, dataset, base, processes=2)
    data = base / "input" / "data"

    photos = sorted(p.relative_to(images).as_posix() for p in images.rglob("*.jpg"))
    for channel in ("train", "validation"):
        assert sorted(p.relative_to(data / channel).as_posix()
                      for p in (data / channel).rglob("*.jpg")) == photos
    assert sorted(p.name for p in (data / "train_lst").iterdir()) == ["classes.json", "small_train.lst"]
    assert sorted(p.name for p in (data / "validation_lst").iterdir()) == ["classes.json",
                                                                           "small_test.lst"]
    assert (data / "train_lst" / "small_train.lst").read_bytes() == (
        lst_dir / "small_train.lst").read_bytes()


def test_the_toolkit_reads_them_into_a_two_process_torchrun_of_train_py(cfg, dataset, tmp_path):
    base = tmp_path / "opt" / "ml"
    job_files(cfg, dataset, base, processes=2)

    seen = toolkit_view(base)

    assert (seen["current_host"], seen["hosts"], seen["user_entry_point"]) == (
        "algo-1", ["algo-1"], "training/train.py")
    assert seen["channels"] == {c: str(base / "input" / "data" / c)
                                for c in ("train", "validation", "train_lst", "validation_lst")}
    assert seen["command"][:6] == ["torchrun", "--nnodes", "1", "--nproc_per_node", "2",
                                   "training/train.py"]
    assert (base / "code" / "training" / "train.py").is_file()
    assert (base / "code" / "requirements.txt").read_text() == (
        REPO / "training" / "requirements.txt").read_text()
    assert not any(k.startswith("sagemaker_") for k in seen["hyperparameters"])


def test_the_toolkit_sets_every_variable_our_local_launcher_sets(cfg, dataset, tmp_path):
    images, lst_dir = dataset
    base = tmp_path / "opt" / "ml"
    job_files(cfg, dataset, base, processes=2)
    local = container_layout(tmp_path / "local", data_dir=images, lst_dir=lst_dir, fold=None,
                             hyperparameters=train_cli.local_hyperparameters(cfg, {}))

    seen = toolkit_view(base)["env"]

    # DOGS_CHECKPOINT_DIR is ours; in the container train.py finds the checkpoints beside SAGEMAKER_BASE_DIR
    assert set(local) - {"DOGS_CHECKPOINT_DIR"} <= set(seen)
    assert seen["SM_MODEL_DIR"] == str(base / "model") and seen["SM_OUTPUT_DIR"] == str(base / "output")


def test_the_image_has_the_toolkit_and_torch_but_none_of_our_requirements(tmp_path):
    python = ct.make_image(tmp_path / "image")

    def imports(module: str) -> bool:
        return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True,
                              env={"PATH": os.environ["PATH"]}).returncode == 0

    assert imports("sagemaker_training") and imports("sagemaker_pytorch_container") and imports("torch")
    assert not imports("onnxruntime") and not imports("efficientnet_lite_pytorch")
    assert (tmp_path / "image" / "bin" / "torchrun").read_text().startswith(f"#!{python}\n")


def test_a_failed_job_reports_the_failure_file_and_the_log(tmp_path):
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "failure").write_text("multi_label: 1 is not supported\n")

    reason = ct.failure_reason(tmp_path, 1, tmp_path / "container.log")

    assert reason.startswith("multi_label: 1 is not supported\n")
    assert "exit status 1" in reason and str(tmp_path / "container.log") in reason


def test_without_root_it_stops_before_writing_anything(cfg, dataset, tmp_path, monkeypatch):
    images, lst_dir = dataset
    monkeypatch.setattr(ct.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(ct.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    with pytest.raises(ct.ContainerTrainingError, match="needs root"):
        ct.train_in_container(cfg, data_dir=images, lst_dir=lst_dir, out_dir=tmp_path / "out")

    assert not list((tmp_path / "tmp").iterdir()) and not (tmp_path / "out").exists()


def test_phases_are_the_times_between_the_toolkits_markers():
    marks = {"start": 10.0, "requirements": 11.5, "training": 16.0, "end": 40.25}

    assert ct.durations(marks) == {"start": 1.5, "requirements": 4.5, "training": 24.25}


@pytest.mark.parametrize("args,message", [(["--processes", "0"], "--processes: 0"),
                                          (["--epochs", "0"], "epochs")], ids=["processes", "epochs"])
def test_bad_options_exit_2_with_one_line(args, message, tmp_path, dataset):
    images, lst_dir = dataset
    result = subprocess.run([sys.executable, "-m", "invoke", "container.train", "--data", str(images),
                             "--lst-dir", str(lst_dir), "--out", str(tmp_path), *args], cwd=REPO,
                            env={**os.environ, "DOGS_HOME": str(tmp_path)}, capture_output=True,
                            text=True, timeout=300)

    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- a real job
@pytest.fixture(scope="module")
def container_run(cfg, dataset, tmp_path_factory) -> ct.ContainerRun:
    images, lst_dir = dataset
    return ct.train_in_container(cfg, data_dir=images, lst_dir=lst_dir,
                                 out_dir=tmp_path_factory.mktemp("container-model"), overrides=TINY,
                                 processes=2)


def artifact_file(artifact: Path, name: str) -> bytes:
    with tarfile.open(artifact) as tar:
        return tar.extractfile(name).read()


@pytest.mark.slow
@needs_root
def test_a_two_process_job_trains_under_the_toolkit(container_run):
    with tarfile.open(container_run.artifact) as tar:
        names = set(tar.getnames())
    log = container_run.log.read_text()

    assert {"model.json", "classes.json", "code/inference.py", "model.pt", "metrics.json"} <= names
    assert "Installing dependencies from requirements.txt" in log and "Successfully installed" in log
    assert "torchrun --nnodes 1 --nproc_per_node 2 training/train.py" in log
    assert "training on cpu, 2 processes" in log and "Reporting training SUCCESS" in log
    # both ranks trained: the epoch's samples are summed over them (each saw half)
    assert container_run.metrics["world_size"] == 2
    assert container_run.metrics["history"][0]["train_samples"] == BREEDS * TRAIN_PER_BREED
    assert set(container_run.phases) == {"preparing", "start", "requirements", "training", "packing"}


@pytest.mark.slow
@needs_root
def test_it_trains_with_the_same_hyperparameters_as_our_launcher(cfg, dataset, container_run,
                                                                  tmp_path):
    images, lst_dir = dataset
    local = train_local(data_dir=images, lst_dir=lst_dir, out_dir=tmp_path, processes=2,
                        hyperparameters=train_cli.local_hyperparameters(
                            cfg, hp.validate(TINY, fill_defaults=False)), work_dir=tmp_path / "work")

    ours = json.loads(artifact_file(local.artifact, "hyperparameters.json"))
    theirs = json.loads(artifact_file(container_run.artifact, "hyperparameters.json"))

    assert theirs == ours
    assert [h["train_samples"] for h in container_run.metrics["history"]] == [
        h["train_samples"] for h in local.metrics["history"]]


@pytest.mark.slow
@needs_root
def test_its_artifact_serves_in_the_serving_container(container_run, dataset):
    from ops.containers import container_serving

    images, _ = dataset
    photo = sorted(images.rglob("*.jpg"))[0].read_bytes()

    with container_serving.serve(container_run.artifact) as serving:
        status, content_type, body = serving.invoke(photo, "application/x-image")

        assert serving.ping() == 200
    assert (status, content_type) == (200, "application/json")
    probabilities = json.loads(body)
    assert len(probabilities) == BREEDS and abs(sum(probabilities) - 1) < 1e-4
    # the job carried the runtime it installed from training/requirements.txt, for the serving image's Python
    runtime = json.loads(artifact_file(container_run.artifact, "model.json"))["serving_runtime"]
    pinned = dict(line.split("==") for line in (REPO / "training" / "requirements.txt").read_text().splitlines()
                  if line and not line.startswith("#"))
    assert (runtime["version"], runtime["python"]) == (pinned["onnxruntime"], "3.11")
