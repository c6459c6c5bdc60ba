"""Missing, corrupt and mislabelled photos are reported and the rest evaluated; bad options are errors."""
import io
import json
import shutil

import pytest
from rich.console import Console

from ops.evaluate import console, run
from ops.evaluate.sources import EvaluationError
from tests.fixtures.evaluation import TableSource, make_table
from training import classmap
from training.lst import LstEntry, write_lst


@pytest.fixture()
def damaged_set(eval_set, tmp_path):
    """A temp copy of the photos with one missing, one garbage, one truncated; plus a bad class id."""
    lst, data, classes, entries = eval_set
    copy = tmp_path / "images"
    for c in classes:
        shutil.copytree(data / c.folder, copy / c.folder,
                        ignore=lambda d, names: [n for n in names
                                                 if not any(e.path.endswith(n) for e in entries)])
    table = make_table(entries, copy, len(classes))
    (copy / entries[0].path).unlink()
    (copy / entries[5].path).write_bytes(b"this is not a jpeg")
    body = (copy / entries[10].path).read_bytes()
    (copy / entries[10].path).write_bytes(body[: len(body) // 3])
    listed = entries + [LstEntry(99, 7, entries[1].path)]
    write_lst(tmp_path / "test.lst", listed)
    (tmp_path / "classes.json").write_text(classmap.to_json(classes))
    return tmp_path / "test.lst", copy, entries, table


def test_missing_and_corrupt_photos_are_reported_and_the_rest_evaluated(damaged_set, tmp_path):
    lst, data, entries, table = damaged_set
    source = TableSource(table)
    report = run.evaluate(lst, data, tmp_path / "out", source, cache_path=tmp_path / "c.sqlite",
                          options=run.Options(progress=False))
    skipped = {s["path"]: s["reason"] for s in report["images"]["skipped"]}
    assert skipped[entries[0].path] == "missing"
    assert skipped[entries[5].path] == "not an image"
    assert skipped[entries[10].path].startswith("truncated or corrupt")
    bad_class = [s for s in report["images"]["skipped"] if s["index"] == 99]
    assert "class id 7 is not in the class map" in bad_class[0]["reason"]
    assert report["images"]["listed"] == 21 and report["images"]["evaluated"] == 17
    assert source.calls == 17
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["images"]["skipped_count"] == 4 and saved["top1"]["total"] == 17
    buf = io.StringIO()
    console.print_report(report, tmp_path / "out", Console(file=buf, width=200))
    assert "4 photo(s) not evaluated" in buf.getvalue()
    assert f"{entries[0].path}: missing" in buf.getvalue()


def test_no_usable_photo_is_an_error(eval_set, tmp_path):
    lst, data, classes, entries = eval_set
    write_lst(tmp_path / "t.lst", [LstEntry(0, 0, "nope/none.jpg")])
    (tmp_path / "classes.json").write_text(classmap.to_json(classes))
    with pytest.raises(EvaluationError, match="no usable photo"):
        run.evaluate(tmp_path / "t.lst", data, tmp_path / "out", TableSource({}),
                     cache_path=tmp_path / "c.sqlite", options=run.Options(progress=False))


def test_no_class_map_is_an_error(eval_set, tmp_path):
    lst, data, classes, entries = eval_set
    write_lst(tmp_path / "t.lst", entries)
    with pytest.raises(EvaluationError, match="no class map"):
        run.evaluate(tmp_path / "t.lst", data, tmp_path / "out", TableSource({}),
                     cache_path=tmp_path / "c.sqlite", options=run.Options(progress=False))


def test_a_model_with_another_class_count_is_an_error(eval_set, tmp_path):
    lst, data, classes, entries = eval_set
    table = {k: v + [0.0] for k, v in make_table(entries, data, len(classes)).items()}
    with pytest.raises(EvaluationError, match="5 probabilities per photo but the class map has 4"):
        run.evaluate(lst, data, tmp_path / "out", TableSource(table),
                     cache_path=tmp_path / "c.sqlite", options=run.Options(progress=False))
