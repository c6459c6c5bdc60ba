"""`invoke tune` wiring: options reach the tuning job, bad options are one line and exit 2."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from invoke import Context, Exit
from moto.core import DEFAULT_ACCOUNT_ID

import tasks
from ops.core import config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def config_file(tmp_path, data_bucket):
    path = tmp_path / "config.yaml"
    role = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/sm"
    path.write_text(config.DEFAULT_CONFIG.read_text()
                    + f"\naws: {{region: us-east-1, bucket: {data_bucket}, prefix: dogs/, "
                      f"instance_type: ml.g4dn.xlarge, instance_count: 2, volume_size: 70, "
                      f"role_arn: '{role}'}}\n")
    return path


def test_tune_dry_run_prints_the_request_with_the_options(config_file, training_inputs,
                                                          mocked_aws, capsys, dogs_home):
    images, lst_dir = training_inputs
    tasks.tune(Context(), data=str(images), lst_dir=str(lst_dir), algorithm="builtin",
               max_jobs="6", max_parallel_jobs="3", instance_type="ml.p3.2xlarge",
               instance_count="1", dry_run=True, config=str(config_file))

    out = capsys.readouterr().out
    request = json.loads(out[: out.index("\nEstimated cost")])
    limits = request["HyperParameterTuningJobConfig"]["ResourceLimits"]
    assert limits == {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 3}
    assert request["TrainingJobDefinition"]["ResourceConfig"]["InstanceType"] == "ml.p3.2xlarge"
    # $3.825/h x 4 h x 1 instance
    assert "Estimated cost: at most $15.30 on demand" in out


@pytest.mark.parametrize("options, words", [
    ({"fold": "one"}, "--fold: 'one' is not an integer"),
    ({"algorithm": "xgboost"}, "--algorithm 'xgboost': allowed: builtin, pytorch"),
    ({"instance_count": "0"}, "aws.instance_count: 0 is not allowed"),
], ids=["fold", "algorithm", "count"])
def test_bad_options_exit_2_with_one_line(config_file, training_inputs, mocked_aws, dogs_home,
                                          options, words):
    images, lst_dir = training_inputs
    with pytest.raises(Exit) as err:
        tasks.tune(Context(), data=str(images), lst_dir=str(lst_dir), dry_run=True,
                   config=str(config_file), **options)
    assert err.value.code == 2 and words in str(err.value.message)


def test_tune_is_listed():
    listing = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=REPO, text=True,
                             capture_output=True, check=True).stdout
    assert "tune" in listing and "Tune learning rate" in listing
