"""The model folder that becomes `model.tar.gz`: weights, class map, preprocessing, metrics, code.

SageMaker tars `SM_MODEL_DIR` into model.tar.gz; the PyTorch inference container serves it with
`code/inference.py` (model_fn, input_fn, predict_fn, output_fn). Layout:

    model.pt  model.onnx  [model.int8.onnx]  classes.json  model.json  metrics.json  hyperparameters.json
    code/inference.py  code/training/{__init__,errors,model,preprocess}.py
    code/efficientnet_lite_pytorch/  (the network's code, vendored with its licence)
    code/onnxruntime/ + its dist-info  (with model.onnx: the runtime for the inference image's Python,
                                        training.serving_runtime; model.json `serving_runtime`)

Nothing is installed when the container starts: the endpoint runs with network isolation, so a
`code/requirements.txt` would make the toolkit's pip fail and the container exit. What serving needs
beyond the image (torch, torchvision, numpy, Pillow) travels in `code/`, which the toolkit puts on the
workers' PYTHONPATH.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from training import classmap, serving_runtime
from training.classmap import BreedClass
from training.hyperparameters import image_shape
from training.lst import LstEntry
from training.preprocess import settings_from_hyperparameters

HERE = Path(__file__).resolve().parent
WEIGHTS = "model.pt"
ONNX = "model.onnx"
INT8_ONNX = "model.int8.onnx"
ONNX_OPSET = 17
# the exported network's probabilities may differ from PyTorch's by at most this on the check photos
ONNX_TOLERANCE = 1e-4
# what code/inference.py imports, copied beside it as the package `training`
SERVING_MODULES = ("__init__.py", "errors.py", "model.py", "preprocess.py")
# pure-Python packages serving imports that the PyTorch inference image lacks, copied from this
# environment (the versions training used) into code/
VENDORED_PACKAGES = ("efficientnet_lite_pytorch",)


class ClassMapMismatch(classmap.ClassMapError):
    """The LST files and classes.json disagree."""


def class_map(lst_channel: str | Path, entries: list[LstEntry]) -> list[BreedClass]:
    """classes.json from the LST channel folder if there is one, else built from the LST paths."""
    lst_channel = Path(lst_channel)
    folder = lst_channel if lst_channel.is_dir() else lst_channel.parent
    ids = sorted({e.class_id for e in entries})
    if (folder / classmap.FILENAME).exists():
        classes = classmap.load(folder / classmap.FILENAME)
        if ids[-1] >= len(classes):
            raise ClassMapMismatch(f"{folder / classmap.FILENAME}: {len(classes)} classes, but "
                                   f"the LST file uses class id {ids[-1]}")
        return classes
    folders: dict[int, str] = {}
    for e in entries:
        name = e.path.split("/")[0]
        if folders.setdefault(e.class_id, name) != name:
            raise ClassMapMismatch(f"class id {e.class_id} is used for both "
                                   f"{folders[e.class_id]} and {name}; add a classes.json")
    if ids != list(range(len(ids))):
        raise ClassMapMismatch(f"class ids in the LST file are not 0..{len(ids) - 1}; add a "
                               f"classes.json")
    return [BreedClass(i, f, f.partition("-")[0] if "-" in f else "", classmap.display_name(f))
            for i, f in sorted(folders.items())]


def model_description(model_id: str, hps: dict[str, Any], num_classes: int,
                      model: torch.nn.Module | None = None) -> dict[str, Any]:
    channels, height, width = image_shape(hps["image_shape"])
    images = settings_from_hyperparameters(hps)
    description = {
        "model_id": model_id, "backbone": hps["backbone"], "num_layers": hps["num_layers"],
        "num_classes": num_classes, "image_shape": [channels, height, width], "weights": WEIGHTS,
        "preprocessing": {"resize": images["resize"], "crop": list(images["crop"]),
                          "mean": list(images["mean"]), "std": list(images["std"])},
        "output": "JSON array of class probabilities in class-id order",
        "torch_version": torch.__version__,
        "temperature": float(getattr(model, "temperature", 1.0)),
    }
    known = getattr(model, "known_breed", None)
    if known is not None:
        description["known_breed"] = {
            "method": "ImageNet classifier's probability mass on the breeds' ImageNet classes",
            "imagenet_rows": [int(r) for r in known.rows.tolist()],
            "threshold": model.known_breed_threshold,
            "answer": "with Accept 'application/json; verbose=true': {probabilities, known_breed_score, "
                      "is_known_breed (score >= threshold)}"}
    return description


def write_model_dir(model_dir: str | Path, *, model: torch.nn.Module, classes: list[BreedClass],
                    hps: dict[str, Any], metrics: dict[str, Any],
                    check_images: torch.Tensor | None = None, int8: dict[str, Any] | None = None) -> Path:
    """Fill `model_dir` (built in a temp folder beside it, then moved in file by file).

    With `check_images` (a preprocessed batch of real photos) the network is also exported to ONNX and
    kept only if ONNX Runtime's probabilities on them match PyTorch's (see `export_onnx`). With `int8`
    ({calibration, validation, max_top1_drop, min_agreement}, see `training.quantise`) that ONNX model is
    also quantised to int8, which is served instead when it passes its gate (model.json `onnx.file`).
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=model_dir, prefix=".staging-"))
    try:
        torch.save(model.state_dict(), staging / WEIGHTS)
        digest = hashlib.sha256((staging / WEIGHTS).read_bytes()).hexdigest()[:8]
        model_id = os.environ.get("TRAINING_JOB_NAME") or \
            f"dogs-{hps['backbone'].replace('_', '-')}-{time.strftime('%Y%m%d-%H%M%S')}-{digest}"
        onnx_check = export_onnx(model, staging / ONNX, check_images) if check_images is not None \
            else {"exported": False, "reason": "no check images given"}
        description = model_description(model_id, hps, len(classes), model)
        int8_check = None
        if onnx_check["exported"]:
            description["onnx"] = {"file": ONNX, "opset": ONNX_OPSET, "outputs": onnx_check["outputs"],
                                   "output": "probabilities", "max_abs_diff": onnx_check["max_abs_diff"]}
            int8_check = int8_export(staging, description["onnx"], int8) if int8 else None
        copy_serving_code(staging / "code")
        runtime = serving_runtime.vendor(staging / "code") if onnx_check["exported"] else None
        if runtime:
            description["serving_runtime"] = runtime
        (staging / classmap.FILENAME).write_text(classmap.to_json(classes))
        _write_json(staging / "model.json", description)
        _write_json(staging / "metrics.json", {"model_id": model_id, **metrics, "onnx_export": onnx_check,
                                                **({"int8_export": int8_check} if int8 else {})})
        _write_json(staging / "hyperparameters.json", hps)
        for item in sorted(staging.iterdir()):
            target = model_dir / item.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return model_dir


def export_onnx(model: torch.nn.Module, path: Path, check_images: torch.Tensor,
                tolerance: float = ONNX_TOLERANCE) -> dict[str, Any]:
    """Export network + softmax to ONNX at `path` (batch size dynamic) and check it on real photos.

    Returns what the check found; when the export fails, onnxruntime is missing or the largest
    difference of the probabilities exceeds `tolerance`, the file is removed with a warning (the
    artifact then serves with PyTorch alone).
    """
    # Exported and checked as a float32 copy on the CPU, where ONNX Runtime serves it: on a GPU the model
    # computes with TF32 convolutions, whose probabilities differed from the CPU's by 2.2e-4 to 3.9e-4
    # for trained models on an H100, which dropped every export of a GPU-trained model.
    try:
        outputs = serving_outputs(model)
        names = ["probabilities"] + (["known_breed_score"] if getattr(model, "known_breed", None)
                                     is not None else [])
        images = check_images.cpu().float()
        with torch.inference_mode():
            expected = _as_list(outputs(images))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on constant folding and the like
            torch.onnx.export(outputs, (images[:1],), str(path), dynamo=False,
                              input_names=["images"], output_names=names,
                              dynamic_axes={"images": {0: "batch"}, **{n: {0: "batch"} for n in names}},
                              opset_version=ONNX_OPSET)
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"images": images.numpy()})
        difference = max(float(abs(g - e.numpy()).max()) for g, e in zip(got, expected))
    except Exception as exc:  # an operator the exporter lacks, no onnx/onnxruntime: serve with torch
        path.unlink(missing_ok=True)
        warnings.warn(f"ONNX export dropped: {type(exc).__name__}: {str(exc)[:200]}")
        return {"exported": False, "reason": f"{type(exc).__name__}: {str(exc)[:200]}"}
    result = {"exported": difference <= tolerance, "max_abs_diff": difference, "outputs": names,
              "tolerance": tolerance, "checked_images": len(images)}
    if not result["exported"]:
        path.unlink(missing_ok=True)
        result["reason"] = f"max abs difference {difference:.2e} > {tolerance:g}"
        warnings.warn(f"ONNX export dropped: its probabilities differ from PyTorch's by up to "
                      f"{difference:.2e} (> {tolerance:g}) on {len(images)} photos")
    return result


def int8_export(staging: Path, onnx: dict[str, Any], int8: dict[str, Any]) -> dict[str, Any]:
    """Quantise the staged model.onnx; when the int8 model passes its gate, `onnx` names it as the served
    file (the float32 one stays beside it as `float32_file`). Returns the check's figures."""
    from training import quantise

    result = quantise.build_and_check(staging / ONNX, staging / INT8_ONNX, **int8)
    if result["served"]:
        onnx.update({"file": INT8_ONNX, "float32_file": ONNX, "int8": {
            k: result[k] for k in ("photos", "float32_top1", "int8_top1", "agreement")}})
    else:
        warnings.warn(f"int8 ONNX model dropped: {result['reason']}")
    return result


def serving_outputs(model: torch.nn.Module) -> torch.nn.Module:
    """A float32 CPU copy of the classifier answering as serving does (probabilities [, scores])."""
    from training.model import ServingOutputs

    copied = copy.deepcopy(model).cpu().float()
    if not hasattr(copied, "serve"):  # any network of logits
        return torch.nn.Sequential(copied, torch.nn.Softmax(dim=1)).eval()
    return ServingOutputs(copied).eval()


def _as_list(outputs) -> list[torch.Tensor]:
    return list(outputs) if isinstance(outputs, tuple) else [outputs]


def copy_serving_code(code_dir: Path) -> None:
    package = code_dir / "training"
    package.mkdir(parents=True)
    shutil.copy2(HERE / "inference.py", code_dir / "inference.py")
    for name in SERVING_MODULES:
        shutil.copy2(HERE / name, package / name)
    for name in VENDORED_PACKAGES:
        vendor_package(name, code_dir)


def vendor_package(name: str, code_dir: Path) -> None:
    """Copy the installed pure-Python package `name` (its .py files and licence) into code_dir."""
    from importlib import metadata, util

    spec = util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed: the artifact's serving code needs it")
    source = Path(next(iter(spec.submodule_search_locations)))
    target = code_dir / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    distribution = metadata.distribution(metadata.packages_distributions()[name][0])
    for file in distribution.files or []:
        if file.name.upper().startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE")):
            shutil.copy2(file.locate(), target / file.name)
    (target / "VENDORED").write_text(f"{distribution.metadata['Name']}=={distribution.version} "
                                     f"(copied from the training environment)\n")


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
