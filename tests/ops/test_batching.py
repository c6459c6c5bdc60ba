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


def test_concurrent_requests_each_get_their_own_answer():
    batcher = MicroBatcher(slow_double, max_batch=4, max_wait_s=0.005)
    start = threading.Barrier(12)

    def one(i: int) -> float:
        start.wait()
        with batcher.preparing():
            future = batcher.submit(np.array([float(i)]))
        return float(future.result(timeout=10)[0])

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(one, range(12)))
    assert answers == [2.0 * i for i in range(12)]
    assert max(batcher.batches) > 1 and max(batcher.batches) <= 4
    assert sum(batcher.batches) == 12


def test_a_lone_request_does_not_wait_for_company():
    batcher = MicroBatcher(lambda b: b, max_batch=8, max_wait_s=2.0)
    started = time.monotonic()
    with batcher.preparing():
        future = batcher.submit(np.ones(2))
    assert future.result(timeout=10).tolist() == [1.0, 1.0]
    assert time.monotonic() - started < 1.0


def test_a_failing_forward_pass_fails_each_request_of_its_batch():
    def broken(batch):
        raise RuntimeError("boom")

    batcher = MicroBatcher(broken, max_batch=4)
    futures = [batcher.submit(np.ones(1)) for _ in range(3)]
    for future in futures:
        with pytest.raises(RuntimeError, match="boom"):
            future.result(timeout=10)
    assert batcher.submit(np.ones(1)).exception(timeout=10) is not None  # the worker lives on


@pytest.mark.parametrize("max_batch,max_wait_s", [(0, 0.001), (2, -1.0)])
def test_bad_settings_are_refused(max_batch, max_wait_s):
    with pytest.raises(ValueError):
        MicroBatcher(lambda b: b, max_batch=max_batch, max_wait_s=max_wait_s)


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
