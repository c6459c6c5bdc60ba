"""Accuracy on a named evaluation folder (unseen-val), beside the untrained ImageNet head's on the same photos.

The untrained head is the backbone's ImageNet classifier cut to the breeds' rows (no training at all):
what a recipe must beat. A trained artifact is scored through its own serving code (`ops.artifact`,
the container's handler path). Both come with their 95% Wilson interval.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from feature_cache import features, folder_photos  # noqa: E402
from training import metrics  # noqa: E402
from training.classmap import display_name  # noqa: E402
from training.model import imagenet_index  # noqa: E402


def figure(correct: int, total: int) -> dict:
    """{correct, total, top1, ci95: [lo, hi]}."""
    lo, hi = metrics.wilson_interval(correct, total)
    return {"correct": correct, "total": total, "top1": correct / total if total else None,
            "ci95": [lo, hi]}


def labels_of(folders: list[str], class_folders: list[str]) -> np.ndarray:
    """Class ids of photos by their breed folder; a folder the model has no class for is an error."""
    index = {f: i for i, f in enumerate(class_folders)}
    missing = sorted(set(folders) - set(index))
    if missing:
        raise SystemExit(f"evaluation folders the model has no class for: {', '.join(missing)}")
    return np.array([index[f] for f in folders])


def breed_rows(class_folders: list[str]) -> list[int]:
    rows = [imagenet_index(display_name(f)) for f in class_folders]
    if None in rows:
        raise SystemExit("not every breed is an ImageNet class: there is no untrained head to compare")
    return rows


def untrained_head(data: Path, backbone: str, class_folders: list[str]) -> dict:
    """The ImageNet classifier restricted to the breeds' rows, centre crop, on every photo of `data`."""
    f = features(data, backbone)
    rows = breed_rows(class_folders)
    logits = f["centre"].numpy() @ f["imagenet_weight"].numpy()[rows].T + f["imagenet_bias"].numpy()[rows]
    labels = labels_of(f["folders"], class_folders)
    return figure(int((logits.argmax(1) == labels).sum()), len(labels))


def artifact_probabilities(artifact: Path, data: Path) -> tuple[np.ndarray, np.ndarray, list]:
    """(probabilities (N, C), labels (N,), the loaded model) of every photo of `data` via its serving code."""
    from ops.artifact import load_artifact

    model = load_artifact(artifact)
    class_folders = [c["folder"] for c in model.classes]
    items = folder_photos(data)
    labels = labels_of([f for f, _ in items], class_folders)
    probs = np.array([model.predict((data / rel).read_bytes(), "image/jpeg") for _, rel in items])
    return probs, labels, model


def artifact_accuracy(artifact: Path, data: Path) -> dict:
    probs, labels, _ = artifact_probabilities(artifact, data)
    return {**figure(int((probs.argmax(1) == labels).sum()), len(labels)),
            "ece": metrics.calibration(probs, labels)["ece"]}


def describe(name: str, f: dict) -> str:
    lo, hi = f["ci95"]
    return f"{name} {f['top1']:.4f} ({f['correct']}/{f['total']}, 95% CI {lo:.3f}-{hi:.3f})"
