"""`invoke lst`, `invoke lst.info`: the commands as a user types them."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.lst_photos import make_bad_photo

REPO = Path(__file__).resolve().parents[1]


def invoke(*args, cwd=REPO):
    env = {**os.environ, "COLUMNS": "250"}  # rich wraps at 80 columns when not on a terminal
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=env)


def test_lst_writes_files_and_prints_a_summary(small_images, tmp_path):
    make_bad_photo(small_images, "truncated")
    out = tmp_path / "out"

    run = invoke("lst", "--data", str(small_images), "--out", str(out), "--test-fraction", "0.5")

    assert run.returncode == 0, run.stderr
    assert "num_classes=3 num_training_samples=9" in run.stdout
    assert "zz_truncated.JPG" in run.stdout and "1 left out" in run.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "classes.json", "dogs_test.lst", "dogs_train.lst", "scan_report.json"]


def test_lst_strict_is_one_line_and_exit_2(small_images, tmp_path):
    make_bad_photo(small_images, "empty")

    run = invoke("lst", "--data", str(small_images), "--out", str(tmp_path / "out"), "--strict")

    assert run.returncode == 2
    assert run.stderr.startswith("error: 1 bad photo(s)") and run.stderr.count("\n") == 1
    assert not list((tmp_path / "out").glob("*.lst"))


@pytest.mark.parametrize("args, words", [
    (["--folds", "3", "--test-fraction", "0.3"], "give --folds or --test-fraction, not both"),
    (["--folds", "x"], "--folds: 'x' is not an integer"),
    (["--test-fraction", "abc"], "--test-fraction: 'abc' is not a number"),
    (["--classes", "poodle"], "no breed folder matches 'poodle'"),
    (["--min-size", "big"], "--min-size: 'big' is not allowed"),
], ids=["folds-and-fraction", "folds", "fraction", "classes", "min-size"])
def test_lst_bad_options(small_images, tmp_path, args, words):
    run = invoke("lst", "--data", str(small_images), "--out", str(tmp_path / "o"), *args)
    assert run.returncode == 2 and words in run.stderr and run.stderr.count("\n") == 1


def test_lst_min_size_from_config(small_images, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text((REPO / "config.yaml").read_text().replace('"3,224,224"', '"3,299,299"'))

    run = invoke("lst", "--data", str(small_images), "--out", str(tmp_path / "o"), "--config",
                 str(config))

    assert run.returncode == 2 and "no usable photos" in run.stderr  # 256-px photos < 299


def test_lst_info_prints_counts_and_names(seed_lst):
    run = invoke("lst.info", str(seed_lst), "--classes-file",
                 str(seed_lst / "stanford_dogs_classes.txt"))

    assert run.returncode == 0, run.stderr
    assert "num_classes=120 num_training_samples=16464" in run.stdout
    assert "16,464" in run.stdout and "4,116" in run.stdout and "Chihuahua" in run.stdout


def test_lst_info_missing_file(tmp_path):
    run = invoke("lst.info", str(tmp_path / "nope.lst"))
    assert run.returncode == 2 and "no such LST file" in run.stderr


@pytest.mark.parametrize("task", ["lst", "lst.info", "data.download"])
def test_every_task_has_help(task):
    run = invoke(task, "--help")
    assert run.returncode == 0 and "--" in run.stdout + run.stderr
    assert "error" not in (run.stdout + run.stderr).lower()


def test_data_download_then_lst(tar_server, tmp_path):
    import hashlib

    checksum = "md5:" + hashlib.md5(tar_server.archive.read_bytes()).hexdigest()

    run = invoke("data.download", "--dest", str(tmp_path / "data"), "--url", tar_server.url,
                 "--checksum", checksum, "--breeds", "2")

    assert run.returncode == 0, run.stderr
    assert "2 breeds, 4 photos" in run.stdout
    assert f"next: invoke lst --data {tmp_path / 'data' / 'Images'}" in run.stdout


def test_data_download_checksum_mismatch_exits_2(tar_server, tmp_path):
    run = invoke("data.download", "--dest", str(tmp_path / "data"), "--url", tar_server.url,
                 "--checksum", "md5:" + "1" * 32)

    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "checksum mismatch" in run.stderr
    assert not list((tmp_path / "data").glob("images.tar*"))
