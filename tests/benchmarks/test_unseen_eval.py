"""The paired test and figures the benchmarks judge recipes by."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def unseen_eval():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("unseen_eval", BENCHMARKS / "unseen_eval.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_mcnemar_counts_the_discordant_photos_and_gives_the_exact_two_sided_p(unseen_eval):
    a = np.array([True] * 230 + [True] * 9 + [False] * 11)
    b = np.array([True] * 230 + [False] * 9 + [False] * 11)
    result = unseen_eval.paired_test(a, b)
    assert (result["only_a"], result["only_b"], result["both"]) == (9, 0, 230)
    assert result["p_value"] == pytest.approx(2 * 0.5 ** 9)  # 9 of 9 one way: 0.0039
    assert unseen_eval.paired_test(b, a)["only_b"] == 9
    assert unseen_eval.paired_test(a, a)["p_value"] == 1.0  # no photo tells them apart


def test_flip_view_averages_the_two_crops_probabilities(unseen_eval):
    weight, bias = torch.eye(2), torch.zeros(2)
    features = {"centre": torch.tensor([[2.0, 0.0], [0.0, 1.0]]), "mirror": torch.tensor([[0.0, 3.0], [0.0, 1.0]])}
    views = unseen_eval.head_probabilities(features, weight, bias)
    assert torch.allclose(views["flip"][0], (torch.softmax(torch.tensor([2.0, 0.0]), 0)
                                             + torch.softmax(torch.tensor([0.0, 3.0]), 0)) / 2)
    figures = unseen_eval.view_figures(views, np.array([0, 1]))
    assert figures["centre"]["correct"] == 2 and figures["flip"]["correct"] == 1
