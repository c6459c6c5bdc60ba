"""The report folder, from known predictions on real photos: numbers recomputed by hand, every file there."""
import csv
import hashlib
import io
import json

import pytest
from rich.console import Console

from ops.evaluate import console, run
from tests.fixtures.evaluation import TableSource, make_table


@pytest.fixture(scope="module")
def table_report(eval_set, tmp_path_factory):
    lst, data, classes, entries = eval_set
    table = make_table(entries, data, len(classes), seed=3)
    out = tmp_path_factory.mktemp("report")
    source = TableSource(table)
    report = run.evaluate(lst, data, out, source, cache_path=out.parent / "cache.sqlite",
                          options=run.Options(progress=False, worst=3))
    return report, out, table, entries, data, source


def probs_of(table, data, entry):
    return table[hashlib.sha256((data / entry.path).read_bytes()).hexdigest()]


def test_headline_numbers_match_a_recomputation(table_report):
    report, out, table, entries, data, _ = table_report
    saved = json.loads((out / "metrics.json").read_text())
    rows = [(probs_of(table, data, e), e.class_id) for e in entries]
    top1 = sum(max(range(len(p)), key=lambda i: (p[i], -i)) == y for p, y in rows)
    top5 = sum(y in sorted(range(len(p)), key=lambda i: -p[i])[:5] for p, y in rows)
    assert saved["top1"]["correct"] == top1 and saved["top1"]["total"] == len(entries)
    assert saved["top5"]["correct"] == top5
    assert saved["images"] == {**saved["images"], "listed": 20, "evaluated": 20,
                               "skipped_count": 0, "skipped": []}
    assert saved["model_id"] == "table-model" and saved["via"] == "model"


def test_per_breed_rows_in_json_and_csv(table_report):
    report, out, table, entries, data, _ = table_report
    saved = json.loads((out / "metrics.json").read_text())
    csv_rows = list(csv.DictReader(io.StringIO((out / "per_breed.csv").read_text())))
    assert [r["breed"] for r in csv_rows] == [c["name"] for c in saved["classes"]]
    for c, row, crow in zip(saved["classes"], saved["per_breed"], csv_rows):
        mine = [probs_of(table, data, e) for e in entries if e.class_id == c["id"]]
        hits = sum(max(range(len(p)), key=lambda i: (p[i], -i)) == c["id"] for p in mine)
        assert row["support"] == len(mine) == int(crow["support"])
        assert row["recall"] == pytest.approx(hits / len(mine))
        assert float(crow["recall"]) == pytest.approx(row["recall"])
        assert row["breed"] == c["name"] and row["folder"] == c["folder"]


def test_suspects_name_photos_and_breeds(table_report):
    report, out, table, entries, data, _ = table_report
    items = report["suspected_label_errors"]["items"]
    wrong = []
    for e in entries:
        p = probs_of(table, data, e)
        pred = max(range(len(p)), key=lambda i: (p[i], -i))
        if pred != e.class_id and p[pred] >= 0.5:
            wrong.append((-p[pred], p[e.class_id], e.path))
    assert [s["path"] for s in items] == [w[2] for w in sorted(wrong)]
    assert wrong, "the synthetic table should hold confidently wrong photos"
    names = {c["id"]: c["name"] for c in report["classes"]}
    assert all(s["given_breed"] == names[s["given"]] for s in items)


def test_every_picture_is_written_and_embedded(table_report):
    report, out, *_ = table_report
    plots = report["files"]["plots"]
    assert {"recall", "confusion", "confusion_zoom", "reliability", "suspects"} <= set(plots)
    assert any(k.startswith("worst_") for k in plots)
    for name in plots.values():
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(plots)
    assert "src=\"http" not in html and "src=\"file" not in html
    assert report["worst"][0]["breed"] in html


def test_console_prints_the_headline(table_report):
    report, out, *_ = table_report
    buf = io.StringIO()
    console.print_report(report, out, Console(file=buf, width=120))
    text = buf.getvalue()
    assert "top-1 accuracy" in text and f"{report['top1']['value']:.1%}" in text
    assert report["worst"][0]["breed"] in text
