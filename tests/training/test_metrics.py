"""Every metric of training.metrics against a straightforward recomputation on small synthetic data."""
import math
import random

import numpy as np
import pytest

from training import metrics


def random_case(seed, n=60, c=6, absent=()):
    rng = random.Random(seed)
    labels = [rng.choice([k for k in range(c) if k not in absent]) for _ in range(n)]
    probs = []
    for y in labels:
        row = [rng.random() ** 3 for _ in range(c)]
        row[y] += rng.random()  # mostly right, sometimes not
        s = sum(row)
        probs.append([v / s for v in row])
    return probs, labels


def naive_argmax(row):
    best = 0
    for j, v in enumerate(row):
        if v > row[best]:
            best = j
    return best


def naive_topk(row, k):
    return sorted(range(len(row)), key=lambda j: (-row[j], j))[:k]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_and_topk_match_a_loop(seed):
    probs, labels = random_case(seed)
    top1 = metrics.accuracy(probs, labels, 1)
    top5 = metrics.accuracy(probs, labels, 5)
    assert top1["correct"] == sum(naive_argmax(p) == y for p, y in zip(probs, labels))
    assert top5["correct"] == sum(y in naive_topk(p, 5) for p, y in zip(probs, labels))
    assert top1["value"] == top1["correct"] / len(labels)
    assert top1["total"] == top5["total"] == len(labels)


def test_wilson_interval_known_values():
    # Wilson 95% for 8/10: (0.4902, 0.9433) — textbook value.
    lo, hi = metrics.wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    # 0 and n successes stay inside [0, 1] and are not degenerate.
    lo0, hi0 = metrics.wilson_interval(0, 20)
    assert lo0 == 0.0 and 0.1 < hi0 < 0.2
    lon, hin = metrics.wilson_interval(20, 20)
    assert hin == 1.0 and 0.8 < lon < 0.9
    assert metrics.wilson_interval(0, 0) == (None, None)


def test_accuracy_ci_is_wilson_of_the_counts():
    probs, labels = random_case(3)
    acc = metrics.accuracy(probs, labels, 1)
    n, k, z = acc["total"], acc["correct"], 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert acc["ci95"] == pytest.approx([centre - half, centre + half])


def test_ties_go_to_the_lowest_class_id():
    probs = [[0.4, 0.4, 0.2], [0.1, 0.45, 0.45], [1 / 3, 1 / 3, 1 / 3]]
    assert metrics.predictions(probs).tolist() == [0, 1, 0]
    assert metrics.top_k(probs, 2).tolist() == [[0, 1], [1, 2], [0, 1]]
    # label 1 in a 0/1 tie is a top-1 miss, a top-2 hit
    acc1 = metrics.accuracy(probs, [1, 2, 2], 1)
    acc2 = metrics.accuracy(probs, [1, 2, 2], 2)
    assert acc1["correct"] == 0 and acc2["correct"] == 2


def test_top5_with_fewer_than_five_classes_is_top_c():
    probs, labels = random_case(4, c=3)
    acc = metrics.accuracy(probs, labels, 5)
    assert acc["k"] == 3 and acc["value"] == 1.0


@pytest.mark.parametrize("seed", [0, 5])
def test_confusion_and_per_class_match_a_loop(seed):
    probs, labels = random_case(seed, c=5)
    preds = [naive_argmax(p) for p in probs]
    cm = metrics.confusion_matrix(labels, preds, 5)
    for i in range(5):
        for j in range(5):
            assert cm[i, j] == sum(1 for y, q in zip(labels, preds) if y == i and q == j)
    rows = metrics.per_class(cm)
    for c, row in enumerate(rows):
        tp = sum(1 for y, q in zip(labels, preds) if y == c and q == c)
        support = labels.count(c)
        predicted = preds.count(c)
        assert row["support"] == support
        assert row["recall"] == pytest.approx(tp / support)
        if predicted:
            p = tp / predicted
            r = tp / support
            assert row["precision"] == pytest.approx(p)
            assert row["f1"] == pytest.approx(0 if p + r == 0 else 2 * p * r / (p + r))


def test_averages_match_a_loop():
    probs, labels = random_case(7, c=4)
    rows = metrics.per_class(metrics.confusion_matrix(labels, metrics.predictions(probs), 4))
    avg = metrics.averages(rows)
    for key in ("precision", "recall", "f1"):
        vals = [r[key] or 0.0 for r in rows]
        sup = [r["support"] for r in rows]
        assert avg["macro"][key] == pytest.approx(sum(vals) / 4)
        assert avg["weighted"][key] == pytest.approx(
            sum(v * s for v, s in zip(vals, sup)) / sum(sup))
    # weighted recall is plain accuracy
    assert avg["weighted"]["recall"] == pytest.approx(metrics.accuracy(probs, labels)["value"])


def test_class_absent_from_the_test_set_is_null_and_left_out_of_macro():
    # class 2 never appears as a label; it is predicted once (a false positive)
    probs = [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]]
    labels = [0, 1, 1, 0]
    s = metrics.summarize(probs, labels)
    row2 = s["per_class"][2]
    assert row2["support"] == 0 and row2["recall"] is None and row2["f1"] is None
    assert row2["precision"] == 0.0
    assert s["averages"]["classes_averaged"] == 2
    assert s["averages"]["macro"]["recall"] == pytest.approx((1.0 + 0.5) / 2)
    assert s["averages"]["macro"]["precision"] == pytest.approx((2 / 2 + 1 / 1) / 2)
    assert all(w["class_id"] != 2 for w in s["worst"])


def test_present_class_never_predicted_counts_as_zero_precision_in_macro():
    probs = [[0.9, 0.1], [0.8, 0.2]]
    labels = [0, 1]
    s = metrics.summarize(probs, labels)
    assert s["per_class"][1]["precision"] is None and s["per_class"][1]["recall"] == 0.0
    assert s["averages"]["macro"]["precision"] == pytest.approx((0.5 + 0.0) / 2)
    assert s["averages"]["macro"]["f1"] == pytest.approx((2 * 0.5 * 1 / 1.5 + 0) / 2)


def test_single_class_test_set():
    probs = [[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.5, 0.1, 0.4]]
    labels = [0, 0, 0]
    s = metrics.summarize(probs, labels)
    assert s["top1"]["correct"] == 2 and s["top1"]["value"] == pytest.approx(2 / 3)
    assert s["averages"]["classes_averaged"] == 1
    assert s["averages"]["macro"]["recall"] == pytest.approx(2 / 3)
    assert s["averages"]["macro"]["precision"] == 1.0
    assert [w["class_id"] for w in s["worst"]] == [0]
    assert s["worst"][0]["confused_with"] == [{"class_id": 1, "count": 1, "share": 1 / 3}]
    assert s["per_class"][1]["recall"] is None and s["per_class"][1]["precision"] == 0.0


def test_a_one_class_model_is_always_right():
    s = metrics.summarize([[1.0], [1.0]], [0, 0])
    assert s["top1"]["value"] == 1.0 and s["calibration"]["ece"] == 0.0


def test_worst_classes_and_what_they_are_taken_for():
    # given class 0: 1 right, 2 taken for 2, 1 for 1; class 1: 3/3 right; class 2: 1 right, 1 for 0
    labels = [0, 0, 0, 0, 1, 1, 1, 2, 2]
    preds = [0, 2, 2, 1, 1, 1, 1, 2, 0]
    cm = metrics.confusion_matrix(labels, preds, 3)
    worst = metrics.worst_classes(cm, n=2)
    assert [w["class_id"] for w in worst] == [0, 2]
    assert worst[0]["recall"] == 0.25
    assert worst[0]["confused_with"] == [{"class_id": 2, "count": 2, "share": 0.5},
                                         {"class_id": 1, "count": 1, "share": 0.25}]
    # ties in recall: lower class id first
    cm2 = metrics.confusion_matrix([0, 0, 1, 1], [1, 0, 0, 1], 2)
    assert [w["class_id"] for w in metrics.worst_classes(cm2)] == [0, 1]


def test_top_confusions_and_zoom_block():
    labels = [0, 0, 0, 1, 2, 3, 3, 4]
    preds = [3, 3, 0, 1, 2, 0, 3, 2]
    cm = metrics.confusion_matrix(labels, preds, 5)
    assert metrics.top_confusions(cm, 2) == [{"given": 0, "predicted": 3, "count": 2},
                                             {"given": 3, "predicted": 0, "count": 1}]
    # off-diagonal mass: 0:3, 3:3, 2:1, 4:1, 1:0 → top 3 = {0, 3, 2} (tie 2/4 → lower id)
    assert metrics.most_confused_block(cm, 3) == [0, 2, 3]
    assert metrics.most_confused_block(cm, 50) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("seed", [0, 8])
def test_calibration_matches_a_loop(seed):
    probs, labels = random_case(seed, n=200)
    cal = metrics.calibration(probs, labels, bins=10)
    n = len(labels)
    ece = 0.0
    for b, bin_ in enumerate(cal["curve"]):
        lo, hi = b / 10, (b + 1) / 10
        members = [i for i, p in enumerate(probs)
                   if (lo < max(p) <= hi) or (b == 0 and max(p) == 0)]
        assert bin_["count"] == len(members)
        if members:
            acc = sum(naive_argmax(probs[i]) == labels[i] for i in members) / len(members)
            conf = sum(max(probs[i]) for i in members) / len(members)
            assert bin_["accuracy"] == pytest.approx(acc)
            assert bin_["confidence"] == pytest.approx(conf)
            ece += len(members) / n * abs(acc - conf)
        else:
            assert bin_["accuracy"] is None and bin_["confidence"] is None
    assert cal["ece"] == pytest.approx(ece)
    assert sum(b["count"] for b in cal["curve"]) == n


def test_calibration_bin_edges():
    # confidence exactly 0.5 falls in (0.4, 0.5]; 1.0 in the last bin
    cal = metrics.calibration([[0.5, 0.5], [1.0, 0.0]], [0, 1], bins=10)
    assert cal["curve"][4]["count"] == 1 and cal["curve"][9]["count"] == 1
    assert cal["ece"] == pytest.approx(0.5 * abs(1 - 0.5) + 0.5 * abs(0 - 1.0))


def test_suspected_label_errors_ranked_by_predicted_probability():
    probs = [
        [0.05, 0.95, 0.0],   # 0: given 0, predicted 1 @ .95 (p_given .05)
        [0.9, 0.1, 0.0],     # 1: right
        [0.3, 0.0, 0.7],     # 2: given 0, predicted 2 @ .7
        [0.0, 0.95, 0.05],   # 3: given 2, predicted 1 @ .95 (p_given .05) — tie with 0 on both
        [0.02, 0.95, 0.03],  # 4: given 0, predicted 1 @ .95, p_given .02 → before 0 and 3
        [0.45, 0.4, 0.15],   # 5: given 1, predicted 0 @ .45 < min_confidence
    ]
    labels = [0, 0, 0, 2, 0, 1]
    items = metrics.suspected_label_errors(probs, labels, min_confidence=0.5)
    assert [i["index"] for i in items] == [4, 0, 3, 2]
    assert items[0] == {"index": 4, "given": 0, "predicted": 1, "p_predicted": 0.95,
                        "p_given": 0.02}
    assert [i["index"] for i in metrics.suspected_label_errors(probs, labels, 0.4, limit=10)] \
        == [4, 0, 3, 2, 5]
    assert len(metrics.suspected_label_errors(probs, labels, 0.5, limit=2)) == 2


def test_summarize_is_json_ready_with_stable_keys():
    import json

    probs, labels = random_case(9)
    s = metrics.summarize(probs, labels)
    json.dumps(s, allow_nan=False)
    assert set(s) == {"count", "num_classes", "top1", "top5", "averages", "per_class",
                      "confusion_matrix", "worst", "top_confusions", "zoom_classes",
                      "calibration", "suspected_label_errors"}


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError):
        metrics.as_arrays([0.1, 0.9], [0])
    with pytest.raises(ValueError):
        metrics.as_arrays([[0.1, 0.9]], [2])
    with pytest.raises(ValueError):
        metrics.as_arrays(np.zeros((2, 3)), [0])


def test_auroc_counts_ties_half_as_mann_whitney_does():
    from scipy.stats import mannwhitneyu

    positive, negative = [0.5, 0.9, 0.1, 0.5], [0.5, 0.2, 0.3, 0.1]
    expected = mannwhitneyu(positive, negative).statistic / (len(positive) * len(negative))
    assert metrics.auroc(positive, negative) == pytest.approx(expected)
    assert metrics.auroc([0.5, 0.9, 0.1], [0.5, 0.2, 0.3]) == pytest.approx(11 / 18)
    assert metrics.auroc([1.0], [1.0]) == pytest.approx(0.5)
