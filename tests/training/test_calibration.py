"""Temperature scaling and the known-breed threshold, fitted on validation outputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from training import calibration


def overconfident(n: int = 4000, classes: int = 5, sharpen: float = 3.0, seed: int = 0):
    """Labels drawn from softmax(z); the logits given are z * sharpen (an overconfident model)."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n, classes, generator=generator) * 2
    labels = torch.multinomial(torch.softmax(z, dim=1), 1, generator=generator).squeeze(1)
    return z * sharpen, labels


def test_the_fitted_temperature_undoes_overconfidence():
    logits, labels = overconfident(sharpen=3.0)
    temperature = calibration.fit_temperature(logits, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)


def test_scaling_lowers_the_calibration_error_and_keeps_top1():
    logits, labels = overconfident(sharpen=3.0)
    result = calibration.calibrate(logits, labels, None, temperature_scaling=True, accept=0.99)
    assert result["ece_after"] < result["ece_before"] / 2
    assert result["known_breed"] is None
    assert torch.equal((logits / result["temperature"]).argmax(1), logits.argmax(1))


def test_without_scaling_the_temperature_is_one():
    logits, labels = overconfident()
    result = calibration.calibrate(logits, labels, None, temperature_scaling=False, accept=0.99)
    assert result["temperature"] == 1.0 and result["ece_after"] == result["ece_before"]


@pytest.mark.parametrize("accept", [0.5, 0.9, 0.99, 1.0])
def test_the_threshold_accepts_at_least_the_share_asked_and_no_more_than_needed(accept):
    scores = np.random.default_rng(1).random(400)
    threshold = calibration.known_breed_threshold(scores, accept)
    accepted = (scores >= threshold).mean()
    assert accepted >= accept
    assert (scores > threshold).mean() < accept or accept == 1.0  # the next score up would accept too few


def test_the_threshold_and_its_validation_rate_are_reported():
    logits, labels = overconfident(n=200)
    scores = torch.linspace(0, 1, 200)
    result = calibration.calibrate(logits, labels, scores, temperature_scaling=True, accept=0.95)
    known = result["known_breed"]
    assert known["accept_target"] == 0.95 and known["validation_accepted"] >= 0.95
    assert known["threshold"] == pytest.approx(float(scores[10]))


def test_the_temperature_never_goes_below_its_floor():
    logits, labels = overconfident(sharpen=0.5)  # an underconfident model: the fit would sharpen
    free = calibration.calibrate(logits, labels, None, temperature_scaling=True, accept=0.99)
    floored = calibration.calibrate(logits, labels, None, temperature_scaling=True, accept=0.99,
                                    min_temperature=1.0)
    assert free["temperature"] == pytest.approx(0.5, rel=0.1)
    assert floored["temperature"] == 1.0 and floored["fitted_temperature"] == free["temperature"]
