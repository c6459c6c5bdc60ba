"""Micro-batching for the local endpoint: concurrent requests share one forward pass.

Each request decodes and preprocesses its image in its own server thread; one worker thread runs the
network on whatever is queued, up to `max_batch` images. It waits for more (at most `max_wait_s`) only while
other requests are still being preprocessed, so a lone request never waits.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np


class MicroBatcher:
    """Runs `forward(batch (N, ...)) -> (N, ...)` on one thread for requests submitted together."""

    def __init__(self, forward: Callable[[np.ndarray], np.ndarray], max_batch: int = 8,
                 max_wait_s: float = 0.002):
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_s >= 0")
        self.forward = forward
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.batches: list[int] = []  # the size of each batch run, most recent last (bounded)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._preparing = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
        self._thread.start()

    @contextmanager
    def preparing(self) -> Iterator[None]:
        """Around a request's preprocessing: the worker may wait for it to join the current batch."""
        with self._lock:
            self._preparing += 1
        try:
            yield
        finally:
            with self._lock:
                self._preparing -= 1

    def submit(self, item: np.ndarray) -> Future:
        """Queue one input; the future's result is its row of the forward pass's output."""
        future: Future = Future()
        self._queue.put((item, future))
        return future

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except queue.Empty:
                    pass
                left = deadline - time.monotonic()
                if self._preparing == 0 or left <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[np.ndarray, Future]]) -> None:
        self.batches = self.batches[-999:] + [len(batch)]
        try:
            inputs = batch[0][0][None] if len(batch) == 1 else np.stack([x for x, _ in batch])
            outputs = self.forward(inputs)
        except BaseException as exc:  # every waiting request gets the error
            for _, future in batch:
                future.set_exception(exc)
            return
        for row, (_, future) in zip(outputs, batch):
            future.set_result(row)


def batched_invoke(model, max_batch: int = 8, max_wait_s: float = 0.002) -> Callable[[bytes, str, str],
                                                                                   bytes]:
    """`model.invoke` (an ops.artifact.LoadedModel's), with concurrent forward passes batched."""
    batcher = MicroBatcher(model.forward, max_batch=max_batch, max_wait_s=max_wait_s)

    def invoke(body: bytes, content_type: str, accept: str = "application/json") -> bytes:
        with batcher.preparing():
            future = batcher.submit(model.prepare(body, content_type))
        return model.respond(future.result(), accept)

    invoke.batcher = batcher
    return invoke
