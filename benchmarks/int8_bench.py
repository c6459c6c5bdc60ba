"""int8 against float32 ONNX: top-1 and agreement on a named folder (unseen-val), predictions per second on
one core from one run, and what a million predictions cost on the default endpoint.

    .venv/bin/python benchmarks/int8_bench.py --eval-data ../shared/data/unseen-val/Images \
        [--artifact model.tar.gz | --backbone efficientnet_lite0 --calibration-data ../shared/data/dogs-10/Images]

With `--artifact`: its float32 model and, when its export served one, its int8 model. Without: the untrained
ImageNet head of `--backbone` (the breeds' rows) exported as the training export does, with the int8 model
quantised from `--calibration-data` photos (training photos, never the evaluation folder) and kept whatever
its gate says (the figures are the point). Throughput: batch 1, one intra-op thread, the two models run in
alternating rounds on the same preprocessed photos. Cost: the hourly price of the default real-time
instance over the predictions its vCPUs make in an hour (price and vCPUs both from
ops/deploy/sagemaker_hosting_prices.yaml), and the serverless price of one prediction's seconds. Writes
`.dogs/bench/int8_bench.json` (or --out).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from feature_cache import folder_photos  # noqa: E402
from ops.core.artifact import extract  # noqa: E402
from ops.deploy import hosting_cost  # noqa: E402
from ops.core.state import home, write_json_atomic  # noqa: E402
from training import export, quantise  # noqa: E402
from training.classmap import from_folders  # noqa: E402
from training.data import load_image  # noqa: E402
from training.model import EFFICIENTNET_LITES, build_model, known_breed_rows  # noqa: E402
from training.preprocess import ServingTransform, eval_transform, image_settings  # noqa: E402
from unseen_eval import describe, figure, labels_of  # noqa: E402


def untrained_model_dir(out: Path, backbone: str, class_folders: list[str], calibration_data: Path,
                        size: int | None) -> Path:
    """An artifact folder of the untrained ImageNet head, float32 and int8 ONNX (the gate ignored)."""
    classes = from_folders(class_folders)
    names = [c.name for c in classes]
    net = build_model(backbone, num_classes=len(classes), pretrained=True, class_names=names,
                      known_breed_rows=known_breed_rows(names)).eval()
    net.known_breed_threshold = 0.5
    settings = image_settings(backbone, size)
    transform = eval_transform(**settings)
    photos = folder_photos(calibration_data)
    calibration = torch.stack([transform(load_image(calibration_data / rel))
                               for _, rel in photos[::max(1, len(photos) // 64)][:64]])
    height = settings["crop"][0]
    hps = {"backbone": backbone, "num_layers": 50, "image_shape": f"3,{height},{height}",
           "resize": settings["resize"]}
    export.write_model_dir(out, model=net, classes=classes, hps=hps, metrics={}, check_images=calibration[:8],
                           int8={"calibration": calibration, "validation": [(calibration[:8], torch.zeros(8))],
                                 "max_top1_drop": 1.0, "min_agreement": 0.0})
    return out


def model_files(model_dir: Path) -> tuple[dict, Path, Path | None]:
    description = json.loads((model_dir / "model.json").read_text())
    onnx = description.get("onnx") or {}
    if not onnx:
        raise SystemExit(f"{model_dir}: the artifact has no ONNX model")
    int8 = model_dir / onnx["file"] if "int8" in onnx else None
    return description, model_dir / onnx.get("float32_file", onnx["file"]), int8


def preprocessed(data: Path, description: dict) -> tuple[np.ndarray, list[str]]:
    p = description["preprocessing"]
    transform = ServingTransform(resize=p["resize"], crop=tuple(p["crop"]), mean=p["mean"], std=p["std"])
    items = folder_photos(data)
    return np.stack([transform(load_image(data / rel)) for _, rel in items]), [f for f, _ in items]


def per_core_rate(paths: dict[str, Path], images: np.ndarray, rounds: int) -> dict[str, float]:
    """Predictions per second of each model on one thread, batch 1, alternating rounds."""
    sessions = {k: quantise.session(v, threads=1) for k, v in paths.items()}
    name = next(iter(sessions.values())).get_inputs()[0].name
    seconds = {k: 0.0 for k in sessions}
    count = 0
    for _ in range(rounds):
        for key, s in sessions.items():
            started = time.perf_counter()
            for image in images:
                s.run(None, {name: image[None]})
            seconds[key] += time.perf_counter() - started
        count += len(images)
    return {k: count / v for k, v in seconds.items()}


def cost_per_million(rate_per_core: float) -> dict[str, float]:
    cost = hosting_cost.per_million_predictions(1 / rate_per_core, rate_per_core)
    return {**cost, "realtime_vcpus": hosting_cost.vcpus(cost["realtime_instance"])}


def comparison(model_dir: Path, data: Path, *, timing_photos: int = 32, rounds: int = 3) -> dict:
    """float32 against int8 of an artifact folder on `data`: top-1 (95% CI), agreement, rates, costs."""
    description, float_path, int8_path = model_files(model_dir)
    if int8_path is None:
        raise SystemExit(f"{model_dir}: the artifact serves no int8 model (see metrics.json int8_export)")
    images, folders = preprocessed(data, description)
    classes = json.loads((model_dir / "classes.json").read_text())["classes"]
    labels = labels_of(folders, [c["folder"] for c in classes])
    compared = quantise.compare(float_path, int8_path, [(images[i:i + 32], labels[i:i + 32])
                                                        for i in range(0, len(images), 32)])
    rates = per_core_rate({"float32": float_path, "int8": int8_path}, images[:timing_photos], rounds)
    n = compared["photos"]
    return {"eval_data": str(data), "model": description["model_id"], "backbone": description["backbone"],
            "crop": description["preprocessing"]["crop"],
            "float32": figure(round(compared["float32_top1"] * n), n),
            "int8": figure(round(compared["int8_top1"] * n), n), "agreement": compared["agreement"],
            "predictions_per_second_per_core": rates, "speedup": rates["int8"] / rates["float32"],
            "cost_per_million": {k: cost_per_million(v) for k, v in rates.items()},
            "file_bytes": {"float32": float_path.stat().st_size, "int8": int8_path.stat().st_size},
            "cpu_count": os.cpu_count(), "load_average": os.getloadavg()[0],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def report(result: dict) -> list[str]:
    lines = [describe("float32", result["float32"]),
             describe("int8   ", result["int8"]) + f"; answers agree on {result['agreement']:.4f}"]
    for k, v in result["predictions_per_second_per_core"].items():
        c = result["cost_per_million"][k]
        lines.append(f"{k}: {v:.1f} predictions/s on one core; per million: ${c['realtime_usd']:.3f} on "
                     f"{c['realtime_instance']} ({c['realtime_vcpus']} vCPUs busy), "
                     f"${c['serverless_usd']:.2f} serverless")
    lines.append(f"int8 / float32 throughput on one core: {result['speedup']:.2f}x")
    return lines


def artifact_folder(artifact: Path, tmp: Path) -> Path:
    """The artifact's folder: itself, or model.tar.gz extracted into `tmp`."""
    return extract(artifact, tmp) if artifact.is_file() else artifact


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-data", required=True, type=Path, help="one folder per breed (unseen-val)")
    parser.add_argument("--artifact", type=Path, help="model.tar.gz or model folder (default: untrained head)")
    parser.add_argument("--backbone", default="efficientnet_lite0", choices=EFFICIENTNET_LITES)
    parser.add_argument("--size", type=int, help="untrained head: centre crop side (default native)")
    parser.add_argument("--calibration-data", type=Path, default=Path("../shared/data/dogs-10/Images"))
    parser.add_argument("--timing-photos", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=home() / "bench" / "int8_bench.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="int8-bench-") as tmp:
        if args.artifact:
            model_dir = artifact_folder(args.artifact, Path(tmp))
        else:
            class_folders = sorted(p.name for p in args.eval_data.iterdir() if p.is_dir())
            model_dir = untrained_model_dir(Path(tmp) / "model", args.backbone, class_folders,
                                            args.calibration_data, args.size)
        result = comparison(model_dir, args.eval_data, timing_photos=args.timing_photos, rounds=args.rounds)
    print("\n".join(report(result)))
    write_json_atomic(args.out, result)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
