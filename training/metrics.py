"""Evaluation metrics of a classifier, from class probabilities and labels (pure numpy).

Inputs everywhere: `probs`, an (N, C) array of class probabilities in class-id order, and `labels`, the N
given class ids. Conventions, pinned by tests:

- Ties: the predicted class is the lowest class id among those with the highest probability (numpy's
  `argmax`); top-k ranks by probability, ties broken by lower class id.
- Undefined values are `None` (JSON null), never NaN: a breed absent from the test set has no recall, a
  breed never predicted has no precision, and F1 is undefined when either is (0 when both are 0).
- Macro averages run over the breeds present in the test set (support > 0); among those, a breed the model
  never predicts counts with precision 0 and F1 0 (it was wholly missed). Breeds absent from the test set
  are left out of the macro averages, and weighted averages (by support) give them weight 0.
- Suspected label errors are ranked by the probability of the predicted (other) breed, highest first; the
  probability the model gives the labelled breed (its "self-confidence") is reported beside it and breaks
  ties (lower first), then the image's position.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% quantile of the standard normal


def as_arrays(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert: probs (N, C) float, labels (N,) int in [0, C)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or p.shape[1] < 1:
        raise ValueError(f"probs must be (N, C) with C >= 1, got shape {p.shape}")
    if y.shape != (p.shape[0],):
        raise ValueError(f"labels must be ({p.shape[0]},), got shape {y.shape}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"labels must be class ids in [0, {p.shape[1]})")
    return p, y


def predictions(probs) -> np.ndarray:
    """Top-1 class ids; ties go to the lowest class id."""
    return np.asarray(probs, dtype=np.float64).argmax(axis=1)


def top_k(probs, k: int) -> np.ndarray:
    """(N, k) class ids by decreasing probability; ties by lower class id."""
    p = np.asarray(probs, dtype=np.float64)
    return np.argsort(-p, axis=1, kind="stable")[:, :k]


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval of a binomial proportion; (None, None) when n == 0."""
    if n == 0:
        return None, None
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def auroc(positive, negative) -> float | None:
    """Area under the ROC curve: the chance a random positive scores above a random negative (ties
    count half; the Mann-Whitney U statistic over n_pos x n_neg). None when either side is empty."""
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    if pos.size == 0 or neg.size == 0:
        return None
    from scipy.stats import rankdata  # imported here: the training container needs none of scipy

    ranks = rankdata(np.concatenate([pos, neg]))  # ties get their average rank
    u = ranks[:pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))


def accuracy(probs, labels, k: int = 1) -> dict:
    """Top-k accuracy with its 95% Wilson interval: {k, correct, total, value, ci95: [lo, hi]}."""
    p, y = as_arrays(probs, labels)
    k = min(k, p.shape[1])
    correct = int((top_k(p, k) == y[:, None]).any(axis=1).sum())
    n = int(y.size)
    lo, hi = wilson_interval(correct, n)
    return {"k": k, "correct": correct, "total": n, "value": correct / n if n else None,
            "ci95": [lo, hi]}


def confusion_matrix(labels, predicted, num_classes: int) -> np.ndarray:
    """(C, C) counts: row = given class, column = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return cm


def per_class(cm: np.ndarray) -> list[dict]:
    """Per class: {class_id, support, predicted, correct, precision, recall, f1} (None if undefined)."""
    cm = np.asarray(cm)
    out = []
    for c in range(cm.shape[0]):
        support, predicted, correct = int(cm[c].sum()), int(cm[:, c].sum()), int(cm[c, c])
        precision = correct / predicted if predicted else None
        recall = correct / support if support else None
        out.append({"class_id": c, "support": support, "predicted": predicted, "correct": correct,
                    "precision": precision, "recall": recall, "f1": f1(precision, recall)})
    return out


def f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def averages(rows: Sequence[dict]) -> dict:
    """Macro and support-weighted precision/recall/F1 over the classes present (see module doc)."""
    present = [r for r in rows if r["support"] > 0]
    total = sum(r["support"] for r in present)
    result = {"macro": {}, "weighted": {}, "classes_averaged": len(present)}
    for key in ("precision", "recall", "f1"):
        values = [r[key] if r[key] is not None else 0.0 for r in present]
        weights = [r["support"] for r in present]
        result["macro"][key] = sum(values) / len(values) if values else None
        result["weighted"][key] = (sum(v * w for v, w in zip(values, weights)) / total
                                   if total else None)
    return result


def worst_classes(cm: np.ndarray, n: int = 5, confusions: int = 3) -> list[dict]:
    """The n present classes with the lowest recall (ties: lower class id first), each with the
    classes its photos were most often taken for: [{class_id, count, share}] (share of its support),
    by count descending, ties by lower class id."""
    cm = np.asarray(cm)
    rows = [r for r in per_class(cm) if r["support"] > 0]
    rows.sort(key=lambda r: (r["recall"], r["class_id"]))
    out = []
    for r in rows[:n]:
        c = r["class_id"]
        others = [(int(cm[c, j]), j) for j in range(cm.shape[0]) if j != c and cm[c, j] > 0]
        others.sort(key=lambda t: (-t[0], t[1]))
        out.append({"class_id": c, "recall": r["recall"], "support": r["support"],
                    "confused_with": [{"class_id": j, "count": cnt, "share": cnt / r["support"]}
                                      for cnt, j in others[:confusions]]})
    return out


def top_confusions(cm: np.ndarray, n: int = 10) -> list[dict]:
    """The n largest off-diagonal cells: {given, predicted, count}, by count, ties by ids."""
    cm = np.asarray(cm)
    cells = [(int(cm[i, j]), i, j) for i in range(cm.shape[0]) for j in range(cm.shape[1])
             if i != j and cm[i, j] > 0]
    cells.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [{"given": i, "predicted": j, "count": cnt} for cnt, i, j in cells[:n]]


def most_confused_block(cm: np.ndarray, size: int = 12) -> list[int]:
    """Class ids of the zoom on the confusion matrix: the `size` classes with the most off-diagonal
    counts (sent plus received; ties by lower id), in class-id order."""
    cm = np.asarray(cm)
    off = cm - np.diag(np.diag(cm))
    mass = off.sum(axis=0) + off.sum(axis=1)
    order = sorted(range(cm.shape[0]), key=lambda c: (-int(mass[c]), c))
    return sorted(order[:min(size, cm.shape[0])])


def calibration(probs, labels, bins: int = 15) -> dict:
    """Expected calibration error and the reliability curve of the top-1 confidence.

    Equal-width bins over [0, 1]: bin i holds confidences in (i/B, (i+1)/B] (the first also holds 0).
    ECE = sum over bins of count/N * |accuracy - mean confidence|. Empty bins have null values.
    """
    p, y = as_arrays(probs, labels)
    conf = p.max(axis=1)
    correct = predictions(p) == y
    idx = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    n = y.size
    curve, ece = [], 0.0
    for b in range(bins):
        mask = idx == b
        count = int(mask.sum())
        acc = float(correct[mask].mean()) if count else None
        mean_conf = float(conf[mask].mean()) if count else None
        if count:
            ece += count / n * abs(acc - mean_conf)
        curve.append({"lower": b / bins, "upper": (b + 1) / bins, "count": count,
                      "accuracy": acc, "confidence": mean_conf})
    return {"bins": bins, "ece": ece if n else None, "curve": curve}


def suspected_label_errors(probs, labels, min_confidence: float = 0.5,
                           limit: int | None = 50) -> list[dict]:
    """Images the model assigns to another breed with probability >= min_confidence, ranked by that
    probability (highest first; ties: lower probability of the given label, then image position).

    Each: {index, given, predicted, p_predicted, p_given}.
    """
    p, y = as_arrays(probs, labels)
    pred = predictions(p)
    rows = np.arange(y.size)
    p_pred, p_given = p[rows, pred], p[rows, y]
    picked = [i for i in range(y.size) if pred[i] != y[i] and p_pred[i] >= min_confidence]
    picked.sort(key=lambda i: (-p_pred[i], p_given[i], i))
    if limit is not None:
        picked = picked[:limit]
    return [{"index": i, "given": int(y[i]), "predicted": int(pred[i]),
             "p_predicted": float(p_pred[i]), "p_given": float(p_given[i])} for i in picked]


def summarize(probs, labels, *, worst: int = 5, bins: int = 15, zoom: int = 12,
              min_confidence: float = 0.5, suspects: int | None = 50) -> dict:
    """Every metric above in one JSON-ready dict (keys are stable; ids, not names)."""
    p, y = as_arrays(probs, labels)
    cm = confusion_matrix(y, predictions(p), p.shape[1])
    rows = per_class(cm)
    return {
        "count": int(y.size),
        "num_classes": int(p.shape[1]),
        "top1": accuracy(p, y, 1),
        "top5": accuracy(p, y, 5),
        "averages": averages(rows),
        "per_class": rows,
        "confusion_matrix": cm.tolist(),
        "worst": worst_classes(cm, worst),
        "top_confusions": top_confusions(cm),
        "zoom_classes": most_confused_block(cm, zoom),
        "calibration": calibration(p, y, bins),
        "suspected_label_errors": {
            "ranked_by": "probability of the predicted breed (desc), then of the given label (asc)",
            "min_confidence": min_confidence,
            "items": suspected_label_errors(p, y, min_confidence, suspects)},
    }
