"""What `invoke evaluate` prints: the headline table, the worst breeds and the skipped photos (rich)."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _pct(v) -> str:
    return "–" if v is None else f"{v:.1%}"


def _ci(acc: dict) -> str:
    lo, hi = acc["ci95"]
    return "–" if lo is None else f"{lo:.1%} – {hi:.1%}"


def _rate(r: dict) -> str:
    return f"{_pct(r['value'])} ({r['count']}/{r['total']})"


def known_breed_table(section: dict) -> Table:
    """The evaluation's photos accepted, and per unknown-breed folder the AUROC and the photos rejected,
    at the stored threshold."""
    threshold = section["threshold"]
    table = Table(title="Known breed or not, at the " + (
        f"stored threshold {threshold:.4g}" if threshold is not None else "model's stored threshold"))
    for col in ("photos", "AUROC", "at the threshold", "95% CI"):
        table.add_column(col, justify="left" if col == "photos" else "right",
                         overflow="fold" if col == "photos" else "ellipsis")
    accepted = section["known"]["accepted"]
    table.add_row("evaluation photos (known breeds)", "–", _rate(accepted) + " accepted", _ci(accepted))
    for u in section["unknown"]:
        auroc = "–" if u["auroc"] is None else f"{u['auroc']:.3f}"
        skipped = f" ({len(u['skipped'])} skipped)" if u["skipped"] else ""
        table.add_row(u["folder"] + skipped, auroc, _rate(u["rejected"]) + " rejected", _ci(u["rejected"]))
    return table


def print_report(report: dict, out, console: Console | None = None) -> None:
    console = console or Console()
    images = report["images"]
    head = Table(title=f"Evaluation of {report['model_id']} via {report['via']}")
    head.add_column("metric")
    head.add_column("value", justify="right")
    head.add_column("95% CI", justify="right")
    head.add_row("photos evaluated", f"{images['evaluated']} of {images['listed']}",
                 f"{images['from_cache']} from cache")
    head.add_row("top-1 accuracy", _pct(report["top1"]["value"]), _ci(report["top1"]))
    head.add_row(f"top-{report['top5']['k']} accuracy", _pct(report["top5"]["value"]),
                 _ci(report["top5"]))
    for kind in ("macro", "weighted"):
        a = report["averages"][kind]
        head.add_row(f"{kind} precision / recall / F1",
                     f"{_pct(a['precision'])} / {_pct(a['recall'])} / {_pct(a['f1'])}", "")
    ece = report["calibration"]["ece"]
    head.add_row("expected calibration error", "–" if ece is None else f"{ece:.3f}", "")
    head.add_row("suspected label errors", str(len(report["suspected_label_errors"]["items"])), "")
    console.print(head)
    worst = Table(title="Worst breeds")
    for col in ("breed", "recall", "photos", "taken for"):
        worst.add_column(col, justify="left" if col in ("breed", "taken for") else "right")
    for w in report["worst"]:
        worst.add_row(w["breed"], _pct(w["recall"]), str(w["support"]),
                      ", ".join(f"{x['breed']} ({x['count']})" for x in w["confused_with"]))
    console.print(worst)
    if report.get("known_breed"):
        console.print(known_breed_table(report["known_breed"]))
    if images["skipped"]:
        console.print(f"[yellow]{images['skipped_count']} photo(s) not evaluated:[/yellow]")
        for s in images["skipped"][:20]:
            console.print(f"  {s['path']}: {s['reason']}", markup=False)
        if images["skipped_count"] > 20:
            console.print(f"  ... and {images['skipped_count'] - 20} more (metrics.json)")
    console.print(f"report: {out}/report.html", markup=False)
