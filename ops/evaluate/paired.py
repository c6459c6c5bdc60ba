"""Which differences between two reports are beyond noise: McNemar's exact test on the paired predictions.

Each report folder holds predictions.csv (one row per evaluated photo: its given and predicted class).
Photos evaluated by both reports (matched by content hash) are paired; per breed, and over all photos,
the pairs where only one model is right are counted — b (A right, B wrong) and c (A wrong, B right) — and
the two-sided exact binomial test of b against c (McNemar's test for small counts) gives the p-value.
Per-breed p-values are Holm-adjusted over the breeds tested, so "beyond noise" holds for the family.
"""
from __future__ import annotations

import csv
from pathlib import Path

from scipy.stats import binomtest

PREDICTIONS = "predictions.csv"
FIELDS = ("lst_index", "path", "sha256", "given", "predicted", "p_predicted")
ALPHA = 0.05


def read_predictions(folder: str | Path) -> dict[str, dict] | None:
    """{sha256: row} of a report folder's predictions.csv; None for a report written before it existed."""
    path = Path(folder) / PREDICTIONS
    if not path.is_file():
        return None
    with path.open(newline="") as fh:
        return {row["sha256"]: row for row in csv.DictReader(fh)}


def mcnemar(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs (1.0 when there are none)."""
    return 1.0 if b + c == 0 else float(binomtest(min(b, c), b + c, 0.5).pvalue)


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (step-down, kept monotone, at most 1)."""
    ranked = sorted(p_values.items(), key=lambda kv: kv[1])
    adjusted, running = {}, 0.0
    for rank, (key, p) in enumerate(ranked):
        running = max(running, min(1.0, (len(ranked) - rank) * p))
        adjusted[key] = running
    return adjusted


def paired_tests(a_dir: str | Path, b_dir: str | Path, folder_of: dict[str, str]) -> dict | None:
    """McNemar's test over all paired photos and per breed (keyed by breed folder); None when either
    report has no predictions.csv. `folder_of` maps a class id (as text) of report A to its folder."""
    a, b = read_predictions(a_dir), read_predictions(b_dir)
    if a is None or b is None:
        return None
    counts: dict[str, list[int]] = {}
    total = [0, 0, 0]  # pairs, b, c
    for sha, row_a in a.items():
        row_b = b.get(sha)
        if row_b is None:
            continue
        right_a, right_b = row_a["given"] == row_a["predicted"], row_b["given"] == row_b["predicted"]
        cell = counts.setdefault(folder_of.get(row_a["given"], row_a["given"]), [0, 0, 0])
        for tally in (cell, total):
            tally[0] += 1
            tally[1] += right_a and not right_b
            tally[2] += right_b and not right_a
    raw = {folder: mcnemar(n[1], n[2]) for folder, n in counts.items()}
    adjusted = holm(raw)
    per_breed = {folder: {"pairs": n[0], "a_only_right": n[1], "b_only_right": n[2],
                          "p_value": raw[folder], "p_holm": adjusted[folder],
                          "beyond_noise": adjusted[folder] < ALPHA}
                 for folder, n in counts.items()}
    p_all = mcnemar(total[1], total[2])
    return {"test": "McNemar (exact binomial), per breed Holm-adjusted", "alpha": ALPHA,
            "overall": {"pairs": total[0], "a_only_right": total[1], "b_only_right": total[2],
                        "p_value": p_all, "beyond_noise": p_all < ALPHA},
            "per_breed": per_breed}
