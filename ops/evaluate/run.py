"""`invoke evaluate`: photos of an LST (and of unknown-breed folders) → predictions (cached) → metrics →
the report folder."""
from __future__ import annotations

import errno
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ops.core import state
from ops.evaluate import known_breed
from ops.evaluate.photos import Skipped, check_lst
from ops.evaluate.predict import PredictionCache, predict_all
from ops.evaluate.report import build_metrics, write_report
from ops.evaluate.sources import EvaluationError, PredictionSource
from training import classmap, metrics as m
from training.classmap import BreedClass

_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG}
LOW_SPACE_BYTES = 1024 * 1024  # below this, a failed write is put down to a full disk


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


def evaluate_via(lst: str | None, data: str | None, out: str | None, via: str, *, source_options: dict,
                 workers: int | None, classes: str | None = None, cache: str | None = None,
                 options: Options, unknown: Sequence[str] = ()) -> tuple[dict, Path]:
    """`invoke evaluate`: the source `via` names (ops/evaluate/sources.py), evaluated into `out`
    (default: .dogs/reports/<LST name>-<via>); returns the report and its folder."""
    from ops.evaluate import sources

    if not lst or not data:
        raise EvaluationError("give --lst TEST.lst and --data IMAGES_DIR (or --compare A --compare B)")
    options.workers = workers or ((os.cpu_count() or 2) if via == "model" else 4)
    if via == "model":
        from ops.core.artifact import model_path

        source_options = {**source_options, "model": model_path(source_options.get("model"))}
    source = sources.open_source(via, **source_options, known_breed=bool(unknown))
    out = Path(out or state.home() / "reports" / f"{Path(lst).stem}-{via}")
    return evaluate(lst, data, out, source, classes_path=classes, cache_path=cache,
                    options=options, unknown=unknown), out


def evaluate(lst: str | Path, data: str | Path, out: str | Path, source: PredictionSource, *,
             classes_path: str | Path | None = None, cache_path: str | Path | None = None,
             options: Options | None = None, unknown: Sequence[str | Path] = ()) -> dict:
    """Evaluate `source` on the photos of `lst` and write the report into `out`; returns metrics.
    With `unknown` (folders of photos of other breeds), also how well the model's known-breed score
    tells those from the photos of `lst`."""
    options = options or Options()
    started = time.perf_counter()
    lst, data, out = Path(lst), Path(data), Path(out)
    if not data.is_dir():
        raise EvaluationError(f"{data}: no such images folder (--data)")
    classes = resolve_classes(source, lst, classes_path)
    photos, skipped = check_lst(lst, data, len(classes), options.workers, options.progress)
    cache_path = Path(cache_path or default_cache())
    with disk_errors(f"the prediction cache {cache_path}", cache_path.parent, cache_path):
        with PredictionCache(cache_path) as cache:
            preds = predict_all(photos, data, source, cache, options.workers, options.progress,
                                known_breed=bool(unknown))
            folders = known_breed.predict_folders(unknown, source, cache, options.workers,
                                                  options.progress)
    predicted_at = time.perf_counter()
    if preds.rejected:  # refused by the service: reported like a corrupt photo
        skipped += [Skipped(p.index, p.path, preds.rejected[p.sha256]) for p in photos
                    if p.sha256 in preds.rejected]
        photos = [p for p in photos if p.sha256 not in preds.rejected]
    answers = [preds.answers[p.sha256] for p in photos]
    probs = _probabilities(answers, len(classes))
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
    report["known_breed"] = known_breed.figures(
        answers, folders, model_id=preds.model_id, via=source.name,
        threshold=getattr(source, "known_breed_threshold", None)) if unknown else None
    report["timing_s"] = {"predict": round(predicted_at - started, 3)}
    scores = known_breed.score_groups(answers, folders, model_id=preds.model_id,
                                      via=source.name) if unknown else None
    with disk_errors(f"the report folder {out}", out, cache_path):
        write_report(report, photos, probs, data, out, known_breed_scores=scores)
    report["timing_s"]["total"] = round(time.perf_counter() - started, 3)
    return report


def _probabilities(answers, num_classes: int) -> np.ndarray:
    sizes = {len(a.probabilities) for a in answers}
    if sizes != {num_classes}:
        raise EvaluationError(f"the model answers {'/'.join(map(str, sorted(sizes)))} "
                              f"probabilities per photo but the class map has {num_classes} "
                              f"breeds; pass the model's classes.json with --classes")
    return np.array([a.probabilities for a in answers], dtype=np.float64)


@contextmanager
def disk_errors(what: str, folder: Path, cache_path: Path) -> Iterator[None]:
    """A full or failing disk as one clear error: what could not be written, how much room is left,
    and that the predictions committed so far stay in the cache for the rerun (SQLite commits each
    batch in one transaction)."""
    try:
        yield
    except (sqlite3.OperationalError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno not in _DISK_ERRNOS:
            raise
        if isinstance(exc, sqlite3.OperationalError) and not any(
                word in str(exc) for word in ("disk", "full", "I/O")):
            raise EvaluationError(f"{what}: {exc}") from None
        free = _free_bytes(folder)
        room = (f"no space left on the device ({free} bytes free)" if free is not None
                and free < LOW_SPACE_BYTES else "a disk error")
        raise EvaluationError(
            f"cannot write {what}: {room} ({exc}); the predictions made so far are kept in "
            f"{cache_path}: free some space (or choose --out/--cache elsewhere) and run again to go "
            "on from them") from None


def _free_bytes(folder: Path) -> int | None:
    for candidate in (folder, *folder.parents):
        try:
            stat = os.statvfs(candidate)
        except OSError:
            continue
        return stat.f_bavail * stat.f_frsize
    return None


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
