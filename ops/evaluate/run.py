"""`invoke evaluate`: photos of an LST → predictions (cached) → metrics → the report folder."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ops import state
from ops.evaluate.cache import PredictionCache
from ops.evaluate.photos import Skipped, scan
from ops.evaluate.predict import predict_all
from ops.evaluate.report import build_metrics, write_report
from ops.evaluate.sources import EvaluationError, PredictionSource
from training import classmap, metrics as m
from training.classmap import BreedClass


@dataclass
class Options:
    workers: int = 4
    worst: int = 5
    suspects: int = 50
    min_confidence: float = 0.5
    bins: int = 15
    progress: bool = True


def default_cache() -> Path:
    return state.home() / "eval-cache.sqlite"


def evaluate(lst: str | Path, data: str | Path, out: str | Path, source: PredictionSource, *,
             classes_path: str | Path | None = None, cache_path: str | Path | None = None,
             options: Options | None = None) -> dict:
    """Evaluate `source` on the photos of `lst` and write the report into `out`; returns metrics."""
    options = options or Options()
    started = time.perf_counter()
    lst, data, out = Path(lst), Path(data), Path(out)
    if not data.is_dir():
        raise EvaluationError(f"{data}: no such images folder (--data)")
    classes = resolve_classes(source, lst, classes_path)
    photos, skipped = scan(lst, data, len(classes), options.workers, options.progress)
    with PredictionCache(cache_path or default_cache()) as cache:
        preds = predict_all(photos, data, source, cache, options.workers, options.progress)
    predicted_at = time.perf_counter()
    if preds.rejected:  # refused by the service: reported like a corrupt photo
        skipped += [Skipped(p.index, p.path, preds.rejected[p.sha256]) for p in photos
                    if p.sha256 in preds.rejected]
        photos = [p for p in photos if p.sha256 not in preds.rejected]
    sizes = {len(preds.probs[p.sha256]) for p in photos}
    if sizes != {len(classes)}:
        raise EvaluationError(f"the model answers {'/'.join(map(str, sorted(sizes)))} "
                              f"probabilities per photo but the class map has {len(classes)} "
                              f"breeds; pass the model's classes.json with --classes")
    probs = np.array([preds.probs[p.sha256] for p in photos], dtype=np.float64)
    zoom = min(12, max(2, -(-len(classes) // 2)))  # half the breeds, at most 12
    summary = m.summarize(probs, [p.class_id for p in photos], worst=options.worst,
                          bins=options.bins, zoom=zoom, min_confidence=options.min_confidence,
                          suspects=options.suspects)
    context = {"model_id": preds.model_id, "via": source.name, "lst": str(lst), "data": str(data),
               "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    skipped.sort(key=lambda s: s.index)
    report = build_metrics(summary, classes, photos, skipped, listed=len(photos) + len(skipped),
                           context=context)
    report["images"].update(predicted_now=preds.predicted, from_cache=preds.cached)
    report["timing_s"] = {"predict": round(predicted_at - started, 3)}
    write_report(report, photos, probs, data, out)
    report["timing_s"]["total"] = round(time.perf_counter() - started, 3)
    return report


def resolve_classes(source: PredictionSource, lst: Path,
                    classes_path: str | Path | None) -> list[BreedClass]:
    """--classes, else the model's own class map, else classes.json beside the LST file."""
    if classes_path:
        return classmap.load(classes_path)
    if source.classes:
        return [_as_breed_class(i, c) for i, c in enumerate(source.classes)]
    beside = lst.parent / classmap.FILENAME
    if beside.exists():
        return classmap.load(beside)
    raise EvaluationError(f"no class map: pass --classes, or keep {classmap.FILENAME} beside "
                          f"{lst.name} (as `invoke lst` writes it)")


def _as_breed_class(i: int, c) -> BreedClass:
    if isinstance(c, BreedClass):
        return c
    if isinstance(c, dict):
        return BreedClass(int(c.get("id", i)), c.get("folder", c.get("name", str(i))),
                          c.get("wnid", ""), c.get("name") or classmap.display_name(c["folder"]))
    return BreedClass(i, str(c), "", classmap.display_name(str(c)))
