"""A cache of predictions keyed by (model id, image content hash), so an interrupted evaluation resumes.

A row holds the model's answer as JSON: the probability array, or the verbose object with the
known-breed verdict (`sources.PhotoPrediction.as_json`); rows written before the verdict existed are arrays.

SQLite: every batch is committed in one transaction, so a crash or Ctrl-C keeps what was finished and
never leaves a half-written row. Use it from one thread (the evaluation writes from its main thread).
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterable

from ops.evaluate.sources import PhotoPrediction, as_prediction

SCHEMA = """CREATE TABLE IF NOT EXISTS predictions (
    model_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    probabilities TEXT NOT NULL,
    PRIMARY KEY (model_id, sha256))"""


class PredictionCache:
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
