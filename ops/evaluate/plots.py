"""The report's pictures (matplotlib, Agg): breed names, not ids; each function writes one PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

DPI = 100
THUMB = 160


def _save(fig, path: Path, tight: bool = True) -> Path:
    # Photo sheets are laid out exactly and compress poorly: no second "tight" render, fast zlib.
    fig.savefig(path, dpi=DPI, bbox_inches="tight" if tight else None,
                pil_kwargs={"compress_level": 6 if tight else 2})
    plt.close(fig)
    return path


def recall_per_breed(rows: Sequence[dict], path: Path) -> Path:
    """Horizontal bars, breeds sorted by recall (worst at the top); absent breeds left out."""
    rows = sorted((r for r in rows if r["recall"] is not None),
                  key=lambda r: (-r["recall"], -r["class_id"]))
    fig, ax = plt.subplots(figsize=(8, 1 + 0.28 * max(1, len(rows))))
    recalls = [r["recall"] for r in rows]
    ax.barh(range(len(rows)), recalls, color=plt.cm.RdYlGn(np.array(recalls)), edgecolor="none")
    ax.set_yticks(range(len(rows)), [f"{r['breed']} ({r['support']})" for r in rows],
                  fontsize=8 if len(rows) <= 40 else 6)
    for i, v in enumerate(recalls):
        ax.text(min(v + 0.01, 0.93), i, f"{v:.0%}", va="center", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("recall (share of the breed's photos recognised); in brackets: test photos")
    ax.set_title("Recall per breed")
    ax.margins(y=0.01)
    return _save(fig, path)


def confusion(cm: np.ndarray, names: Sequence[str], path: Path, title: str,
              ids: Sequence[int] | None = None) -> Path:
    """Row-normalised confusion matrix (row = given breed); counts written in when few breeds."""
    cm = np.asarray(cm)
    ids = list(range(cm.shape[0])) if ids is None else list(ids)
    sub = cm[np.ix_(ids, ids)]
    totals = cm[ids].sum(axis=1, keepdims=True)  # the breed's whole support, not just the block
    share = np.divide(sub, totals, out=np.zeros(sub.shape, dtype=float), where=totals > 0)
    n = len(ids)
    side = min(28, max(5, 0.32 * n + 2.5))
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    font = 8 if n <= 25 else max(3, int(300 / n))
    labels = [names[i] for i in ids]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if sub[i, j]:
                    ax.text(j, i, str(sub[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted breed")
    ax.set_ylabel("given breed")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the given breed's photos")
    return _save(fig, path)


def reliability(curve: Sequence[dict], ece: float | None, path: Path) -> Path:
    """Accuracy against confidence per bin, the diagonal, and how many photos each bin holds."""
    fig, (ax, hx) = plt.subplots(2, 1, figsize=(6, 7), height_ratios=[3, 1], sharex=True)
    width = curve[0]["upper"] - curve[0]["lower"] if curve else 0.1
    centres = [(b["lower"] + b["upper"]) / 2 for b in curve]
    acc = [b["accuracy"] or 0 for b in curve]
    ax.bar(centres, acc, width=width * 0.95, color="#4c72b0", label="accuracy")
    gaps = [(c, b["confidence"], b["accuracy"]) for c, b in zip(centres, curve) if b["count"]]
    for c, conf, a in gaps:
        ax.bar(c, conf - a, bottom=a, width=width * 0.95, fill=False, edgecolor="#c44e52",
               hatch="//", linewidth=0.8)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ece_text = "n/a" if ece is None else f"{ece:.3f}"
    ax.set_title(f"Reliability diagram (ECE {ece_text}; hatched: gap to mean confidence)")
    ax.legend(loc="upper left")
    hx.bar(centres, [b["count"] for b in curve], width=width * 0.95, color="grey")
    hx.set_xlim(0, 1)
    hx.set_xlabel("top-1 confidence")
    hx.set_ylabel("photos")
    return _save(fig, path)


def thumbnail(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return ImageOps.fit(img.convert("RGB"), (THUMB, THUMB))


def photo_grid(cells: Sequence[tuple[Path | None, str]], path: Path, title: str, columns: int = 6,
               row_titles: Sequence[tuple[int, str]] = ()) -> Path:
    """A contact sheet: each cell a photo with a caption; `row_titles` (row, text) head rows."""
    rows = max(1, -(-len(cells) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 2.1, rows * 2.5 + 0.6),
                             squeeze=False)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.9 / (rows * 2.5 + 0.6),
                        wspace=0.05, hspace=0.45)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (photo, caption) in zip(axes.flat, cells):
        if photo is None:  # a blank cell ends a row early
            continue
        ax.imshow(thumbnail(photo))
        ax.set_title(caption, fontsize=7)
    for row, text in row_titles:
        axes[row, 0].annotate(text, (0, 1.25), xycoords="axes fraction", fontsize=9,
                              fontweight="bold", annotation_clip=False)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path, tight=False)


def recall_deltas(rows: Sequence[dict]) -> bytes:
    """PNG bytes: the change in recall per breed (B - A), beyond-noise breeds in full colour."""
    import io

    rows = [r for r in rows if r["recall_delta"] is not None]
    fig, ax = plt.subplots(figsize=(8, 1 + 0.28 * max(1, len(rows))))
    deltas = [r["recall_delta"] for r in rows]
    colours = [("#2e7d32" if d > 0 else "#c62828") if r.get("beyond_noise") else
               ("#a5d6a7" if d > 0 else "#ef9a9a") for r, d in zip(rows, deltas)]
    ax.barh(range(len(rows)), deltas, color=colours, edgecolor="none")
    ax.set_yticks(range(len(rows)), [r["breed"] + (" *" if r.get("beyond_noise") else "")
                                     for r in rows], fontsize=8 if len(rows) <= 40 else 6)
    ax.axvline(0, color="#444", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("change in recall, B - A  (* and full colour: beyond noise, McNemar, Holm-adjusted)")
    ax.set_title("Recall per breed: B against A")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def known_breed_scores(groups: dict[str, np.ndarray], threshold: float | None, path: Path) -> Path:
    """The known-breed score's distribution per group of photos (share of each group per bin, on a log
    axis), the evaluation's photos first, with the stored threshold as a vertical line."""
    low = 1e-4
    bins = np.logspace(np.log10(low), 0, 41)
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, scores in groups.items():
        if scores.size:
            ax.hist(np.clip(scores, low, 1), bins=bins, histtype="step", linewidth=1.6,
                    weights=np.full(scores.size, 1 / scores.size), label=f"{label} ({scores.size})")
    if threshold is not None:
        ax.axvline(threshold, color="k", linestyle="--", linewidth=1,
                   label=f"stored threshold {threshold:.4g}")
    ax.set_xscale("log")
    ax.set_xlim(low, 1)
    ax.set_xlabel(f"known-breed score (below {low:g} drawn at {low:g})")
    ax.set_ylabel("share of the group's photos")
    ax.set_title("Known-breed score: the model's breeds against unknown ones")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)
