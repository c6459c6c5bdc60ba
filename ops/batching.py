"""Micro-batching for the local endpoint: concurrent requests share forward passes, on a few lanes.

Each request decodes and preprocesses its image in its own server thread; the network runs on whatever is
queued, up to `max_batch` images at once, on at most `lanes` forward passes at a time (one per core when
each pass runs on one intra-op thread). A batch waits for more (at most `max_wait_s`) only while other
requests are still being preprocessed, so a lone request never waits.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

POLL_S = 0.0002  # how often a batch being filled looks for requests that finished preprocessing


class MicroBatcher:
    """Runs `forward(batch (N, ...)) -> (N, ...)` for requests that arrive together, `lanes` batches at a time.

    No thread of its own: a request that finds a lane free runs the next batch itself (the oldest queued
    inputs, its own among them), so a lone request pays no hand-over between threads; the others wait for
    a batch to finish, then either have their answer or run the next batch.
    """

    def __init__(self, forward: Callable[[np.ndarray], np.ndarray], max_batch: int = 8,
                 max_wait_s: float = 0.002, lanes: int = 1):
        if max_batch < 1 or max_wait_s < 0 or lanes < 1:
            raise ValueError("max_batch and lanes must be >= 1 and max_wait_s >= 0")
        self.forward = forward
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.lanes = lanes
        self.batches: list[int] = []  # the size of each batch run, most recent last (bounded)
        self.most_running = 0  # the most forward passes that ran at once
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._preparing = 0
        self._count_lock = threading.Lock()
        self._running = 0  # lanes in use; changed and waited on under _batch_done
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
            if self._enter_lane():  # a lane is free: run the next batch here
                ran = False
                try:
                    if not self._queue.empty():
                        self._run_batch(self._take())
                        ran = True
                finally:
                    with self._batch_done:  # released and notified under this lock: no lost wake-up
                        self._running -= 1
                        self._batch_done.notify_all()
                        if not ran and not future.done():  # ours is in a batch another lane runs
                            self._batch_done.wait(timeout=1.0)
            else:
                with self._batch_done:
                    if not future.done() and self._running >= self.lanes:
                        self._batch_done.wait(timeout=1.0)
        return future.result()

    def _enter_lane(self) -> bool:
        with self._batch_done:
            if self._running >= self.lanes:
                return False
            self._running += 1
            self.most_running = max(self.most_running, self._running)
            return True

    def _take(self) -> list[tuple[np.ndarray, Future]]:
        batch = [self._queue.get_nowait()]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            if self._preparing == 0 or time.monotonic() >= deadline:
                break
            # Poll rather than block in SimpleQueue.get(timeout=...): on this VM that call was seen
            # never to return (a request hung until its client gave up), which a short sleep avoids.
            time.sleep(POLL_S)
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


def batched_invoke(model, max_batch: int = 8, max_wait_s: float = 0.002,
                   lanes: int = 1) -> Callable[[bytes, str, str], bytes]:
    """`model.invoke` (an ops.artifact.LoadedModel's), with up to `lanes` forward passes at once and,
    with `max_batch` > 1, concurrent requests batched into them."""
    warm_up(model, max_batch)
    timing = threading.local()  # this thread's last request: milliseconds per stage (Server-Timing)
    if max_batch == 1:  # no batching: each request runs its own pass as soon as a lane is free
        lane = threading.BoundedSemaphore(lanes)

        def invoke(body: bytes, content_type: str, accept: str = "application/json") -> bytes:
            started = time.perf_counter()
            item = model.prepare(body, content_type)
            prepared = time.perf_counter()
            with lane:
                waited = time.perf_counter()
                probabilities = model.outputs(item[None])[0]
            done = time.perf_counter()
            timing.values = {"preprocess": prepared - started, "queue": waited - prepared,
                             "forward": done - waited}
            return model.respond(probabilities, accept)

        invoke.timing = timing
        return invoke
    batcher = MicroBatcher(model.outputs, max_batch=max_batch, max_wait_s=max_wait_s, lanes=lanes)

    def batched(body: bytes, content_type: str, accept: str = "application/json") -> bytes:
        started = time.perf_counter()
        with batcher.preparing():
            item = model.prepare(body, content_type)
        prepared = time.perf_counter()
        probabilities = batcher.run(item)
        timing.values = {"preprocess": prepared - started, "batch": time.perf_counter() - prepared}
        return model.respond(probabilities, accept)

    batched.batcher = batcher
    batched.timing = timing
    return batched
