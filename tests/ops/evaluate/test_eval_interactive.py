"""report.html's interactions in headless Chromium, with real mouse clicks and typing: sorting and filtering
the per-breed table, and clicking a confusion-matrix cell to see the photos in it."""
from __future__ import annotations

import hashlib
import json

import pytest

from ops.evaluate import run
from tests.fixtures.evaluation import TableSource, make_table


@pytest.fixture(scope="module")
def report(eval_set, tmp_path_factory):
    """(report.html path, metrics, {photo path: (given, predicted, p(predicted))})."""
    lst, data, classes, entries = eval_set
    out = tmp_path_factory.mktemp("interactive")
    table = make_table(entries, data, 4, 11)
    metrics = run.evaluate(lst, data, out / "r", TableSource(table), cache_path=out / "c.sqlite",
                           options=run.Options(progress=False))
    answers = {}
    for e in entries:
        probs = table[hashlib.sha256((data / e.path).read_bytes()).hexdigest()]
        best = max(range(len(probs)), key=probs.__getitem__)
        answers[e.path] = (e.class_id, best, probs[best])
    return out / "r" / "report.html", metrics, answers


@pytest.fixture(scope="module")
def page(report, browser):
    browser.open(report[0].as_uri())
    return browser


def column(page, index):
    return page.evaluate(f"""[...document.querySelectorAll('#breed-table tbody tr')].filter(r => !r.hidden)
        .map(r => r.cells[{index}].dataset.value)""")


def test_clicking_a_heading_sorts_by_it_both_ways(page, report):
    _, metrics, _ = report
    recalls = [r["recall"] for r in metrics["per_breed"]]
    page.click("#breed-table thead th:nth-child(5)")
    assert [float(v) for v in column(page, 4)] == sorted(recalls)
    page.click("#breed-table thead th:nth-child(5)")
    assert [float(v) for v in column(page, 4)] == sorted(recalls, reverse=True)
    page.click("#breed-table thead th:nth-child(2)")
    assert column(page, 1) == sorted((r["breed"] for r in metrics["per_breed"]), key=str.casefold)


def test_typing_filters_the_breeds(page, report):
    _, metrics, _ = report
    name = metrics["per_breed"][1]["breed"]
    part = name[1:4].lower()
    page.type_into("#breed-filter", part)
    assert sorted(column(page, 1)) == sorted(r["breed"] for r in metrics["per_breed"]
                                             if part in r["breed"].lower())
    page.evaluate("""(() => { const f = document.getElementById('breed-filter'); f.value = '';
        f.dispatchEvent(new Event('input')); })()""")
    assert len(column(page, 1)) == len(metrics["per_breed"])


def test_clicking_a_cell_shows_its_photos(page, report):
    _, metrics, answers = report
    cm = metrics["confusion_matrix"]
    given, predicted = next((i, j) for i in range(len(cm)) for j in range(len(cm))
                            if i != j and cm[i][j])
    page.click(f'#confusion-table td[data-cell="{given},{predicted}"]')
    shown = page.evaluate("[...document.querySelectorAll('#cell-view img')].map(i => i.alt)")
    loaded = page.evaluate("[...document.querySelectorAll('#cell-view img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    page.screenshot("report-confusion-cell")
    expected = sorted((p for p, (g, m, _) in answers.items() if (g, m) == (given, predicted)),
                      key=lambda p: -answers[p][2])
    assert shown == expected[:12] and len(expected) == cm[given][predicted]
    assert loaded
    title = page.evaluate("document.querySelector('#cell-view p').textContent")
    names = [c["name"] for c in metrics["classes"]]
    assert title.startswith(f"given {names[given]}, model {names[predicted]}: {len(expected)} photo")


def test_a_top_confusion_row_shows_the_same_photos(page, report):
    _, metrics, _ = report
    top = metrics["top_confusions"][0]
    key = f'{top["given"]},{top["predicted"]}'
    page.click(f'#top-confusions tr[data-cell="{key}"]')
    from_row = page.evaluate("[...document.querySelectorAll('#cell-view img')].map(i => i.alt)")
    page.click(f'#confusion-table td[data-cell="{key}"]')
    from_cell = page.evaluate("[...document.querySelectorAll('#cell-view img')].map(i => i.alt)")
    assert from_row == from_cell and len(from_row) == min(top["count"], 12)
    assert json.loads(page.evaluate("document.getElementById('cell-photos').textContent"))[key]["count"] \
        == top["count"]


def test_at_120_breeds_the_clickable_table_is_the_most_confused_block():
    from ops.evaluate import report

    metrics = {"classes": [{"id": i} for i in range(120)], "zoom_classes": [77, 3, 40]}
    assert report.table_classes(metrics) == [3, 40, 77]
    assert report.table_classes({"classes": [{"id": i} for i in range(30)],
                                      "zoom_classes": [1]}) == list(range(30))
