"""Predict every photo once: cached answers first, the rest in concurrent batches with a progress bar.

Each finished batch is committed to the cache before the next is counted, so an interrupted run loses at
most the batches in flight; a rerun predicts only what is missing. When the known-breed verdict is wanted,
the first answer must carry it (else one clear error, before the rest is predicted) and cached answers
without it are predicted again.

The cache (`PredictionCache`) is keyed by (model id, image content hash). A row holds the model's answer
as JSON: the probability array, or the verbose object with the known-breed verdict
(`sources.PhotoPrediction.as_json`); rows written before the verdict existed are arrays. SQLite: every
batch is committed in one transaction, so a crash or Ctrl-C keeps what was finished and never leaves a
half-written row. Use it from one thread (the evaluation writes from its main thread).
"""
from __future__ import annotations

import json
import sqlite3
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from tqdm import tqdm

from ops.evaluate.photos import EvaluationPhoto, read_bytes
from ops.evaluate.sources import (EvaluationError, PhotoPrediction, PredictionSource, RejectedImage,
                                  as_prediction)


SCHEMA = """CREATE TABLE IF NOT EXISTS predictions (
    model_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    probabilities TEXT NOT NULL,
    PRIMARY KEY (model_id, sha256))"""


class PredictionCache:
    """Predictions keyed by (model id, image content hash), so an interrupted evaluation resumes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: still atomic, no fsync per batch
        self._db.execute(SCHEMA)
        self._db.commit()

    def get_many(self, model_id: str, hashes: Iterable[str]) -> dict[str, PhotoPrediction]:
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, PhotoPrediction] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT sha256, probabilities FROM predictions WHERE model_id = ? "
                f"AND sha256 IN ({marks})", [model_id, *chunk])
            found.update((h, as_prediction(json.loads(p), str(self.path))) for h, p in rows)
        return found

    def put_many(self, model_id: str, items: Iterable[tuple[str, PhotoPrediction]]) -> None:
        with self._db:  # one transaction
            self._db.executemany(
                "INSERT OR REPLACE INTO predictions (model_id, sha256, probabilities) "
                "VALUES (?, ?, ?)", [(model_id, h, json.dumps(p.as_json())) for h, p in items])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "PredictionCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Predictions:
    model_id: str
    answers: dict[str, PhotoPrediction]  # by image sha256
    predicted: int                 # photos sent to the source in this run
    cached: int                    # photos answered from the cache
    rejected: dict[str, str] = field(default_factory=dict)  # sha256 → why the source refused it


def predict_all(photos: Sequence[EvaluationPhoto], data: str | Path, source: PredictionSource,
                cache: PredictionCache, workers: int = 4, progress: bool = True, *,
                known_breed: bool = False) -> Predictions:
    """Every photo's prediction; with `known_breed`, each carries the model's known-breed verdict."""
    if not photos:
        raise EvaluationError(f"no usable photo to evaluate in {data}")
    unique = list({p.sha256: p for p in photos}.values())  # identical files are predicted once
    model_id, answers, rejected = _identify(source, data, unique, cache, known_breed)
    done_before = cache.get_many(model_id, [p.sha256 for p in unique if p.sha256 not in answers])
    if known_breed:
        done_before = {h: a for h, a in done_before.items() if a.known_breed_score is not None}
    cached = len(done_before)
    answers.update(done_before)
    todo = [p for p in unique if p.sha256 not in answers and p.sha256 not in rejected]
    predicted = len(answers) - cached + len(rejected)  # the identifying request(s)
    size = max(1, source.batch_size)
    batches = [todo[i:i + size] for i in range(0, len(todo), size)]
    bar = tqdm(total=len(unique), initial=len(unique) - len(todo), unit="img",
               desc=f"predict via {source.name}", disable=not progress, leave=False)
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        pending = {}
        queue = iter(batches)
        for batch in queue:  # keep at most 2 batches per worker in flight
            pending[pool.submit(_predict_batch, source, data, batch)] = batch
            if len(pending) >= 2 * max(1, workers):
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            failed = [f for f in done if f.exception() is not None]
            for future in done:  # keep every finished batch before reporting a failure
                batch = pending.pop(future)
                if future in failed:
                    continue
                got = future.result()
                good = [(p.sha256, a) for p, a in zip(batch, got) if not isinstance(a, str)]
                cache.put_many(model_id, good)
                answers.update(good)
                rejected.update((p.sha256, a) for p, a in zip(batch, got) if isinstance(a, str))
                bar.update(len(batch))
                nxt = next(queue, None)
                if nxt is not None:
                    pending[pool.submit(_predict_batch, source, data, nxt)] = nxt
            if failed:
                failed[0].result()  # raises the batch's error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return Predictions(model_id, answers, predicted=predicted + len(todo), cached=cached,
                       rejected=rejected)


def _identify(source: PredictionSource, data, unique: Sequence[EvaluationPhoto],
              cache: PredictionCache, known_breed: bool):
    """(model id, the predictions learnt on the way, photos refused on the way)."""
    rejected: dict[str, str] = {}
    for photo in unique:
        body = read_bytes(data, photo)
        try:
            model_id, first = source.identify(body)
            if first is None and known_breed:  # does the model give the verdict at all?
                if _verdict_cached(cache, model_id, photo.sha256):
                    return model_id, {}, rejected
                first = source.predict([body])[0]
        except RejectedImage as exc:
            rejected[photo.sha256] = f"rejected by the {source.name}: {exc}"
            continue
        if first is None:
            return model_id, {}, rejected
        if known_breed and first.known_breed_score is None:
            raise EvaluationError(no_known_breed_score(model_id, source.name))
        cache.put_many(model_id, [(photo.sha256, first)])
        return model_id, {photo.sha256: first}, rejected
    raise EvaluationError(f"the {source.name} refused every photo; the first: "
                          f"{next(iter(rejected.values()))}")


def _verdict_cached(cache: PredictionCache, model_id: str, sha256: str) -> bool:
    cached = cache.get_many(model_id, [sha256]).get(sha256)
    return cached is not None and cached.known_breed_score is not None


def no_known_breed_score(model_id: str, via: str) -> str:
    return (f"the model {model_id} (via {via}) gives no known-breed score: it was trained with "
            "known_breed_score=0 or before the score existed; evaluate it without --unknown-data, or "
            "retrain it")


def _predict_batch(source: PredictionSource, data, batch: Sequence[EvaluationPhoto]) -> list:
    """The prediction of each photo; a photo the source refuses gets the reason (a str) instead. A refused
    batch is retried photo by photo, so one bad photo does not cost its neighbours."""
    try:
        answers = source.predict([read_bytes(data, p) for p in batch])
    except RejectedImage as exc:
        if len(batch) == 1:
            return [f"rejected by the {source.name}: {exc}"]
        return [a for p in batch for a in _predict_batch(source, data, [p])]
    if len(answers) != len(batch):
        raise EvaluationError(f"{source.name}: {len(batch)} images sent, {len(answers)} answers")
    return answers
