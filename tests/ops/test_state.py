"""The project state file under concurrent commands: every update survives."""
from __future__ import annotations

import json
import multiprocessing
import os
from types import SimpleNamespace

from ops.core import state
from ops.deploy import model_history, stack
from training.files import leftovers

WORKERS, TIMES = 4, 40


def _record_many(worker: int) -> None:
    for i in range(TIMES):
        state.record(f"worker{worker}-{i}", i)


def _count_up(worker: int) -> None:
    for _ in range(TIMES):
        state.update("counter", lambda n: (n or 0) + 1)


def _deploy_many(worker: int) -> None:
    model = SimpleNamespace(model_data_url="s3://b/k/model.tar.gz", class_names=["a", "b"],
                            algorithm="pytorch")
    for i in range(TIMES):
        model.model_id = f"worker{worker}-{i}"
        model_history.record_deployed(f"target{worker}", model)
        stack.record(f"target{worker}-{i}", {"endpoint_name": model.model_id})
        stack.record(f"target{worker}", {f"output{i}": i}, merge=True)  # what deploy_training does


def _in_processes(home, work) -> None:
    """`work(worker)` in WORKERS processes at once, each as fast as it can, all on the state in `home`."""
    os.environ["DOGS_HOME"] = str(home)
    context = multiprocessing.get_context("fork")  # the test module is not importable by name
    workers = [context.Process(target=work, args=(w,)) for w in range(WORKERS)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
    assert [p.exitcode for p in workers] == [0] * WORKERS


def test_commands_recording_at_once_lose_no_key(tmp_path, monkeypatch):
    monkeypatch.setenv("DOGS_HOME", str(tmp_path))
    _in_processes(tmp_path, _record_many)

    # Then every key of every process is in the file
    data = json.loads((tmp_path / "state.json").read_text())
    assert {f"worker{w}-{i}" for w in range(WORKERS) for i in range(TIMES)} <= set(data)


def test_updates_of_one_key_at_once_lose_none(tmp_path, monkeypatch):
    monkeypatch.setenv("DOGS_HOME", str(tmp_path))
    _in_processes(tmp_path, _count_up)

    assert state.read("counter") == WORKERS * TIMES


def test_deploys_at_once_lose_no_history_entry_and_no_deployment(tmp_path, monkeypatch):
    # Given processes each recording deploys (model history, stack outputs, training outputs) at once
    monkeypatch.setenv("DOGS_HOME", str(tmp_path))
    _in_processes(tmp_path, _deploy_many)

    # Then every entry, every target's outputs and every merged output is there
    ids = [e["model_id"] for e in model_history.entries()]
    assert sorted(ids) == sorted(f"worker{w}-{i}" for w in range(WORKERS) for i in range(TIMES))
    deployments = state.read("deployments")
    assert {f"target{w}-{i}" for w in range(WORKERS) for i in range(TIMES)} <= set(deployments)
    assert all(deployments[f"target{w}"] == {f"output{i}": i for i in range(TIMES)} for w in range(WORKERS))


def test_a_record_replaces_the_file_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("DOGS_HOME", str(tmp_path))
    state.record("a", 1)
    state.record("b", {"c": [1, 2]})

    assert state.read("a") == 1 and state.read("b") == {"c": [1, 2]}
    assert not leftovers(tmp_path / "state.json")


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
