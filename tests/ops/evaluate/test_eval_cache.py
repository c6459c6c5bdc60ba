"""The prediction cache: an interrupted evaluation resumes without redoing finished photos."""
import pytest

from ops.evaluate import run
from ops.evaluate.predict import PredictionCache
from ops.evaluate.sources import PhotoPrediction
from tests.fixtures.evaluation import TableSource, make_table


def test_rerun_after_an_interruption_predicts_only_the_rest(eval_set, tmp_path):
    lst, data, classes, entries = eval_set
    table = make_table(entries, data, len(classes))
    cache = tmp_path / "cache.sqlite"
    opts = run.Options(progress=False, workers=1)
    first = TableSource(table, batch_size=2, fail_after=6)
    with pytest.raises(KeyboardInterrupt):
        run.evaluate(lst, data, tmp_path / "out", first, cache_path=cache, options=opts)
    assert first.calls == 6
    assert not (tmp_path / "out" / "metrics.json").exists()
    with PredictionCache(cache) as c:
        assert len(c.get_many("table-model", table)) == 6

    second = TableSource(table, batch_size=2)
    report = run.evaluate(lst, data, tmp_path / "out", second, cache_path=cache, options=opts)
    assert second.calls == len(entries) - 6
    assert report["images"]["from_cache"] == 6 and report["images"]["predicted_now"] == 14

    third = TableSource(table, batch_size=2)
    again = run.evaluate(lst, data, tmp_path / "out2", third, cache_path=cache, options=opts)
    assert third.calls == 0 and again["top1"] == report["top1"]


def test_another_model_id_is_not_answered_from_the_cache(eval_set, tmp_path):
    lst, data, classes, entries = eval_set
    table = make_table(entries, data, len(classes))
    cache = tmp_path / "cache.sqlite"
    opts = run.Options(progress=False)
    run.evaluate(lst, data, tmp_path / "a", TableSource(table), cache_path=cache, options=opts)
    other = TableSource(table, model_id="retrained")
    run.evaluate(lst, data, tmp_path / "b", other, cache_path=cache, options=opts)
    assert other.calls == len(entries)


def test_cache_round_trip_and_replace(tmp_path):
    with PredictionCache(tmp_path / "c.sqlite") as c:
        c.put_many("m", [("aa", PhotoPrediction([0.25, 0.75])),
                         ("bb", PhotoPrediction([1.0, 0.0], 0.9, True))])
        c.put_many("m", [("aa", PhotoPrediction([0.5, 0.5]))])
    with PredictionCache(tmp_path / "c.sqlite") as c:
        assert c.get_many("m", ["aa", "bb", "cc"]) == {"aa": PhotoPrediction([0.5, 0.5]),
                                                       "bb": PhotoPrediction([1.0, 0.0], 0.9, True)}
        assert c.get_many("other", ["aa"]) == {}


def test_rows_written_before_the_verdict_existed_read_as_plain_predictions(tmp_path):
    """Older caches hold bare probability arrays: they still answer, without a known-breed score."""
    import sqlite3

    with PredictionCache(tmp_path / "c.sqlite"):
        pass
    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        db.execute("INSERT INTO predictions VALUES ('m', 'aa', '[0.25, 0.75]')")
    with PredictionCache(tmp_path / "c.sqlite") as c:
        assert c.get_many("m", ["aa"]) == {"aa": PhotoPrediction([0.25, 0.75])}
