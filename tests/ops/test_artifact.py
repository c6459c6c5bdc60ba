"""The trained artifact: its layout, and loading it through its own code/inference.py alone."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from ops.core.artifact import VERBOSE_JSON, ArtifactError, InferenceFailed, extract, load_artifact
from ops.core.config import PROJECT_ROOT

pytestmark = pytest.mark.slow

# photos of each breed that the tiny model was not trained on (it used the first 9 per breed)
HELD_OUT = 20


def held_out_photos(dogs10, classes):
    return [(c["id"], sorted((dogs10 / c["folder"]).glob("*.jpg"))[HELD_OUT]) for c in classes]


def test_artifact_holds_weights_metadata_and_serving_code(tiny_artifact):
    with tarfile.open(tiny_artifact) as tar:
        names = set(tar.getnames())
        model = json.load(tar.extractfile("model.json"))
        metrics = json.load(tar.extractfile("metrics.json"))

    assert {"model.pt", "classes.json", "model.json", "metrics.json", "hyperparameters.json",
            "code/inference.py", "code/training/model.py", "code/training/preprocess.py",
            "code/efficientnet_lite_pytorch/model.py", "code/efficientnet_lite_pytorch/LICENSE"} <= names
    assert not any(n.endswith("requirements.txt") for n in names)  # nothing to install at start
    assert model["backbone"] == "efficientnet_lite0"
    assert model["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    assert model["preprocessing"]["crop"] == [128, 128]
    assert metrics["epochs_run"] == 3 and len(metrics["history"]) == 3
    assert metrics["history"][0]["train_samples"] == 60  # 6 photos x 10 breeds, no mirror images
    assert metrics["model_id"] == model["model_id"]


def test_artifact_classifies_jpegs_in_a_fresh_process(tiny_artifact, dogs10, tmp_path):
    # Given only the archive, a clean interpreter that never sees this repository
    classes = json.loads(tarfile.open(tiny_artifact).extractfile("classes.json").read())["classes"]
    photos = held_out_photos(dogs10, classes)
    script = textwrap.dedent(f"""
        import json, sys, tarfile
        tarfile.open({str(tiny_artifact)!r}).extractall({str(tmp_path)!r}, filter="data")
        sys.path.insert(0, {str(tmp_path / "code")!r})
        import inference
        model = inference.model_fn({str(tmp_path)!r})
        answers = []
        for path in {[str(p) for _, p in photos]!r}:
            body, _ = inference.transform_fn(model, open(path, "rb").read(), "application/x-image",
                                             "application/json")
            answers.append(json.loads(body))
        import efficientnet_lite_pytorch
        print(json.dumps({{"answers": answers,
                          "code": inference.ServingTransform.__call__.__code__.co_filename,
                          "network": efficientnet_lite_pytorch.__file__}}))
    """)

    # When it loads the model through inference.py and classifies held-out photos
    result = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)

    # Then each answer is a probability per class, and most are right
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["code"].startswith(str(tmp_path / "code"))
    assert out["network"].startswith(str(tmp_path / "code"))  # vendored, not installed
    for answer in out["answers"]:
        assert len(answer) == len(classes) and abs(sum(answer) - 1) < 1e-4
    right = sum(max(range(len(a)), key=a.__getitem__) == cid
                for a, (cid, _) in zip(out["answers"], photos))
    assert right >= 7, f"{right}/10 held-out photos right"


def test_load_artifact_uses_the_artifacts_own_code(tiny_artifact, dogs10, tmp_path):
    loaded = load_artifact(tiny_artifact, extract_to=tmp_path / "x")
    cid, photo = held_out_photos(dogs10, loaded.classes)[0]

    probabilities = loaded.predict(photo.read_bytes())

    assert loaded.handlers.ServingTransform.__call__.__code__.co_filename.startswith(str(tmp_path / "x"))
    assert len(probabilities) == len(loaded.classes) == 10
    assert json.loads(loaded.invoke(photo.read_bytes(), "image/jpeg")) == probabilities
    assert loaded.model_id.startswith("dogs-efficientnet-lite0-")


def test_predict_and_predict_verbose_answer_as_the_toolkit_without_its_one_at_a_time_worker(
        tiny_artifact, dogs10, tmp_path):
    loaded = load_artifact(tiny_artifact, extract_to=tmp_path / "x")
    body = held_out_photos(dogs10, loaded.classes)[0][1].read_bytes()
    assert loaded.batchable

    verbose, plain = loaded.predict_verbose(body), loaded.predict(body)

    assert loaded._worker is None  # neither waited for the toolkit's worker (one request at a time)
    toolkit = json.loads(loaded.invoke(body, "application/x-image", VERBOSE_JSON))
    toolkit = toolkit if isinstance(toolkit, dict) else {"probabilities": toolkit}
    assert verbose.keys() == toolkit.keys()
    assert verbose["probabilities"] == pytest.approx(toolkit["probabilities"], abs=1e-6)
    assert verbose["probabilities"] == plain


def test_the_pytorch_network_is_built_from_the_artifacts_own_modules(tiny_artifact, tmp_path, monkeypatch):
    import training.model

    monkeypatch.setenv("DOGS_INFERENCE_BACKEND", "pytorch")
    loaded = load_artifact(tiny_artifact, extract_to=tmp_path / "x")

    files = {type(m).forward.__code__.co_filename for m in loaded.model.network.modules()}
    own = {f for f in files if "/torch/" not in f}
    assert own and all(f.startswith(str(tmp_path / "x" / "code")) for f in own), own
    assert sys.modules["training.model"] is training.model  # the project's own copy is back


def test_load_artifact_answers_request_errors_as_the_toolkit_does(tiny_artifact, tmp_path):
    loaded = load_artifact(tiny_artifact, extract_to=tmp_path / "x")

    bad_type = loaded.handle(b"...", "text/plain")
    bad_image = loaded.handle(b"...", "image/jpeg")
    with pytest.raises(InferenceFailed) as raised:
        loaded.invoke(b"...", "image/jpeg")

    assert (bad_type.status, bad_image.status, raised.value.status_code) == (415, 422, 422)
    assert json.loads(bad_type.body)["error"]["code"] == "unsupported_media_type"
    assert bad_image.content_type == "application/json"


def test_load_artifact_refuses_what_is_not_an_artifact(tmp_path):
    (tmp_path / "junk.tar.gz").write_bytes(b"junk")

    with pytest.raises(ArtifactError, match="no such"):
        load_artifact(tmp_path / "missing.tar.gz")
    with pytest.raises(ArtifactError, match="not a readable"):
        load_artifact(tmp_path / "junk.tar.gz")
    with pytest.raises(ArtifactError, match="no model.json"):
        load_artifact(tmp_path)


def test_artifacts_loaded_from_several_threads_at_once_each_work(tiny_artifact, photos):
    from concurrent.futures import ThreadPoolExecutor

    jpeg = next(iter(photos.values()))[1]
    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(lambda _: load_artifact(tiny_artifact), range(4)))
    answers = [model.invoke(jpeg, "image/jpeg") for model in models]
    assert len(set(answers)) == 1 and answers[0].startswith(b"[")
    import training.model  # the project's own package is back in place

    assert Path(training.model.__file__).parent == PROJECT_ROOT / "training"


def _tar(path, members):
    """A .tar.gz of (TarInfo, bytes | None) members, written as given (headers may lie)."""
    import io

    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _info(name, kind=tarfile.REGTYPE, size=0, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, linkname
    return info


@pytest.mark.parametrize("members,message", [
    ([(_info(f"f{i}"), None) for i in range(10_001)], "more than 10000 members"),
    ([(_info("model.pt", size=5 * 2**30), None)], "GiB unpacked"),
    ([(_info("code", tarfile.SYMTYPE, linkname="/etc"), None)], "link or special"),
    ([(_info("model.json", tarfile.LNKTYPE, linkname="/etc/passwd"), None)], "link or special"),
    ([(_info("dev", tarfile.CHRTYPE), None)], "link or special"),
    ([(_info("fifo", tarfile.FIFOTYPE), None)], "link or special"),
    ([(_info("/tmp/evil", size=1), b"x")], "outside"),
    ([(_info("code/../../evil", size=1), b"x")], "outside"),
], ids=["many-members", "huge-member", "symlink", "hardlink", "device", "fifo", "absolute", "dotdot"])
def test_hostile_archives_are_refused_before_anything_is_written(tmp_path, members, message):
    archive = _tar(tmp_path / "bad.tar.gz", members)

    with pytest.raises(ArtifactError, match=message):
        extract(archive, tmp_path / "out")

    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil").exists()


def test_an_extracted_model_is_removed_when_it_is_unloaded(tiny_artifact, tmp_path, monkeypatch):
    import gc
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with load_artifact(tiny_artifact) as closed:
        folder = closed.folder
        assert folder.parent == tmp_path and (folder / "model.json").is_file()
    assert not folder.exists()

    collected = load_artifact(tiny_artifact)  # never closed: garbage collection removes it
    folder = collected.folder
    del collected
    gc.collect()
    assert not folder.exists() and not list(tmp_path.iterdir())


def test_a_folder_or_a_target_given_is_never_removed(tiny_artifact, tmp_path):
    target = tmp_path / "x"
    with load_artifact(tiny_artifact, extract_to=target):
        pass
    with load_artifact(target):
        pass
    assert (target / "model.json").is_file()


def test_a_dead_processs_extraction_is_removed_at_the_next_one(tiny_artifact, tmp_path, monkeypatch):
    import tempfile

    from ops.core import artifact

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    left = tmp_path / f"{artifact.EXTRACTION_PREFIX}{dead}-abc"
    (left / "code").mkdir(parents=True)
    ours = tmp_path / f"{artifact.EXTRACTION_PREFIX}{os.getpid()}-def"
    ours.mkdir()

    with load_artifact(tiny_artifact):
        assert not left.exists() and ours.exists()


def test_in_process_the_runtime_the_artifact_carries_is_this_environments(tiny_artifact):
    with load_artifact(tiny_artifact) as loaded:
        assert (loaded.folder / "code" / "onnxruntime").is_dir()
        assert loaded.model.backend == "onnxruntime"
        assert not sys.modules["onnxruntime"].__file__.startswith(str(loaded.folder))
