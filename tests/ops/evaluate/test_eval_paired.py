"""McNemar's test in `evaluate.compare`: which per-breed differences are beyond noise, from the paired
predictions each report writes (predictions.csv); compare.html shows them and opens in Chromium."""
from __future__ import annotations

import csv
import hashlib

import pytest

from ops.evaluate import compare, paired, run
from tests.fixtures.evaluation import TableSource, make_table


def test_mcnemar_exact_p_values():
    assert paired.mcnemar(0, 6) == pytest.approx(2 * 0.5 ** 6)
    assert paired.mcnemar(3, 3) == 1.0 and paired.mcnemar(0, 0) == 1.0
    assert paired.mcnemar(1, 9) == pytest.approx(2 * (1 + 10) / 2 ** 10)


def test_holm_adjustment_is_step_down_and_monotone():
    assert paired.holm({"x": 0.01, "y": 0.04, "z": 0.03}) == pytest.approx(
        {"x": 0.03, "z": 0.06, "y": 0.06})


@pytest.fixture(scope="module")
def reports(eval_set, tmp_path_factory):
    """Report A (a mostly-right synthetic model) and B (always right) over the same photos."""
    lst, data, _, entries = eval_set
    root = tmp_path_factory.mktemp("paired")
    table_a = make_table(entries, data, 4, 3)
    table_b = {sha: [1.0 if k == e.class_id else 0.0 for k in range(4)]
               for e in entries for sha in [hashlib.sha256((data / e.path).read_bytes()).hexdigest()]}
    for name, table in (("a", table_a), ("b", table_b)):
        run.evaluate(lst, data, root / name, TableSource(table, model_id=f"model-{name}"),
                     cache_path=root / f"{name}.sqlite", options=run.Options(progress=False))
    wrong_a = {}
    for e in entries:
        probs = table_a[hashlib.sha256((data / e.path).read_bytes()).hexdigest()]
        wrong_a.setdefault(e.path.split("/")[0], []).append(
            max(range(4), key=probs.__getitem__) != e.class_id)
    return root, wrong_a


def test_each_report_lists_its_predictions(reports):
    root, _ = reports
    rows = list(csv.DictReader((root / "b" / paired.PREDICTIONS).open()))
    assert len(rows) == 20 and all(r["given"] == r["predicted"] for r in rows)


def test_the_test_counts_the_photos_only_one_model_gets_right(reports):
    root, wrong_a = reports
    result = compare.compare(root / "a", root / "b")
    tests = result["paired_tests"]
    total_wrong = sum(sum(w) for w in wrong_a.values())
    assert tests["overall"] == {"pairs": 20, "a_only_right": 0, "b_only_right": total_wrong,
                                "p_value": pytest.approx(paired.mcnemar(0, total_wrong)),
                                "beyond_noise": paired.mcnemar(0, total_wrong) < 0.05}
    for folder, wrong in wrong_a.items():
        breed = tests["per_breed"][folder]
        assert (breed["pairs"], breed["a_only_right"], breed["b_only_right"]) == (5, 0, sum(wrong))
        # five photos a breed: even five to none (p = 0.0625) is within noise
        assert breed["beyond_noise"] is False
    assert total_wrong >= 5 and tests["overall"]["beyond_noise"]


def test_reports_without_predictions_compare_without_the_test(reports, tmp_path):
    root, _ = reports
    (tmp_path / "metrics.json").write_text((root / "a" / "metrics.json").read_text())
    result = compare.compare(tmp_path, root / "b")
    assert result["paired_tests"] is None
    assert {r["beyond_noise"] for r in result["per_breed"]} == {None}


def test_compare_html_opens_with_its_chart_and_verdict(reports, browser, tmp_path):
    root, _ = reports
    result = compare.compare(root / "a", root / "b")
    _, _, html = compare.write_comparison(result, tmp_path)
    browser.open(html.as_uri())
    assert browser.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 100)")
    overall = browser.evaluate("document.getElementById('overall').textContent")
    assert "beyond noise" in overall and "only B right on" in overall
    rows = browser.evaluate("document.querySelectorAll('#per-breed tr[data-folder]').length")
    assert rows == 4
    browser.screenshot("compare-page")
