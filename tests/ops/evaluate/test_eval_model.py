"""On a really trained model (the tiny artifact): the three prediction sources give the same numbers,
the numbers match a loop over the model's own answers, and the command line resumes from the cache."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.wrappers import Request, Response

from ops.core.artifact import extract, load_artifact
from ops.evaluate import run, sources
from tests.fixtures.evaluation import api_app, serving
from training import lst as lst_io
from training import metrics

pytestmark = pytest.mark.slow  # needs the trained tiny artifact
REPO = Path(__file__).resolve().parents[3]
KEY = "k-eval"


def counts(report):
    """What must be identical between sources: every count, every ranking."""
    return {"top1": report["top1"], "top5": report["top5"],
            "per_breed": [(r["support"], r["predicted"], r["correct"]) for r in report["per_breed"]],
            "confusion": report["confusion_matrix"],
            "suspects": [s["path"] for s in report["suspected_label_errors"]["items"]]}


def runtime_app_from(model, endpoint_name):
    """A SageMaker runtime endpoint answering with the artifact's own handlers."""
    @Request.application
    def app(request):
        if request.path != f"/endpoints/{endpoint_name}/invocations":
            return Response("{}", 404)
        body = model.invoke(request.get_data(), request.headers["content-type"])
        return Response(body, content_type="application/json")
    return app


@pytest.fixture(scope="module", autouse=True)
def torch_threads_restored():
    """ArtifactSource runs torch with one thread per worker; give later tests the count they had."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def in_process(tiny_artifact, tiny_lst_dir, dogs10, tmp_path_factory):
    out = tmp_path_factory.mktemp("model-eval")
    source = sources.ArtifactSource(tiny_artifact)
    report = run.evaluate(tiny_lst_dir / "tiny_test.lst", dogs10, out / "r", source,
                          cache_path=out / "c.sqlite", options=run.Options(progress=False))
    return report, source


def test_numbers_match_a_loop_over_the_models_answers(in_process, tiny_lst_dir, dogs10):
    report, source = in_process
    entries = lst_io.read_lst(tiny_lst_dir / "tiny_test.lst")
    answers = [source.model.predict((dogs10 / e.path).read_bytes()) for e in entries]
    top1 = sum(max(range(len(p)), key=lambda i: (p[i], -i)) == e.class_id
               for p, e in zip(answers, entries))
    assert report["top1"]["correct"] == top1 and report["top1"]["total"] == len(entries) == 30
    for c in range(len(report["classes"])):
        mine = [p for p, e in zip(answers, entries) if e.class_id == c]
        hits = sum(max(range(len(p)), key=lambda i: (p[i], -i)) == c for p in mine)
        assert report["per_breed"][c]["recall"] == pytest.approx(hits / len(mine))
    assert report["model_id"] == source.model.model_id
    assert [c["folder"] for c in report["classes"]] == [c["folder"] for c in source.model.classes]


def test_api_and_endpoint_give_the_same_numbers_as_the_model(in_process, tiny_artifact,
                                                             tiny_lst_dir, dogs10, tmp_path,
                                                             monkeypatch):
    report, _ = in_process
    served = load_artifact(tiny_artifact)  # a second, independent load, as a server would do
    lst = tiny_lst_dir / "tiny_test.lst"
    opts = run.Options(progress=False, workers=3)
    with serving(api_app(served.predict, served.model_id, KEY)) as url:
        via_api = run.evaluate(lst, dogs10, tmp_path / "api", sources.ApiSource(
            url + "/beta", KEY, batch_size=4), cache_path=tmp_path / "api.sqlite", options=opts)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with serving(runtime_app_from(served, "dogs")) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", url)
        via_endpoint = run.evaluate(lst, dogs10, tmp_path / "ep", sources.EndpointSource(
            "dogs", model_id=served.model_id), cache_path=tmp_path / "ep.sqlite", options=opts)
    assert via_api["model_id"] == via_endpoint["model_id"] == report["model_id"]
    assert counts(via_api) == counts(report)
    assert counts(via_endpoint) == counts(report)
    assert via_api["calibration"]["ece"] == pytest.approx(report["calibration"]["ece"], abs=1e-9)


def test_command_line_via_model_and_resume_from_the_cache(tiny_artifact, tiny_lst_dir, dogs10,
                                                          tmp_path):
    env = dict(os.environ, DOGS_HOME=str(tmp_path))
    cmd = [sys.executable, "-m", "invoke", "evaluate", "--lst", str(tiny_lst_dir / "tiny_test.lst"),
           "--data", str(dogs10), "--via", "model", "--model", str(tiny_artifact),
           "--out", str(tmp_path / "r"), "--no-progress", "--workers", "2"]
    first = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr
    assert "top-1 accuracy" in first.stdout and "Worst breeds" in first.stdout
    saved = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert saved["images"]["predicted_now"] == 30 and saved["images"]["from_cache"] == 0
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stderr
    resaved = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert resaved["images"]["predicted_now"] == 0 and resaved["images"]["from_cache"] == 30
    assert resaved["top1"] == saved["top1"]


@pytest.fixture(scope="module")
def few_other_breeds(other_breeds, tmp_path_factory):
    """4 photos of each breed the tiny model was not trained on, in their breed folders."""
    folder = tmp_path_factory.mktemp("other-breeds")
    for breed in sorted(p for p in other_breeds.iterdir() if p.is_dir()):
        (folder / breed.name).mkdir()
        for photo in sorted(breed.iterdir())[:4]:
            shutil.copy(photo, folder / breed.name / photo.name)
    return folder


def test_known_breed_figures_are_the_models_own_verbose_answers(in_process, tiny_artifact, tiny_lst_dir,
                                                                dogs10, few_other_breeds, tmp_path):
    """--via model with an unknown-breed folder: AUROC and rates from the verdicts the endpoint gives to
    an Accept of `application/json; verbose=true` (asked here through the toolkit's handler path)."""
    _, source = in_process
    lst = tiny_lst_dir / "tiny_test.lst"
    report = run.evaluate(lst, dogs10, tmp_path / "r", source, cache_path=tmp_path / "c.sqlite",
                          options=run.Options(progress=False), unknown=[few_other_breeds])
    served = load_artifact(tiny_artifact)
    known = [served.predict_verbose((dogs10 / e.path).read_bytes()) for e in lst_io.read_lst(lst)]
    unknown = [served.predict_verbose(p.read_bytes()) for p in sorted(few_other_breeds.rglob("*"))
               if p.is_file()]
    section = report["known_breed"]
    assert section["threshold"] == served.description["known_breed"]["threshold"]
    assert section["known"]["accepted"]["count"] == sum(a["is_known_breed"] for a in known)
    [u] = section["unknown"]
    assert u["evaluated"] == len(unknown) == 8
    assert u["rejected"]["count"] == sum(not a["is_known_breed"] for a in unknown)
    assert u["auroc"] == pytest.approx(metrics.auroc([a["known_breed_score"] for a in known],
                                                     [a["known_breed_score"] for a in unknown]))


def test_an_artifact_without_a_known_breed_score_is_a_clear_error(tiny_artifact, tiny_lst_dir, dogs10,
                                                                  few_other_breeds, tmp_path):
    folder = extract(tiny_artifact, tmp_path / "model")
    description = json.loads((folder / "model.json").read_text())
    del description["known_breed"]
    (folder / "model.json").write_text(json.dumps(description))
    source = sources.ArtifactSource(folder)
    assert source.known_breed_threshold is None
    with pytest.raises(sources.EvaluationError, match="gives no known-breed score"):
        run.evaluate(tiny_lst_dir / "tiny_test.lst", dogs10, tmp_path / "r", source,
                     cache_path=tmp_path / "c.sqlite", options=run.Options(progress=False),
                     unknown=[few_other_breeds])
