"""What report.html's interactions need: the confusion-matrix block it draws as a clickable table, and the
photos behind each cell as small embedded JPEG thumbnails (the file stays self-contained)."""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ops.evaluate.photos import EvaluationPhoto

THUMB_PX = 96
PER_CELL = 12           # thumbnails per cell, the most confident first; the cell says how many it holds
MAX_TABLE_CLASSES = 30  # above this the clickable table shows the most-confused block (the zoom)


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
            {"src": thumbnail(data / photos[i].path), "path": photos[i].path,
             "p": round(float(probs[i, predicted]), 4)} for i in idx[:PER_CELL]]}
    return cells


def thumbnail(path: Path) -> str:
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
