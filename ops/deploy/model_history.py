"""Which models were deployed where, and when: `invoke models`, `invoke deploy --model ID`, `invoke rollback`.

Every successful deploy appends an entry to `models` in the project state (`.dogs/state.json`): the
model id, where its artifact lives, its class names and algorithm (so an earlier model deploys again
without reading the artifact), the time, the target and, when its record has it, the validation accuracy.
A rollback is a deploy of the entry before the one serving: a new endpoint configuration, rolled out
blue/green as any deploy.
"""
from __future__ import annotations

import time
from typing import Any

from ops.core import state
from training.errors import UserError

KEY = "models"


class HistoryError(UserError):
    """No such model in the history, or nothing to roll back to."""


def entries() -> list[dict[str, Any]]:
    return list(state.read(KEY) or [])


def record_deployed(target: str, model, validation_accuracy: float | None = None) -> dict:
    entry = {"model_id": model.model_id, "model_data_url": model.model_data_url,
             "class_names": list(model.class_names), "algorithm": model.algorithm, "target": target,
             "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "validation_accuracy": validation_accuracy}
    state.update(KEY, lambda earlier: list(earlier or []) + [entry])
    return entry


def serving(target: str) -> dict | None:
    """The entry last deployed to `target` (what serves there now, unless it was destroyed since)."""
    if not (state.read("deployments") or {}).get(target):
        return None
    deployed = [e for e in entries() if e["target"] == target]
    return deployed[-1] if deployed else None


def find(model_id: str) -> dict:
    matches = [e for e in entries() if e["model_id"] == model_id]
    if not matches:
        known = sorted({e["model_id"] for e in entries()})
        raise HistoryError(f"--model {model_id}: not in the history; known: {', '.join(known) or 'none'} "
                           "(`invoke models`)")
    return matches[-1]


def previous(target: str) -> dict:
    """The model deployed to `target` before the one serving there."""
    current = serving(target)
    if current is None:
        raise HistoryError(f"nothing is deployed to {target}; nothing to roll back")
    earlier = [e for e in entries() if e["target"] == target and e["model_id"] != current["model_id"]]
    if not earlier:
        raise HistoryError(f"{current['model_id']} is the only model deployed to {target}; nothing to roll back to")
    return earlier[-1]


def rows() -> list[dict[str, Any]]:
    """One row per model (its latest entry), newest first, with where it serves now."""
    latest: dict[str, dict] = {}
    for entry in entries():
        latest[entry["model_id"]] = entry
    serving_ids = {t: (serving(t) or {}).get("model_id") for t in ("local", "aws")}
    trained = state.trained() or state.TrainedArtifact()
    result = [{**e, "serves": [t for t, m in serving_ids.items() if m == e["model_id"]]}
              for e in sorted(latest.values(), key=lambda e: e["deployed_at"], reverse=True)]
    if trained.model_id and trained.model_id not in latest:
        result.insert(0, {"model_id": trained.model_id, "target": None, "deployed_at": None,
                          "model_data_url": trained.s3_uri or trained.local_path or None,
                          "validation_accuracy": None, "serves": [], "algorithm": trained.algorithm})
    return result
