"""The in-process endpoint: each request decoded in its own thread, at most `lanes` forward passes at
once, and every concurrent request answered for its own photo."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from ops.emulator.local_endpoint import laned_invoke


class CountingModel:
    """prepare/forward/outputs/respond as a LoadedModel has them; counts the passes that run at once."""
    description = {"image_shape": [1, 1, 1]}

    def __init__(self):
        self.inside = self.most = 0
        self.lock = threading.Lock()

    def prepare(self, body: bytes, content_type: str) -> np.ndarray:
        return np.array([float(body.decode())], dtype=np.float32)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.05)
        with self.lock:
            self.inside -= 1
        return batch + 1

    def outputs(self, batch: np.ndarray) -> np.ndarray:
        return self.forward(batch)

    def respond(self, probabilities, accept: str = "application/json") -> bytes:
        return json.dumps([float(p) for p in probabilities]).encode()


@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_forward_passes_run_side_by_side_on_at_most_lanes(lanes):
    model = CountingModel()
    invoke = laned_invoke(model, lanes)
    start = threading.Barrier(8)

    def one(i: int) -> float:
        start.wait()
        answer = json.loads(invoke(str(i).encode(), "application/x-image"))
        assert set(invoke.timing.values) == {"preprocess", "queue", "forward"}
        return answer[0]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert answers == [i + 1.0 for i in range(8)]
    assert model.most == lanes


def test_a_failing_forward_pass_fails_its_request_and_frees_its_lane():
    model = CountingModel()
    invoke = laned_invoke(model, 1)
    working = model.forward
    model.forward = lambda batch: (_ for _ in ()).throw(RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        invoke(b"1", "application/x-image")
    model.forward = working
    assert json.loads(invoke(b"1", "application/x-image")) == [2.0]  # the lane was given back


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
