"""The one option parser (tasks/options.py) and what `--model` names (ops.core.artifact.model_path)."""
from __future__ import annotations

import json

import pytest
from invoke import Context, Exit

from ops.core import artifact
from tasks import options
from tasks.command import command


@pytest.mark.parametrize("parser, given, expected", [
    (options.Integer(), "7", 7), (options.Integer(), 7, 7), (options.Integer(), " 3 ", 3),
    (options.Integer(), None, None), (options.Integer(), "", None),
    (options.PORT, "65535", 65535), (options.Number(0, 1), "0.25", 0.25), (options.Number(0, 1), 1, 1.0),
    (options.Size(), "224", (224, 224)), (options.Size(), "300x200", (300, 200)), (options.Size(), "0", (0, 0)),
    (options.TARGET, "aws", "aws"), (options.Names(), "ruff, fmt", ["ruff", "fmt"]),
    (options.Names(("a", "b")), "b,a", ["b", "a"]),
], ids=lambda v: repr(v))
def test_good_values_parse(parser, given, expected):
    assert parser("opt", given) == expected


@pytest.mark.parametrize("parser, given, message", [
    (options.Integer(), "x", "--max-jobs: 'x' is not an integer"),
    (options.Integer(), "1.5", "--max-jobs: '1.5' is not an integer"),
    (options.Integer(), True, "--max-jobs: needs a value, an integer"),
    (options.COUNT, "0", "--max-jobs: 0 is not allowed; allowed: an integer >= 1"),
    (options.PORT, "70000", "--max-jobs: 70000 is not allowed; allowed: an integer from 1 to 65535"),
    (options.Integer(high=3), "4", "--max-jobs: 4 is not allowed; allowed: an integer <= 3"),
    (options.Number(0, 1), "nan", "--max-jobs: 'nan' is not a number"),
    (options.Number(0, 1), "1.5", "--max-jobs: 1.5 is not allowed; allowed: a number from 0 to 1"),
    (options.Size(), "2x3x4", "--max-jobs: '2x3x4' is not allowed; allowed: N, HxW, or 0"),
    (options.Size(), "-1", "--max-jobs: '-1' is not allowed"),
    (options.TARGET, "moon", "--max-jobs: 'moon' is not allowed; allowed: local, aws"),
    (options.Names(("a", "b")), "a,c,d", "--max-jobs: c, d is not allowed; allowed: a, b"),
], ids=lambda v: repr(v))
def test_bad_values_are_option_errors_naming_the_flag(parser, given, message):
    with pytest.raises(options.OptionError) as err:
        parser("max_jobs", given)
    assert str(err.value).startswith(message)


def test_a_command_parses_before_its_body_and_fails_with_exit_2():
    calls = []

    @command(parse={"port": options.PORT, "count": options.COUNT})
    def serve(c, port=None, count="2"):
        calls.append((port, count))

    serve(Context(), port="8080")
    with pytest.raises(Exit) as err:
        serve(Context(), port="x")

    assert calls == [(8080, 2)]  # the default is parsed too; the bad call never ran
    assert err.value.code == 2 and err.value.message == "error: --port: 'x' is not an integer"


def test_model_names_a_file_or_the_recorded_model_id(dogs_home, tmp_path):
    tar = tmp_path / "model.tar.gz"
    tar.write_bytes(b"not read here")
    dogs_home.mkdir(parents=True)
    (dogs_home / "state.json").write_text(json.dumps(
        {"artifact": {"local_path": str(tar), "model_id": "dogs-20261202-1"}}))

    assert artifact.model_path(str(tar)) == tar
    assert artifact.model_path("dogs-20261202-1") == tar
    assert artifact.model_path(None) == tar
    with pytest.raises(artifact.ArtifactError, match="--model dogs-x: no such model artifact"):
        artifact.model_path("dogs-x")
