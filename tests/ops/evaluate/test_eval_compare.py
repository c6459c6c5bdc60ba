"""`invoke evaluate --compare A B`: per-breed deltas between two reports."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ops.evaluate import compare, run
from tests.fixtures.evaluation import TableSource, make_table

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def two_reports(eval_set, tmp_path_factory):
    lst, data, classes, entries = eval_set
    root = tmp_path_factory.mktemp("compare")
    opts = run.Options(progress=False)
    for name, seed in (("a", 1), ("b", 2)):
        run.evaluate(lst, data, root / name, TableSource(make_table(entries, data, 4, seed),
                                                         model_id=f"model-{name}"),
                     cache_path=root / "cache.sqlite", options=opts)
    return root / "a", root / "b"


def test_deltas_are_b_minus_a_per_breed(two_reports):
    a_dir, b_dir = two_reports
    a = json.loads((a_dir / "metrics.json").read_text())
    b = json.loads((b_dir / "metrics.json").read_text())
    result = compare.compare(a_dir, b_dir)
    by_folder = {r["folder"]: r for r in result["per_breed"]}
    assert len(by_folder) == 4
    changed = 0
    for ra, rb in zip(a["per_breed"], b["per_breed"]):
        row = by_folder[ra["folder"]]
        assert row["recall_delta"] == pytest.approx(rb["recall"] - ra["recall"])
        assert row["recall_a"] == ra["recall"] and row["recall_b"] == rb["recall"]
        changed += row["recall_delta"] != 0
    assert changed, "the two synthetic models should differ on some breed"
    deltas = [r["recall_delta"] for r in result["per_breed"]]
    assert deltas == sorted(deltas)  # biggest loss first
    assert result["headline"]["top1"]["delta"] == pytest.approx(
        b["top1"]["value"] - a["top1"]["value"])
    assert result["same_test_list"] is True
    assert result["a"]["model_id"] == "model-a" and result["b"]["model_id"] == "model-b"


def test_breed_in_one_report_only_has_null_deltas(two_reports, tmp_path):
    a_dir, b_dir = two_reports
    a = json.loads((a_dir / "metrics.json").read_text())
    a["per_breed"][0]["folder"] = "n000-renamed"
    (tmp_path / "metrics.json").write_text(json.dumps(a))
    result = compare.compare(tmp_path, b_dir)
    only = [r for r in result["per_breed"] if r["folder"] == "n000-renamed"]
    assert only[0]["recall_delta"] is None and only[0]["recall_b"] is None
    assert len(result["per_breed"]) == 5


def test_cli_prints_and_writes_the_comparison(two_reports, tmp_path):
    a_dir, b_dir = two_reports
    proc = subprocess.run([sys.executable, "-m", "invoke", "evaluate", "--compare", str(a_dir),
                           "--compare", str(b_dir), "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Per breed" in proc.stdout and "top1" in proc.stdout
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert saved == json.loads(json.dumps(compare.compare(a_dir, b_dir)))
    lines = (tmp_path / "compare.csv").read_text().splitlines()
    assert lines[0].startswith("folder,breed,support_a") and len(lines) == 5


def test_cli_rejects_a_folder_without_a_report(two_reports, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "invoke", "evaluate.compare",
                           str(two_reports[0]), str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path}: no metrics.json (not a report folder " \
                                  f"of `invoke evaluate`)"
