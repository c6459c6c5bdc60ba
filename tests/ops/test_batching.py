"""Micro-batching: concurrent requests share forward passes and each gets its own answer."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from ops.batching import MicroBatcher


def slow_double(batch: np.ndarray) -> np.ndarray:
    time.sleep(0.02)
    return batch * 2


def test_the_request_that_finds_the_model_idle_runs_it_in_its_own_thread():
    threads = []
    batcher = MicroBatcher(lambda b: threads.append(threading.current_thread()) or b)
    batcher.run(np.ones(1))
    assert threads == [threading.current_thread()]


def test_concurrent_requests_each_get_their_own_answer():
    batcher = MicroBatcher(slow_double, max_batch=4, max_wait_s=0.005)
    start = threading.Barrier(12)

    def one(i: int) -> float:
        start.wait()
        with batcher.preparing():
            item = np.array([float(i)])
        return float(batcher.run(item)[0])

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(one, range(12)))
    assert answers == [2.0 * i for i in range(12)]
    assert max(batcher.batches) > 1 and max(batcher.batches) <= 4
    assert sum(batcher.batches) == 12


def test_a_lone_request_does_not_wait_for_company():
    batcher = MicroBatcher(lambda b: b, max_batch=8, max_wait_s=2.0)
    started = time.monotonic()
    assert batcher.run(np.ones(2)).tolist() == [1.0, 1.0]
    assert time.monotonic() - started < 1.0
    assert batcher.batches == [1]


def test_a_failing_forward_pass_fails_each_request_of_its_batch():
    def broken(batch):
        raise RuntimeError("boom")

    batcher = MicroBatcher(broken, max_batch=4)
    start = threading.Barrier(3)

    def one(_):
        start.wait()
        with pytest.raises(RuntimeError, match="boom"):
            batcher.run(np.ones(1))

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(one, range(3)))
    with pytest.raises(RuntimeError, match="boom"):  # and the next request is served (and fails) too
        batcher.run(np.ones(1))


@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_forward_passes_run_side_by_side_on_at_most_lanes(lanes):
    inside, most, lock = 0, 0, threading.Lock()

    def forward(batch):
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)
        with lock:
            inside -= 1
        return batch + 1

    batcher = MicroBatcher(forward, max_batch=1, lanes=lanes)
    start = threading.Barrier(8)

    def one(i: int) -> float:
        start.wait()
        return float(batcher.run(np.array([float(i)]))[0])

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert answers == [i + 1.0 for i in range(8)]
    assert most == batcher.most_running == lanes
    assert batcher.batches == [1] * 8


@pytest.mark.parametrize("max_batch,max_wait_s,lanes", [(0, 0.001, 1), (2, -1.0, 1), (2, 0.001, 0)])
def test_bad_settings_are_refused(max_batch, max_wait_s, lanes):
    with pytest.raises(ValueError):
        MicroBatcher(lambda b: b, max_batch=max_batch, max_wait_s=max_wait_s, lanes=lanes)


def test_the_endpoint_answers_concurrent_requests_each_for_its_own_photo(local_endpoint, photos,
                                                                         loaded_tiny):
    bodies = [jpeg for _, jpeg in photos.values()] * 3
    expected = {i: loaded_tiny.predict(body) for i, body in enumerate(bodies[:len(photos)])}

    def ask(i: int) -> list[float]:
        response = requests.post(f"{local_endpoint.url}/invocations", data=bodies[i], timeout=120,
                                 headers={"Content-Type": "application/x-image"})
        assert response.status_code == 200
        return response.json()

    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(ask, range(len(bodies))))
    for i, probs in enumerate(answers):
        assert probs == pytest.approx(expected[i % len(photos)], abs=1e-5)
