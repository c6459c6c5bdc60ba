"""`invoke evaluate --compare A B`: how report B (say, a retrained model) differs from report A, per breed.

Breeds are matched by their folder name (so class maps in another order still line up); a breed in only
one report is listed with null deltas. Deltas are B - A. Where both folders hold predictions.csv, McNemar's
test on the paired predictions says which differences are beyond noise (ops/evaluate/paired.py); the
comparison is also written as compare.html (per-breed deltas as a chart, the tests beside them).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ops.evaluate import paired
from ops.evaluate.sources import EvaluationError
from training.files import write_text_atomic

FIELDS = ("precision", "recall", "f1")


def load_report(folder: str | Path) -> dict:
    path = Path(folder) / "metrics.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise EvaluationError(f"{folder}: no metrics.json (not a report folder of "
                              f"`invoke evaluate`)") from None
    except ValueError as exc:
        raise EvaluationError(f"{path}: not valid JSON ({exc})") from None


def _delta(a, b):
    return None if a is None or b is None else b - a


def compare(a_dir: str | Path, b_dir: str | Path) -> dict:
    a, b = load_report(a_dir), load_report(b_dir)
    rows_a = {r["folder"]: r for r in a["per_breed"]}
    rows_b = {r["folder"]: r for r in b["per_breed"]}
    breeds = []
    for folder in list(rows_a) + [f for f in rows_b if f not in rows_a]:
        ra, rb = rows_a.get(folder), rows_b.get(folder)
        row = {"folder": folder, "breed": (ra or rb)["breed"],
               "support_a": ra["support"] if ra else None, "support_b": rb["support"] if rb else None}
        for key in FIELDS:
            va, vb = (ra or {}).get(key), (rb or {}).get(key)
            row.update({f"{key}_a": va, f"{key}_b": vb, f"{key}_delta": _delta(va, vb)})
        breeds.append(row)
    tests = paired.paired_tests(a_dir, b_dir, {str(c["id"]): c["folder"] for c in a["classes"]})
    for row in breeds:
        test = (tests or {}).get("per_breed", {}).get(row["folder"])
        row["mcnemar_p_holm"] = test["p_holm"] if test else None
        row["beyond_noise"] = test["beyond_noise"] if test else None
    breeds.sort(key=lambda r: (r["recall_delta"] is None, r["recall_delta"] or 0, r["breed"]))
    headline = {}
    for name, get in (("top1", lambda r: r["top1"]["value"]), ("top5", lambda r: r["top5"]["value"]),
                      ("macro_f1", lambda r: r["averages"]["macro"]["f1"]),
                      ("weighted_f1", lambda r: r["averages"]["weighted"]["f1"]),
                      ("ece", lambda r: r["calibration"]["ece"])):
        headline[name] = {"a": get(a), "b": get(b), "delta": _delta(get(a), get(b))}
    return {"a": {"folder": str(a_dir), "model_id": a["model_id"], "lst": a["lst"]},
            "b": {"folder": str(b_dir), "model_id": b["model_id"], "lst": b["lst"]},
            "same_test_list": a["lst"] == b["lst"] and a["images"]["evaluated"]
            == b["images"]["evaluated"],
            "headline": headline, "per_breed": breeds, "paired_tests": tests}


def write_comparison(result: dict, out: str | Path) -> tuple[Path, Path, Path]:
    out = Path(out)
    json_path, csv_path = out / "compare.json", out / "compare.csv"
    write_text_atomic(json_path, json.dumps(result, indent=2, allow_nan=False) + "\n")
    buf = io.StringIO()
    fields = ["folder", "breed", "support_a", "support_b"] + [
        f"{k}_{s}" for k in FIELDS for s in ("a", "b", "delta")]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in result["per_breed"]:
        writer.writerow({k: "" if row[k] is None else row[k] for k in fields})
    write_text_atomic(csv_path, buf.getvalue())
    html_path = out / "compare.html"
    write_text_atomic(html_path, render_html(result))
    return json_path, csv_path, html_path


def render_html(result: dict) -> str:
    """compare.html: one self-contained page, the chart embedded."""
    import base64

    import jinja2

    from ops.evaluate import plots

    png = plots.recall_deltas(result["per_breed"])
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:+.1%}"
    env.filters["p"] = lambda v: "–" if v is None else f"{v:.3g}"
    return env.get_template("compare.html.j2").render(
        r=result, chart="data:image/png;base64," + base64.b64encode(png).decode("ascii"))


def _signed(v, pct=True) -> str:
    if v is None:
        return "–"
    text = f"{v:+.1%}" if pct else f"{v:+.3f}"
    colour = "green" if v > 0 else "red" if v < 0 else "white"
    return f"[{colour}]{text}[/{colour}]"


def print_comparison(result: dict, console: Console | None = None) -> None:
    console = console or Console()
    head = Table(title=f"B {result['b']['model_id']} vs A {result['a']['model_id']}")
    for col in ("metric", "A", "B", "B - A"):
        head.add_column(col, justify="left" if col == "metric" else "right")
    for name, h in result["headline"].items():
        fmt = (lambda v: "–" if v is None else f"{v:.3f}") if name == "ece" else \
            (lambda v: "–" if v is None else f"{v:.1%}")
        head.add_row(name, fmt(h["a"]), fmt(h["b"]), _signed(h["delta"], name != "ece"))
    console.print(head)
    if not result["same_test_list"]:
        console.print("[yellow]the two reports did not evaluate the same test list[/yellow]")
    per = Table(title="Per breed (by change in recall)")
    for col in ("breed", "recall A", "recall B", "Δ recall", "Δ precision", "Δ F1"):
        per.add_column(col, justify="left" if col == "breed" else "right")
    for r in result["per_breed"]:
        per.add_row(r["breed"], "–" if r["recall_a"] is None else f"{r['recall_a']:.1%}",
                    "–" if r["recall_b"] is None else f"{r['recall_b']:.1%}",
                    _signed(r["recall_delta"]), _signed(r["precision_delta"]),
                    _signed(r["f1_delta"], pct=False))
    console.print(per)


def compare_folders(folders: list[str], out: str | None = None) -> None:
    """`invoke evaluate.compare A B` (or `evaluate --compare A --compare B`): print and write the deltas."""
    if len(folders) != 2:
        raise EvaluationError("--compare takes two report folders: --compare A --compare B")
    result = compare(*folders)
    paths = write_comparison(result, out or folders[1])
    print_comparison(result)
    print("written: " + " ".join(str(p) for p in paths))
