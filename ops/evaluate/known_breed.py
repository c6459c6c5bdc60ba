"""Known breed or not: how well the model's known-breed score tells the evaluation's photos (its own
breeds) from photos of breeds it was not trained on (`invoke evaluate --unknown-data FOLDER`).

Per unknown-breed folder: the AUROC of the score (the evaluation's photos against that folder's; 1 when
every known photo scores above every unknown one), and at the model's stored threshold (its own
`is_known_breed` verdicts) the share of the evaluation's photos accepted and of the folder's photos
rejected, each with its 95% Wilson interval. The photos of a folder are checked, predicted and cached as
the evaluation's are.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ops.evaluate.photos import EvaluationPhoto, Skipped, check_folder
from ops.evaluate.predict import PredictionCache, no_known_breed_score, predict_all
from ops.evaluate.sources import EvaluationError, PhotoPrediction, PredictionSource
from training import metrics

KNOWN = "evaluation photos (known breeds)"  # the label of the known photos' scores


@dataclass
class UnknownFolder:
    """An unknown-breed folder's photos and the model's answers to them."""
    folder: Path
    photos: list[EvaluationPhoto]  # the usable ones the model answered
    skipped: list[Skipped]         # unusable, or refused by the source
    answers: list[PhotoPrediction]      # in the order of `photos`


def predict_folders(folders: Sequence[str | Path], source: PredictionSource, cache: PredictionCache,
                    workers: int = 4, progress: bool = True) -> list[UnknownFolder]:
    """Check and predict (with the known-breed verdict) every photo of each unknown-breed folder."""
    result = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise EvaluationError(f"{folder}: no such folder of unknown-breed photos (--unknown-data)")
        photos, skipped = check_folder(folder, workers, progress)
        if not photos:
            raise EvaluationError(f"{folder}: no usable JPEG/PNG photo in it (--unknown-data)")
        preds = predict_all(photos, folder, source, cache, workers, progress, known_breed=True)
        skipped += [Skipped(p.index, p.path, preds.rejected[p.sha256]) for p in photos
                    if p.sha256 in preds.rejected]
        photos = [p for p in photos if p.sha256 not in preds.rejected]
        result.append(UnknownFolder(folder, photos, skipped, [preds.answers[p.sha256] for p in photos]))
    return result


def figures(known: Sequence[PhotoPrediction], unknown: Sequence[UnknownFolder], *, model_id: str, via: str,
            threshold: float | None) -> dict:
    """The metrics.json section: {threshold, known: {photos, accepted}, unknown: [{folder, listed,
    evaluated, skipped, auroc, rejected}]}; rates are {count, total, value, ci95}."""
    known_scores, known_verdicts = _scores(known, model_id, via)
    section = {"threshold": threshold,
               "known": {"photos": len(known), "accepted": rate(int(known_verdicts.sum()), len(known))},
               "unknown": []}
    for u in unknown:
        scores, verdicts = _scores(u.answers, model_id, via)
        section["unknown"].append({
            "folder": str(u.folder), "listed": len(u.photos) + len(u.skipped), "evaluated": len(u.photos),
            "skipped": [{"path": s.path, "reason": s.reason} for s in u.skipped],
            "auroc": metrics.auroc(known_scores, scores),
            "rejected": rate(int((~verdicts).sum()), len(u.photos))})
    return section


def score_groups(known: Sequence[PhotoPrediction], unknown: Sequence[UnknownFolder], *, model_id: str,
                 via: str) -> dict[str, np.ndarray]:
    """{label: known-breed scores}: the evaluation's photos, then each unknown folder (for the plot)."""
    groups = {KNOWN: _scores(known, model_id, via)[0]}
    for u in unknown:
        groups[str(u.folder)] = _scores(u.answers, model_id, via)[0]
    return groups


def rate(count: int, total: int) -> dict:
    lo, hi = metrics.wilson_interval(count, total)
    return {"count": count, "total": total, "value": count / total if total else None, "ci95": [lo, hi]}


def _scores(answers: Sequence[PhotoPrediction], model_id: str, via: str) -> tuple[np.ndarray, np.ndarray]:
    """(known-breed scores, verdicts) of `answers`; an answer without a score is one clear error."""
    if any(a.known_breed_score is None for a in answers):
        raise EvaluationError(no_known_breed_score(model_id, via))
    return (np.array([a.known_breed_score for a in answers], dtype=np.float64),
            np.array([a.is_known_breed for a in answers], dtype=bool))
