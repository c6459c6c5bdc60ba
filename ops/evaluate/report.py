"""The report folder: metrics.json (stable keys), per_breed.csv, the PNGs and one self-contained
report.html (every picture embedded as a data URI), written atomically.

What report.html's interactions need is here too: the confusion-matrix block it draws as a clickable
table (`table_classes`), and the photos behind each cell as small embedded JPEG thumbnails
(`cell_photos`), so the file stays self-contained."""
from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import Sequence

import jinja2
import numpy as np
from PIL import Image

from ops.evaluate import paired, plots
from ops.evaluate.photos import EvaluationPhoto, Skipped
from training.classmap import BreedClass
from training.files import write_text_atomic

SCHEMA_VERSION = 1
CSV_FIELDS = ("class_id", "breed", "folder", "support", "predicted", "correct", "precision",
              "recall", "f1")
TEMPLATES = Path(__file__).parent / "templates"
THUMB_PX = 96
PER_CELL = 12           # thumbnails per cell, the most confident first; the cell says how many it holds
MAX_TABLE_CLASSES = 30  # above this the clickable table shows the most-confused block (the zoom)


def build_metrics(summary: dict, classes: Sequence[BreedClass], photos: Sequence[EvaluationPhoto],
                  skipped: Sequence[Skipped], *, listed: int, context: dict) -> dict:
    """The summary of training.metrics with breed names and photo paths added, plus the run context."""
    name = [c.name for c in classes]
    per_breed = [{**row, "breed": name[row["class_id"]], "folder": classes[row["class_id"]].folder}
                 for row in summary["per_class"]]
    worst = [{**w, "breed": name[w["class_id"]],
              "confused_with": [{**x, "breed": name[x["class_id"]]} for x in w["confused_with"]]}
             for w in summary["worst"]]
    confusions = [{**c, "given_breed": name[c["given"]], "predicted_breed": name[c["predicted"]]}
                  for c in summary["top_confusions"]]
    suspects = dict(summary["suspected_label_errors"])
    suspects["items"] = [{**s, "path": photos[s["index"]].path,
                          "lst_index": photos[s["index"]].index,
                          "given_breed": name[s["given"]], "predicted_breed": name[s["predicted"]]}
                         for s in suspects["items"]]
    return {
        "schema_version": SCHEMA_VERSION,
        **context,
        "images": {"listed": listed, "evaluated": len(photos), "skipped_count": len(skipped),
                   "skipped": [{"index": s.index, "path": s.path, "reason": s.reason}
                               for s in skipped]},
        "classes": [{"id": c.id, "folder": c.folder, "name": c.name} for c in classes],
        "top1": summary["top1"],
        "top5": summary["top5"],
        "averages": summary["averages"],
        "calibration": summary["calibration"],
        "per_breed": per_breed,
        "worst": worst,
        "top_confusions": confusions,
        "zoom_classes": summary["zoom_classes"],
        "confusion_matrix": summary["confusion_matrix"],
        "suspected_label_errors": suspects,
    }


def draw(metrics: dict, photos: Sequence[EvaluationPhoto], probs: np.ndarray, data: Path,
         out: Path) -> dict[str, str]:
    """Every PNG of the report; returns {key: file name}."""
    names = [c["name"] for c in metrics["classes"]]
    cm = np.asarray(metrics["confusion_matrix"])
    files = {
        "recall": plots.recall_per_breed(metrics["per_breed"], out / "recall_per_breed.png"),
        "confusion": plots.confusion(cm, names, out / "confusion_matrix.png",
                                     "Confusion matrix, all breeds"),
        "confusion_zoom": plots.confusion(cm, names, out / "confusion_zoom.png",
                                          "The most-confused breeds", metrics["zoom_classes"]),
        "reliability": plots.reliability(metrics["calibration"]["curve"],
                                         metrics["calibration"]["ece"], out / "reliability.png"),
    }
    for rank, w in enumerate(metrics["worst"], start=1):
        strip = _worst_strip(w, names, photos, probs, data, out / f"worst_{rank}.png")
        if strip:
            files[f"worst_{rank}"] = strip
    items = metrics["suspected_label_errors"]["items"][:24]
    if items:
        cells = [(data / s["path"], f"given: {s['given_breed']}\nmodel: {s['predicted_breed']} "
                  f"{s['p_predicted']:.0%}\n{Path(s['path']).name}") for s in items]
        files["suspects"] = plots.photo_grid(cells, out / "suspected_label_errors.png",
                                             "Suspected label errors (most confident first)")
    return {k: Path(v).name for k, v in files.items()}


def _worst_strip(w: dict, names, photos, probs, data: Path, path: Path) -> Path | None:
    pred = probs.argmax(axis=1)
    labels = np.array([p.class_id for p in photos])
    mine, theirs = [], []
    per = max(2, 6 // max(1, len(w["confused_with"])))  # photos per breed it was taken for
    for x in w["confused_with"]:
        idx = np.flatnonzero((labels == w["class_id"]) & (pred == x["class_id"]))
        idx = idx[np.argsort(-probs[idx, x["class_id"]], kind="stable")]
        mine += [(data / photos[i].path, f"taken for {names[x['class_id']]}\n"
                  f"{probs[i, x['class_id']]:.0%}") for i in idx[:per]]
        right = np.flatnonzero((labels == x["class_id"]) & (pred == x["class_id"]))
        right = right[np.argsort(-probs[right, x["class_id"]], kind="stable")]
        theirs += [(data / photos[i].path, f"a {names[x['class_id']]}") for i in right[:per]]
    if not mine:
        return None
    columns = 6
    mine, theirs = mine[:columns], theirs[:columns]
    cells = mine + [(None, "")] * (columns - len(mine)) * bool(theirs) + theirs
    titles = [(0, f"photos of {w['breed']} the model took for another breed")]
    if theirs:
        titles.append((1, "what it took them for"))
    return plots.photo_grid(cells, path, f"{w['breed']}: recall {w['recall']:.0%}",
                            columns=columns, row_titles=titles)


def write_per_breed_csv(metrics: dict, path: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in metrics["per_breed"]:
        writer.writerow({k: "" if row[k] is None else row[k] for k in CSV_FIELDS})
    write_text_atomic(path, buf.getvalue())


def write_predictions_csv(photos: Sequence[EvaluationPhoto], probs: np.ndarray, path: Path) -> None:
    """One row per evaluated photo (what `evaluate.compare` pairs for McNemar's test)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(paired.FIELDS)
    for photo, row in zip(photos, probs):
        best = int(row.argmax())
        writer.writerow([photo.index, photo.path, photo.sha256, photo.class_id, best,
                         round(float(row[best]), 6)])
    write_text_atomic(path, buf.getvalue())


def render_html(metrics: dict, pictures: dict[str, str], out: Path,
                cells: dict[str, dict] | None = None) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined)
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:.1%}"
    env.filters["num"] = lambda v, d=3: "–" if v is None else f"{v:.{d}f}"
    uris = {k: "data:image/png;base64," + base64.b64encode((out / f).read_bytes()).decode()
            for k, f in pictures.items()}
    worst = [(w, uris.get(f"worst_{rank}")) for rank, w in enumerate(metrics["worst"], start=1)]
    shown = table_classes(metrics)
    return env.get_template("report.html.j2").render(
        m=metrics, img=uris, worst=worst, cells=cells or {}, shown=shown,
        cm=metrics["confusion_matrix"], names=[c["name"] for c in metrics["classes"]])


def write_report(metrics: dict, photos, probs, data: Path, out: Path, *,
                 known_breed_scores: dict[str, np.ndarray] | None = None) -> dict[str, str]:
    """Write everything into `out`; returns {what: file name}. `known_breed_scores` ({label: scores}
    of the evaluation's photos and each unknown-breed folder) adds their histogram."""
    out.mkdir(parents=True, exist_ok=True)
    pictures = draw(metrics, photos, probs, data, out)
    if known_breed_scores:
        threshold = (metrics.get("known_breed") or {}).get("threshold")
        pictures["known_breed"] = plots.known_breed_scores(
            known_breed_scores, threshold, out / "known_breed_scores.png").name
    write_per_breed_csv(metrics, out / "per_breed.csv")
    write_predictions_csv(photos, probs, out / paired.PREDICTIONS)
    metrics["files"] = {"metrics": "metrics.json", "per_breed": "per_breed.csv",
                        "predictions": paired.PREDICTIONS, "html": "report.html", "plots": pictures}
    write_text_atomic(out / "metrics.json",
                      json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    cells = cell_photos(metrics, photos, probs, data)
    write_text_atomic(out / "report.html", render_html(metrics, pictures, out, cells))
    return metrics["files"]


def table_classes(metrics: dict) -> list[int]:
    """Class ids of the clickable matrix: all of them when few, else the most-confused block."""
    n = len(metrics["classes"])
    return list(range(n)) if n <= MAX_TABLE_CLASSES else sorted(metrics["zoom_classes"])


def cell_photos(metrics: dict, photos: Sequence[EvaluationPhoto], probs: np.ndarray,
                data: Path) -> dict[str, dict]:
    """{"given,predicted": {"count", "photos": [{"src", "path", "p"}]}} for every cell of the table and
    every top confusion."""
    shown = set(table_classes(metrics))
    wanted = {(c["given"], c["predicted"]) for c in metrics["top_confusions"]}
    pred = probs.argmax(axis=1)
    members: dict[tuple[int, int], list[int]] = {}
    for i, photo in enumerate(photos):
        cell = (photo.class_id, int(pred[i]))
        if (cell[0] in shown and cell[1] in shown) or cell in wanted:
            members.setdefault(cell, []).append(i)
    cells = {}
    for (given, predicted), idx in sorted(members.items()):
        idx.sort(key=lambda i: -probs[i, predicted])
        cells[f"{given},{predicted}"] = {"count": len(idx), "photos": [
            {"src": thumbnail_uri(data / photos[i].path), "path": photos[i].path,
             "p": round(float(probs[i, predicted]), 4)} for i in idx[:PER_CELL]]}
    return cells


def thumbnail_uri(path: Path) -> str:
    """A JPEG data URI of the photo, at most THUMB_PX on its longer side ("" when it cannot be read)."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))
            small = img.convert("RGB")
            small.thumbnail((THUMB_PX, THUMB_PX))
    except OSError:
        return ""
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
