"""The project state file under concurrent commands: every update survives."""
from __future__ import annotations

import json
import multiprocessing

from ops.core import state


def _record_many(home: str, worker: int, count: int) -> None:
    import os

    os.environ["DOGS_HOME"] = home
    for i in range(count):
        state.record(f"worker{worker}-{i}", i)


def test_commands_recording_at_once_lose_no_key(tmp_path):
    # Given four processes, each recording its own keys as fast as it can
    context = multiprocessing.get_context("fork")  # the test module is not importable by name
    workers = [context.Process(target=_record_many, args=(str(tmp_path), w, 40)) for w in range(4)]

    for process in workers:
        process.start()
    for process in workers:
        process.join(120)

    # Then every key of every process is in the file
    assert [p.exitcode for p in workers] == [0] * 4
    data = json.loads((tmp_path / "state.json").read_text())
    assert {f"worker{w}-{i}" for w in range(4) for i in range(40)} <= set(data)


def test_a_record_replaces_the_file_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("DOGS_HOME", str(tmp_path))
    state.record("a", 1)
    state.record("b", {"c": [1, 2]})

    assert state.read("a") == 1 and state.read("b") == {"c": [1, 2]}
    assert not list(tmp_path.glob(".state.json.*.tmp"))


def test_the_trained_artifact_is_one_typed_record(tmp_path, monkeypatch):
    monkeypatch.setenv("DOGS_HOME", str(tmp_path))
    assert state.trained() is None
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"not read here")

    state.record_trained(state.TrainedArtifact(model_id="m1", algorithm="pytorch", local_path=str(model),
                                               metrics={"epochs_run": 2}))

    # the file holds only the fields that say something, under the one key every reader reads
    assert json.loads((tmp_path / "state.json").read_text())["artifact"] == {
        "model_id": "m1", "algorithm": "pytorch", "local_path": str(model), "metrics": {"epochs_run": 2}}
    trained = state.trained()
    assert (trained.model_id, trained.local_file(), trained.s3_uri) == ("m1", model, "")
    model.unlink()
    assert state.trained().local_file() is None  # a recorded file that is gone is no model


def test_an_older_state_file_with_unknown_keys_still_reads(tmp_path, monkeypatch):
    monkeypatch.setenv("DOGS_HOME", str(tmp_path))
    state.record("artifact", {"model_id": "job-1", "s3_uri": "s3://b/k/model.tar.gz", "classes": "x"})
    assert state.trained() == state.TrainedArtifact(model_id="job-1", s3_uri="s3://b/k/model.tar.gz")
