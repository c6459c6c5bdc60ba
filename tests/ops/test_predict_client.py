"""`invoke predict` against the local API: tables, JSON, per-photo errors, a refused key."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rich.console import Console

from ops.client import predict_client
from ops.core.config import PROJECT_ROOT
from tasks.program import PHOTOS_REFUSED


@pytest.fixture(scope="module")
def photo_files(photos, sample_images, tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for name, (_, jpeg) in list(photos.items())[:2]:
        (folder / f"{name}.jpg").write_bytes(jpeg)
        paths.append(folder / f"{name}.jpg")
    (folder / "alpha.png").write_bytes(sample_images["png_alpha"])
    bad = folder / "notes.jpg"
    bad.write_bytes(sample_images["text_named_jpg"])
    return folder, [*paths, folder / "alpha.png"], bad


def test_predict_ranks_breeds_per_photo(local_api, photo_files, api_settings):
    url, key = local_api
    _, good, bad = photo_files
    results = predict_client.predict(url, key, [*good, bad], top_k=3)
    assert [r.status for r in results] == [200, 200, 200, 422]
    for result in results[:3]:
        assert len(result.top) == 3 and result.model == api_settings.model_id
    assert results[3].error["code"] == "invalid_image"
    console = Console(record=True, width=100)
    for table in predict_client.tables(results):
        console.print(table)
    text = console.export_text()
    assert results[0].top[0]["breed"] in text and "invalid_image" in text


def test_a_wrong_key_is_one_clear_error(local_api, photo_files):
    url, _ = local_api
    _, good, _ = photo_files
    with pytest.raises(predict_client.ApiClientError, match="refused.*--api-key"):
        predict_client.predict(url, "wrong", good[:1])


def test_stage_url_or_predict_url(local_api):
    url, _ = local_api
    assert predict_client.predict_url(url.rsplit("/predict", 1)[0]) == url
    assert predict_client.predict_url(url + "/") == url


def test_expand_photos_from_folder_glob_and_list(photo_files):
    folder, good, bad = photo_files
    assert set(predict_client.expand_photos(str(folder))) == {*good, bad}
    assert predict_client.expand_photos(f"{folder}/*.png") == [folder / "alpha.png"]
    assert predict_client.expand_photos(f"{good[0]},{good[1]}") == good[:2]
    with pytest.raises(predict_client.ApiClientError):
        predict_client.expand_photos(" , ")


def test_invoke_predict_json(local_api, photo_files):
    url, key = local_api
    _, good, bad = photo_files
    run = subprocess.run([sys.executable, "-m", "invoke", "predict", f"{good[0]},{bad}", "--url", url,
                          "--api-key", key, "--top", "2", "--json"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == PHOTOS_REFUSED == 3, run.stderr  # one photo refused: its own exit status
    results = json.loads(run.stdout)
    assert [r["status"] for r in results] == [200, 422]
    assert len(results[0]["top"]) == 2


def test_invoke_predict_missing_file_exits_2(local_api):
    url, key = local_api
    run = subprocess.run([sys.executable, "-m", "invoke", "predict", "no/such.jpg", "--url", url,
                          "--api-key", key], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == "error: no such file: no/such.jpg"


def test_predict_shows_whether_each_photo_is_one_of_the_breeds(local_api, photo_files):
    url, key = local_api
    _, good, _ = photo_files
    results = predict_client.predict(url, key, good[:1], top_k=2)
    [result] = results
    assert isinstance(result.is_known_breed, bool) and 0 <= result.known_breed_score <= 1
    assert result.as_dict()["known_breed_score"] == result.known_breed_score
    console = Console(record=True, width=120)
    for table in predict_client.tables(results):
        console.print(table)
    verdict = "one of its breeds" if result.is_known_breed else "NOT one of its breeds"
    text = " ".join(console.export_text().split())  # the caption may wrap
    assert f"{verdict} (known-breed score {result.known_breed_score:.3f})" in text
