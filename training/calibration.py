"""What training fits on the validation photos after the loop: the softmax temperature and the known-breed
threshold. Both are stored in the artifact's model.json and applied by serving.

Temperature scaling (Guo et al., 2017, https://arxiv.org/abs/1706.04599): one scalar T, probabilities
softmax(logits / T), T chosen to minimise the validation photos' negative log-likelihood; top-1 is unchanged.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from training import metrics

TEMPERATURE_RANGE = (0.05, 20.0)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, low: float = TEMPERATURE_RANGE[0]) -> float:
    """The T in [low, TEMPERATURE_RANGE[1]] that minimises mean cross-entropy of softmax(logits / T)
    (the likelihood is unimodal in log T, so the bounded optimum is the clipped unbounded one)."""
    logits, labels = logits.detach().double(), labels.detach().long()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    high = TEMPERATURE_RANGE[1]
    value = float(log_t.detach().exp())
    return min(high, max(low, value)) if math.isfinite(value) else max(low, 1.0)


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    probs = torch.softmax(logits.double() / temperature, dim=1).numpy()
    return float(metrics.calibration(probs, labels.numpy())["ece"])


def known_breed_threshold(scores: torch.Tensor | np.ndarray, accept: float) -> float:
    """The highest threshold that still accepts (score >= threshold) at least `accept` of `scores`."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    if ordered.size == 0:
        raise ValueError("no scores to choose a threshold from")
    rejected = int(math.floor((1.0 - accept) * ordered.size + 1e-9))
    return float(ordered[min(rejected, ordered.size - 1)])


def calibrate(logits: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor | None, *,
              temperature_scaling: bool, accept: float, min_temperature: float = TEMPERATURE_RANGE[0]) -> dict:
    """{"temperature", "ece_before", "ece_after", "photos", "known_breed": {threshold, ...} | None}."""
    fitted = fit_temperature(logits, labels) if temperature_scaling else None
    temperature = max(min_temperature, fitted) if fitted is not None else 1.0
    result = {"temperature": temperature, "fitted_temperature": fitted, "min_temperature": min_temperature,
              "photos": int(len(labels)),
              "ece_before": expected_calibration_error(logits, labels),
              "ece_after": expected_calibration_error(logits, labels, temperature), "known_breed": None}
    if scores is not None:
        threshold = known_breed_threshold(scores, accept)
        result["known_breed"] = {"threshold": threshold, "accept_target": accept,
                                 "validation_accepted": float((np.asarray(scores) >= threshold).mean())}
    return result
