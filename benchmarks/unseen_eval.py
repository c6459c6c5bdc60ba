"""Accuracy on a named evaluation folder (unseen-val), beside the untrained ImageNet head's on the same photos.

The untrained head is the backbone's ImageNet classifier cut to the breeds' rows (no training at all):
what a recipe must beat. A trained artifact is scored through its own serving code (`ops.core.artifact`,
the container's handler path). Both come with their 95% Wilson interval.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from feature_cache import PHOTO_SUFFIXES, features, folder_photos  # noqa: E402
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


def imagenet_head(f: dict, class_folders: list[str]) -> tuple:
    """(weight, bias) of the untrained head: the cached ImageNet classifier's rows of the breeds."""
    rows = breed_rows(class_folders)
    return f["imagenet_weight"][rows], f["imagenet_bias"][rows]


def head_probabilities(f: dict, weight, bias) -> dict:
    """A head's probabilities on cached features: the centre crop's, and flip TTA's (the mean of the centre
    crop's and its mirror image's)."""
    centre = (f["centre"] @ weight.T + bias).softmax(1)
    return {"centre": centre, "flip": (centre + (f["mirror"] @ weight.T + bias).softmax(1)) / 2}


def view_figures(probabilities: dict, labels) -> dict:
    """{view: figure} of the top-1 of each view's probabilities."""
    labels = torch.as_tensor(labels)
    return {view: figure(int((p.argmax(1) == labels).sum()), len(labels)) for view, p in probabilities.items()}


def untrained_head(data: Path, backbone: str, class_folders: list[str]) -> tuple[dict, np.ndarray]:
    """The ImageNet classifier restricted to the breeds' rows, centre crop, on every photo of `data`:
    its figure, and whether it is right on each photo (in `folder_photos` order)."""
    f = features(data, backbone)
    labels = labels_of(f["folders"], class_folders)
    right = (head_probabilities(f, *imagenet_head(f, class_folders))["centre"].argmax(1).numpy() == labels)
    return figure(int(right.sum()), len(labels)), right


def paired_test(a: np.ndarray, b: np.ndarray) -> dict:
    """McNemar's exact test (`invoke evaluate.compare`'s) of two classifiers right (True) or wrong on the same
    photos: the photos only `a` gets right, only `b` does, and the two-sided p-value of so uneven a split if
    both were as good."""
    from ops.evaluate.paired import mcnemar

    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    return {"only_a": only_a, "only_b": only_b, "both": int((a & b).sum()), "p_value": mcnemar(only_a, only_b)}


def artifact_probabilities(artifact: Path, data: Path) -> tuple[np.ndarray, np.ndarray, list]:
    """(probabilities (N, C), labels (N,), the loaded model) of every photo of `data` via its serving code."""
    from ops.core.artifact import load_artifact

    model = load_artifact(artifact)
    class_folders = [c["folder"] for c in model.classes]
    items = folder_photos(data)
    labels = labels_of([f for f, _ in items], class_folders)
    probs = np.array([model.predict((data / rel).read_bytes(), "image/jpeg") for _, rel in items])
    return probs, labels, model


def accuracy(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 with its interval, and ECE, of probabilities (N, C) against labels (N,)."""
    return {**figure(int((probs.argmax(1) == labels).sum()), len(labels)),
            "ece": metrics.calibration(probs, labels)["ece"]}


def any_photos(folder: Path) -> list[Path]:
    """Every photo under `folder` (any depth), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def verdicts(model, photos: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """(known-breed scores, is_known_breed) of each photo, as the endpoint answers them (verbose)."""
    answers = [model.predict_verbose(p.read_bytes(), "image/png" if p.suffix.lower() == ".png" else "image/jpeg")
               for p in photos]
    if any("known_breed_score" not in a for a in answers):
        raise SystemExit("the model has no known-breed score (trained with known_breed_score=0, or "
                         "before it existed)")
    return (np.array([a["known_breed_score"] for a in answers]),
            np.array([a["is_known_breed"] for a in answers], dtype=bool))


def known_breed_figures(artifact: Path, known: Path, unknown: list[Path]) -> dict:
    """AUROC of the known-breed score, known photos against each unknown folder, and the rates at the
    model's stored threshold: the share of known photos accepted, of unknown ones rejected."""
    from ops.core.artifact import load_artifact

    model = load_artifact(artifact)
    known_scores, known_accepted = verdicts(model, any_photos(known))
    result = {"threshold": model.description["known_breed"]["threshold"], "known": str(known),
              "known_photos": int(known_scores.size), "known_accepted": figure(
                  int(known_accepted.sum()), int(known_accepted.size)), "unknown": []}
    for folder in unknown:
        photos = any_photos(folder)
        if not photos:
            raise SystemExit(f"--unknown-data {folder}: no .jpg/.jpeg/.png pictures there")
        scores, accepted = verdicts(model, photos)
        result["unknown"].append({"folder": str(folder), "photos": int(scores.size),
                                  "auroc": metrics.auroc(known_scores, scores),
                                  "rejected": figure(int((~accepted).sum()), int(accepted.size))})
    return result


def describe_known_breed(f: dict) -> list[str]:
    lines = [describe(f"known-breed threshold {f['threshold']:.4f}: {f['known']} accepted",
                      f["known_accepted"])]
    for u in f["unknown"]:
        lines.append(f"  {u['folder']}: AUROC {u['auroc']:.4f}; " + describe("rejected", u["rejected"]))
    return lines


def describe(name: str, f: dict) -> str:
    lo, hi = f["ci95"]
    return f"{name} {f['top1']:.4f} ({f['correct']}/{f['total']}, 95% CI {lo:.3f}-{hi:.3f})"
