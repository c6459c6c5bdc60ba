"""Optimizers, learning-rate steps and early stopping: the built-in algorithm's semantics."""
from __future__ import annotations

import pytest
import torch

from training import loop


def settings(name, **kw):
    base = dict(learning_rate=0.01, weight_decay=0.001, momentum=0.8, beta_1=0.85, beta_2=0.99,
                eps=1e-7, gamma=0.95)
    return loop.OptimizerSettings(name=name, **{**base, **kw})


def params():
    return [torch.nn.Parameter(torch.zeros(2))]


def test_sgd_has_momentum_and_weight_decay_without_nesterov():
    opt = loop.build_optimizer(params(), settings("sgd"))

    group = opt.param_groups[0]
    assert isinstance(opt, torch.optim.SGD)
    assert (group["lr"], group["momentum"], group["weight_decay"], group["nesterov"]) == \
        (0.01, 0.8, 0.001, False)


def test_nag_is_sgd_with_nesterov_momentum():
    opt = loop.build_optimizer(params(), settings("nag"))

    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["nesterov"] is True


def test_adam_takes_beta_1_beta_2_and_eps():
    opt = loop.build_optimizer(params(), settings("adam"))

    group = opt.param_groups[0]
    assert isinstance(opt, torch.optim.Adam)
    assert (group["betas"], group["eps"], group["weight_decay"]) == ((0.85, 0.99), 1e-7, 0.001)


def test_rmsprop_decay_is_gamma():
    opt = loop.build_optimizer(params(), settings("rmsprop"))

    group = opt.param_groups[0]
    assert isinstance(opt, torch.optim.RMSprop)
    assert (group["alpha"], group["eps"]) == (0.95, 1e-7)


def learning_rates(steps, factor, epochs):
    opt = loop.build_optimizer(params(), settings("sgd", learning_rate=1.0))
    scheduler = loop.build_scheduler(opt, steps=steps, factor=factor)
    rates = []
    for _ in range(epochs):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return rates


def test_learning_rate_drops_by_the_factor_at_each_step():
    assert learning_rates("2,4", 0.1, 5) == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])


def test_learning_rate_is_constant_without_steps():
    assert learning_rates("", 0.1, 4) == [1.0] * 4


@pytest.mark.parametrize("accuracies,min_epochs,patience,tolerance,stops", [
    ([0.5, 0.6, 0.7], 1, 2, 0.0, False),                  # improving
    ([0.5, 0.6, 0.6, 0.6], 1, 2, 0.0, True),               # equal is no improvement
    ([0.5, 0.6, 0.6], 1, 2, 0.0, False),                   # patience not used up yet
    ([0.6, 0.5, 0.5, 0.5], 5, 2, 0.0, False),              # before min epochs: never
    ([0.6, 0.5, 0.5, 0.5, 0.5], 5, 2, 0.0, True),          # at min epochs: may stop
    ([0.50, 0.51, 0.52, 0.52], 1, 3, 0.05, True),          # gains under 5 % relative do not count
    ([0.50, 0.51, 0.52, 0.60], 1, 3, 0.05, False),         # 0.60 is 20 % over 0.50: improvement
    ([0.50, 0.70, 0.69, 0.68], 1, 2, 0.0, True),           # counted from the best, not the last
    ([0.0, 0.0, 0.0], 1, 2, 0.0, True),                    # zero accuracy never improves on zero
], ids=["improving", "flat", "within-patience", "before-min-epochs", "at-min-epochs",
        "below-tolerance", "above-tolerance", "since-best", "zero"])
def test_early_stopping(accuracies, min_epochs, patience, tolerance, stops):
    reason = loop.early_stop_reason(accuracies, min_epochs=min_epochs, patience=patience,
                                    tolerance=tolerance)

    assert (reason is not None) == stops
    if stops:
        assert "early stopping" in reason


def test_improvement_is_relative_to_the_best():
    assert loop.improved(0.55, 0.5, 0.09)
    assert not loop.improved(0.54, 0.5, 0.09)
    assert loop.improved(0.1, None, 0.5)


def test_validate_counts_top1_and_top_k():
    logits = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    targets = torch.tensor([0, 1, 0])
    model = torch.nn.Identity()
    loader = [(logits, targets)]

    metrics = loop.validate(model, loader, torch.nn.CrossEntropyLoss(), device=torch.device("cpu"),
                            top_k=2)

    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["top_k_accuracy"] == pytest.approx(2 / 3)
    assert metrics["samples"] == 3


def test_float16_on_cpu_autocasts_to_bfloat16():
    with loop.autocast(torch.device("cpu"), "float16"):
        out = torch.nn.Linear(4, 2)(torch.ones(1, 4))
    with loop.autocast(torch.device("cpu"), "float32"):
        plain = torch.nn.Linear(4, 2)(torch.ones(1, 4))

    assert out.dtype == torch.bfloat16 and plain.dtype == torch.float32
