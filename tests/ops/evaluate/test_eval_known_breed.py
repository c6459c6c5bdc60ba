"""`invoke evaluate --unknown-data`: the known-breed score's AUROC and the rates at the stored threshold,
from every source, in metrics.json, on the console and in report.html; clear errors when it cannot be."""
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from ops.evaluate import console, run, sources
from ops.evaluate.sources import EvaluationError
from tests.fixtures.evaluation import BREEDS, TableSource, api_app, make_table, runtime_app, serving
from training import metrics

REPO = Path(__file__).resolve().parents[3]
KEY = "k-known"
THRESHOLD = 0.5


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def unknown_folder(dogs10, tmp_path_factory) -> Path:
    """7 photos of two breeds the eval set lacks: 3 in each breed's folder, 1 at the top level."""
    folder = tmp_path_factory.mktemp("unknown")
    for breed in sorted(p.name for p in dogs10.iterdir() if p.is_dir())[BREEDS:BREEDS + 2]:
        (folder / breed).mkdir()
        for photo in sorted((dogs10 / breed).iterdir())[:3]:
            shutil.copy(photo, folder / breed / photo.name)
    last = sorted((dogs10 / breed).iterdir())[3]
    shutil.copy(last, folder / last.name)
    return folder


@pytest.fixture(scope="module")
def scored(eval_set, unknown_folder):
    """(probability table, known-breed scores): every known photo scores 0.9 but the first (0.01),
    every unknown one 0.05 but one (0.95), so at THRESHOLD one of each side is judged wrongly."""
    lst, data, classes, entries = eval_set
    table = make_table(entries, data, len(classes), seed=3)
    unknown = sorted(p for p in unknown_folder.rglob("*") if p.is_file())
    assert len(unknown) == 7
    scores = {sha(data / e.path): 0.9 for e in entries}
    scores[sha(data / entries[0].path)] = 0.01
    for i, photo in enumerate(unknown):
        table[sha(photo)] = [1 / len(classes)] * len(classes)
        scores[sha(photo)] = 0.95 if i == 2 else 0.05
    return table, scores


def expected(known: int, unknown: int) -> dict:
    """What the construction in `scored` must give: one known photo below every unknown one, one
    unknown photo above every known one."""
    return {"auroc": (known - 1) * (unknown - 1) / (known * unknown),
            "accepted": (known - 1, known), "rejected": (unknown - 1, unknown)}


def evaluate(eval_set, tmp_path, source, unknown, name="r", cache="c"):
    lst, data, _, _ = eval_set
    return run.evaluate(lst, data, tmp_path / name, source, cache_path=tmp_path / f"{cache}.sqlite",
                        options=run.Options(progress=False), unknown=unknown)


def test_the_figures_reach_metrics_console_and_html(eval_set, unknown_folder, scored, tmp_path):
    table, scores = scored
    report = evaluate(eval_set, tmp_path, TableSource(table, scores=scores, threshold=THRESHOLD),
                      [unknown_folder])
    want = expected(len(eval_set[3]), 7)
    section = report["known_breed"]
    assert section["threshold"] == THRESHOLD
    accepted = section["known"]["accepted"]
    assert (accepted["count"], accepted["total"]) == want["accepted"]
    assert accepted["ci95"] == list(metrics.wilson_interval(*want["accepted"]))
    [u] = section["unknown"]
    assert u["folder"] == str(unknown_folder) and u["listed"] == u["evaluated"] == 7
    assert u["auroc"] == pytest.approx(want["auroc"])
    assert (u["rejected"]["count"], u["rejected"]["total"]) == want["rejected"]
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["known_breed"] == section

    buf = io.StringIO()
    console.print_report(report, tmp_path / "r", Console(file=buf, width=200))
    text = buf.getvalue()
    assert "Known breed or not, at the stored threshold 0.5" in text
    assert f"{want['auroc']:.3f}" in text and "95.0% (19/20) accepted" in text
    assert "85.7% (6/7) rejected" in text
    html = (tmp_path / "r" / "report.html").read_text()
    assert 'id="known-breed-table"' in html and "85.7% rejected (6/7)" in html
    assert report["files"]["plots"]["known_breed"] == "known_breed_scores.png"
    assert (tmp_path / "r" / "known_breed_scores.png").stat().st_size > 1000


def test_without_unknown_folders_there_is_no_section(eval_set, scored, tmp_path):
    table, scores = scored
    report = evaluate(eval_set, tmp_path, TableSource(table, scores=scores, threshold=THRESHOLD), [])
    assert report["known_breed"] is None
    assert "known-breed-table" not in (tmp_path / "r" / "report.html").read_text()
    assert not (tmp_path / "r" / "known_breed_scores.png").exists()


def test_a_model_without_a_score_is_one_clear_error_after_one_photo(eval_set, unknown_folder, scored,
                                                                     tmp_path):
    source = TableSource(scored[0], model_id="plain")
    with pytest.raises(EvaluationError, match=r"the model plain \(via model\) gives no known-breed "
                                              r"score: .*without --unknown-data"):
        evaluate(eval_set, tmp_path, source, [unknown_folder])
    assert source.calls == 1


def test_cached_answers_without_the_verdict_are_predicted_again(eval_set, unknown_folder, scored,
                                                                tmp_path):
    table, scores = scored
    entries = eval_set[3]
    evaluate(eval_set, tmp_path, TableSource(table), [], name="plain")
    verbose = TableSource(table, scores=scores, threshold=THRESHOLD)
    report = evaluate(eval_set, tmp_path, verbose, [unknown_folder], name="verbose")
    assert verbose.calls == len(entries) + 7 and report["images"]["from_cache"] == 0
    again = TableSource(table, scores=scores, threshold=THRESHOLD)
    assert evaluate(eval_set, tmp_path, again, [unknown_folder], name="again")["known_breed"] \
        == report["known_breed"]
    assert again.calls == 0


def test_a_broken_photo_in_an_unknown_folder_is_skipped_and_listed(eval_set, unknown_folder, scored,
                                                                   tmp_path):
    table, scores = scored
    folder = tmp_path / "unknown"
    shutil.copytree(unknown_folder, folder)
    (folder / "broken.jpg").write_bytes(b"not a photo")
    report = evaluate(eval_set, tmp_path, TableSource(table, scores=scores, threshold=THRESHOLD),
                      [folder])
    [u] = report["known_breed"]["unknown"]
    assert (u["listed"], u["evaluated"]) == (8, 7)
    assert u["skipped"] == [{"path": "broken.jpg", "reason": "not an image"}]
    assert u["auroc"] == pytest.approx(expected(len(eval_set[3]), 7)["auroc"])


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "nope", "no such folder of unknown-breed photos"),
    (lambda tmp: tmp, "no usable JPEG/PNG photo in it"),
], ids=["missing", "empty"])
def test_an_unusable_unknown_folder_is_an_error(eval_set, scored, tmp_path, make, message):
    folder = make(tmp_path / "given")
    (tmp_path / "given").mkdir()
    with pytest.raises(EvaluationError, match=message):
        evaluate(eval_set, tmp_path, TableSource(scored[0], scores=scored[1], threshold=THRESHOLD),
                 [folder])



def test_api_and_endpoint_give_the_same_figures(eval_set, unknown_folder, scored, tmp_path, fake_aws):
    table, scores = scored

    def predict(body):
        return table[hashlib.sha256(body).hexdigest()]

    def verdict(body):
        score = scores[hashlib.sha256(body).hexdigest()]
        return score, score >= THRESHOLD

    mine = evaluate(eval_set, tmp_path, TableSource(table, "m1", scores=scores, threshold=THRESHOLD),
                    [unknown_folder], name="model")["known_breed"]
    with serving(api_app(predict, "m1", KEY, verdict)) as url:
        via_api = evaluate(eval_set, tmp_path, sources.ApiSource(url + "/beta", KEY, batch_size=3),
                           [unknown_folder], name="api", cache="api")["known_breed"]
    accepts = []
    with serving(runtime_app(predict, "dogs", verdict, accepts)) as url:
        fake_aws.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", url)
        source = sources.open_source("endpoint", endpoint="dogs", model_id="m1", known_breed=True)
        via_endpoint = evaluate(eval_set, tmp_path, source, [unknown_folder], name="ep",
                                cache="ep")["known_breed"]
        plain = sources.open_source("endpoint", endpoint="dogs")
        assert plain.predict([(eval_set[1] / eval_set[3][0].path).read_bytes()])[0].known_breed_score \
            is None
    assert set(accepts[:-1]) == {"application/json; verbose=true"} and accepts[-1] == "application/json"
    assert via_api["threshold"] is None and via_endpoint["threshold"] is None  # not told by either
    for served in (via_api, via_endpoint):
        assert {**served, "threshold": THRESHOLD} == mine


def test_command_line_with_two_unknown_folders(eval_set, unknown_folder, scored, tmp_path):
    """--unknown-data as a comma list (and repeatable): one row per folder, status 0."""
    table, scores = scored
    lst, data, _, _ = eval_set
    second = tmp_path / "second"
    shutil.copytree(unknown_folder, second)

    def verdict(body):
        score = scores[hashlib.sha256(body).hexdigest()]
        return score, score >= THRESHOLD

    env = dict(os.environ, DOGS_HOME=str(tmp_path))
    with serving(api_app(lambda b: table[hashlib.sha256(b).hexdigest()], "m9", KEY, verdict)) as url:
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", "evaluate", "--lst", str(lst), "--data", str(data),
             "--via", "api", "--url", url + "/beta", "--api-key", KEY, "--no-progress",
             "--unknown-data", f"{unknown_folder},{second}", "--out", str(tmp_path / "r")],
            cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Known breed or not" in proc.stdout and "(6/7) rejected" in proc.stdout
    saved = json.loads((tmp_path / "r" / "metrics.json").read_text())["known_breed"]
    assert [u["folder"] for u in saved["unknown"]] == [str(unknown_folder), str(second)]


def test_the_plotted_scores_are_checked_as_the_figures_are():
    """The plot's score groups come from the figures' own arrays: a missing score is the same clear
    error there, never a NaN drawn as a gap."""
    from ops.evaluate import known_breed
    from ops.evaluate.sources import PhotoPrediction

    known = [PhotoPrediction([1.0], 0.75, True), PhotoPrediction([1.0], 0.25, False)]
    other = known_breed.UnknownFolder(Path("other"), [], [], [PhotoPrediction([1.0], 0.125, False)])
    groups = known_breed.score_groups(known, [other], model_id="m1", via="model")
    assert {k: v.tolist() for k, v in groups.items()} == {known_breed.KNOWN: [0.75, 0.25], "other": [0.125]}
    other.answers.append(PhotoPrediction([1.0]))
    with pytest.raises(EvaluationError, match="m1"):
        known_breed.score_groups(known, [other], model_id="m1", via="model")
