"""`invoke train` on this machine: options, the run, the summary and the recorded artifact."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ops.train import train_cli

REPO = Path(__file__).resolve().parents[2]
INVOKE = [sys.executable, "-m", "invoke"]


def invoke(args, home, timeout=900):
    env = {**os.environ, "DOGS_HOME": str(home)}
    return subprocess.run([*INVOKE, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_set_overrides_allow_commas_in_values():
    values = train_cli.overrides(epochs="2", extra="image_shape=3,64,64,optimizer=sgd")

    assert values == {"epochs": 2, "image_shape": "3,64,64", "optimizer": "sgd"}


@pytest.mark.parametrize("extra,message", [("optimizer", "not key=value"),
                                           ("optimizer=lbfgs", "optimizer"),
                                           ("colour=blue", "unknown hyperparameter")])
def test_bad_overrides_are_user_errors(extra, message):
    with pytest.raises(train_cli.UserError, match=message):
        train_cli.overrides(extra=extra)


@pytest.mark.parametrize("args,message", [
    (["--target", "moon"], "--target: 'moon'"),
    (["--fold", "x"], "--fold: 'x' is not an integer"),
    (["--dry-run"], "need --target aws"),
    (["--epochs", "0"], "epochs"),
])
def test_bad_options_exit_2_with_one_line(args, message, tmp_path, dogs10, three_breed_lst_dir):
    result = invoke(["train", "--data", str(dogs10), "--lst-dir", str(three_breed_lst_dir),
                     *args], tmp_path, timeout=300)

    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_lst_dir_says_what_to_do(tmp_path, dogs10):
    result = invoke(["train", "--data", str(dogs10)], tmp_path, timeout=300)

    assert result.returncode == 2 and "invoke lst" in result.stderr


@pytest.mark.slow
def test_invoke_train_locally_records_the_artifact(tmp_path, dogs10, three_breed_lst_dir):
    out = tmp_path / "model"

    result = invoke(["train", "--data", str(dogs10), "--lst-dir", str(three_breed_lst_dir),
                     "--out", str(out), "--epochs", "2",
                     "--set", "image_shape=3,64,64,resize=72"], tmp_path / "home")

    assert result.returncode == 0, result.stderr[-3000:]
    assert "training summary" in result.stdout and "best validation accuracy" in result.stdout
    assert (out / "model.tar.gz").exists() and (out / "metrics.json").exists()
    calibration = json.loads((out / "metrics.json").read_text())["calibration"]
    threshold = calibration["known_breed"]["threshold"]
    assert "known-breed threshold" in result.stdout and f"{threshold:.4f}" in result.stdout
    assert f"{calibration['temperature']:.3f}" in result.stdout
    recorded = json.loads((tmp_path / "home" / "state.json").read_text())["artifact"]
    assert recorded["local_path"] == str((out / "model.tar.gz").resolve())
    assert recorded["metrics"]["epochs_run"] == 2
    assert recorded["metrics"]["known_breed_threshold"] == threshold
    assert recorded["model_id"] == json.loads((out / "metrics.json").read_text())["model_id"]
    assert not (tmp_path / "home" / "train" / "work" / "opt_ml" / "checkpoints" /
                "checkpoint.pt").exists()


def finished_run(calibration):
    metrics = {"epochs_run": 2, "stopped_reason": "epochs done", "training_seconds": 12.0,
               "best": {"epoch": 2, "validation_accuracy": 0.9, "validation_top_k_accuracy": 1.0},
               "calibration": calibration}
    return SimpleNamespace(model_id="m", metrics=metrics, seconds=13.0, artifact=Path("model.tar.gz"),
                           metrics_path=Path("metrics.json"))


def test_the_summary_shows_the_stored_temperature_and_known_breed_threshold():
    run = finished_run({"temperature": 1.0, "fitted_temperature": 0.745, "ece_before": 0.0269,
                        "ece_after": 0.0269, "known_breed": {"threshold": 0.0224, "accept_target": 0.99,
                                                             "validation_accepted": 0.99}})
    rows = dict(train_cli.summary_rows(run))
    assert rows["temperature"] == "1.000 (fitted 0.745); validation ECE 0.0269 -> 0.0269"
    assert rows["known-breed threshold"] == "0.0224 (accepts 99.0% of the validation photos)"


def test_a_model_without_a_known_breed_score_says_so_in_the_summary():
    run = finished_run({"temperature": 1.3, "fitted_temperature": 1.3, "ece_before": 0.05,
                        "ece_after": 0.02, "known_breed": None})
    rows = dict(train_cli.summary_rows(run))
    assert rows["temperature"] == "1.300; validation ECE 0.0500 -> 0.0200"
    assert rows["known-breed threshold"] == "none: predictions carry no known-breed score"
