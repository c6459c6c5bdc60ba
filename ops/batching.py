"""Micro-batching for the local endpoint: concurrent requests share one forward pass.

Each request decodes and preprocesses its image in its own server thread; the network runs on whatever is
queued, up to `max_batch` images at once, one batch at a time. A batch waits for more (at most
`max_wait_s`) only while other requests are still being preprocessed, so a lone request never waits.
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
    """Runs `forward(batch (N, ...)) -> (N, ...)` for requests that arrive together, one batch at a time.

    No thread of its own: a request that finds the model idle runs the next batch itself (the oldest
    queued inputs, its own among them), so a lone request pays no hand-over between threads; the others
    wait for a batch to finish, then either have their answer or run the next batch.
    """

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
        self._count_lock = threading.Lock()
        self._runner = threading.Lock()  # held by the request running a batch
        self._batch_done = threading.Condition()

    @contextmanager
    def preparing(self) -> Iterator[None]:
        """Around a request's preprocessing: a runner may wait for it to join the current batch."""
        with self._count_lock:
            self._preparing += 1
        try:
            yield
        finally:
            with self._count_lock:
                self._preparing -= 1

    def run(self, item: np.ndarray) -> np.ndarray:
        """The forward pass's row for one input (blocks until its batch has run)."""
        future: Future = Future()
        self._queue.put((item, future))
        while not future.done():
            if self._runner.acquire(blocking=False):  # the model is idle: run the next batch here
                try:
                    if not self._queue.empty():
                        self._run_batch(self._take())
                finally:
                    with self._batch_done:
                        self._runner.release()
                        self._batch_done.notify_all()
            else:
                with self._batch_done:  # released and notified under this lock: no lost wake-up
                    if not future.done() and self._runner.locked():
                        self._batch_done.wait(timeout=1.0)
        return future.result()

    def _take(self) -> list[tuple[np.ndarray, Future]]:
        batch = [self._queue.get_nowait()]
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
        return batch

    def _run_batch(self, batch: list[tuple[np.ndarray, Future]]) -> None:
        self.batches = self.batches[-999:] + [len(batch)]
        try:
            inputs = batch[0][0][None] if len(batch) == 1 else np.stack([x for x, _ in batch])
            outputs = self.forward(inputs)
        except Exception as exc:  # every request of the batch gets the error
            for _, future in batch:
                future.set_exception(exc)
            return
        for row, (_, future) in zip(outputs, batch):
            future.set_result(row)


def warm_up(model, max_batch: int) -> None:
    """One forward pass at each batch size: the runtime plans memory per input shape on first sight,
    which would otherwise land on the first requests that meet each size (hundreds of ms here)."""
    channels, height, width = model.description.get("image_shape") or (3, 224, 224)
    for size in range(1, max_batch + 1):
        model.forward(np.zeros((size, channels, height, width), dtype=np.float32))


def batched_invoke(model, max_batch: int = 8, max_wait_s: float = 0.002) -> Callable[[bytes, str, str],
                                                                                   bytes]:
    """`model.invoke` (an ops.artifact.LoadedModel's), with concurrent forward passes batched."""
    warm_up(model, max_batch)
    batcher = MicroBatcher(model.forward, max_batch=max_batch, max_wait_s=max_wait_s)

    def invoke(body: bytes, content_type: str, accept: str = "application/json") -> bytes:
        with batcher.preparing():
            item = model.prepare(body, content_type)
        return model.respond(batcher.run(item), accept)

    invoke.batcher = batcher
    return invoke
