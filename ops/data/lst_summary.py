"""`invoke lst`, `invoke lst.info` and `invoke data.download`: their defaults, and console summaries."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from training.errors import UserError
from training.hyperparameters import image_shape
from training.lst import RenderResult
from training.lst_describe import LstInfo

MAX_BAD_ROWS = 20


def render(data: str | Path | None, out: str | Path | None, *, test_fraction: float | None,
           folds: int | None, min_size: tuple[int, int] | None, config_path: str | None = None,
           **options) -> RenderResult:
    """training.lst.render with the project's defaults: the photos `data.download` unpacked, out in
    .dogs/lst, a 0.2 test fraction unless --folds, photos at least the config's image_shape."""
    import ops.core.config as config
    import ops.core.state as state
    from training import lst

    if data is None:
        data = state.home() / "data" / "Images"
        if not data.is_dir():
            raise UserError("--data: give the images root (one folder per breed), or run "
                            "`invoke data.download` first")
    if folds is not None and test_fraction is not None:
        raise UserError("give --folds or --test-fraction, not both (each fold tests 1/K)")
    if min_size is None:
        _, height, width = image_shape(config.load(config_path).hyperparameters["image_shape"])
        min_size = (height, width)
    return lst.render(data, out or state.home() / "lst", folds=folds, min_size=min_size,
                      test_fraction=0.2 if test_fraction is None else test_fraction, **options)


def describe(files: str, classes_file: str | None = None, per_class: bool = False) -> None:
    """Print what `invoke lst.info` shows about LST files (comma-separated, or a folder)."""
    from training import lst_describe

    described = lst_describe.describe(lst_describe.expand_paths(files))
    names = lst_describe.class_names(classes_file) if classes_file else None
    print_info(described, names, per_class=per_class)


def print_download(result, checked: bool) -> None:
    """What `invoke data.download` fetched and unpacked, and the next command."""
    how = f"{result.fetched_bytes:,} bytes fetched" if result.fetched_bytes else "already there"
    if result.resumed_from:
        how += f", resumed from {result.resumed_from:,}"
    print(f"{result.archive} ({how}, {'checksum ok' if checked else 'checksum not checked'})")
    print(f"{result.images}: {len(result.breeds)} breeds, {result.photos:,} photos")
    print(f"next: invoke lst --data {result.images}")


def print_render(result: RenderResult, console: Console | None = None) -> None:
    console = console or Console()
    scan = result.scan
    table = Table(title=f"{scan.root} → {result.out_dir}", title_justify="left")
    table.add_column("id", justify="right")
    table.add_column("breed")
    table.add_column("folder", style="dim")
    first = result.splits[0]
    label = "" if first.fold is None else f" (fold {first.fold})"
    table.add_column(f"train{label}", justify="right")
    table.add_column(f"test{label}", justify="right")
    for c in result.classes:
        train, test = result.class_counts[c.id]
        table.add_row(str(c.id), c.name, c.folder, f"{train:,}", f"{test:,}")
    table.add_section()
    table.add_row("", "all", "", f"{first.train_count:,}", f"{first.test_count:,}")
    console.print(table)
    _print_bad(result, console)
    console.print(f"photos: {len(scan.good) + len(scan.bad):,} scanned, {len(scan.good):,} used, "
                  f"{len(scan.bad):,} left out; grayscale {scan.grayscale:,}, CMYK {scan.cmyk:,}, "
                  f"alpha {scan.alpha:,}" + (f"; {len(scan.ignored):,} other files ignored"
                                             if scan.ignored else ""))
    console.print(f"hyperparameters: num_classes={result.num_classes} "
                  f"num_training_samples={result.num_training_samples}")
    for split in result.splits:
        fold = "" if split.fold is None else f"fold {split.fold}: "
        console.print(f"wrote {fold}{split.train} ({split.train_count:,}), "
                      f"{split.test} ({split.test_count:,})")
    console.print(f"wrote {result.classes_path}, {result.report_path}")
    for path in result.removed:
        console.print(f"removed stale {path}", style="yellow")


def _print_bad(result: RenderResult, console: Console) -> None:
    bad = result.scan.bad
    if not bad:
        return
    table = Table(title=f"{len(bad)} bad photo(s), left out", title_justify="left",
                  title_style="bold yellow")
    table.add_column("photo")
    table.add_column("kind")
    table.add_column("reason")
    for photo in bad[:MAX_BAD_ROWS]:
        table.add_row(photo.path, photo.kind, photo.problem)
    if len(bad) > MAX_BAD_ROWS:
        table.add_row(f"... {len(bad) - MAX_BAD_ROWS} more in {result.report_path}", "", "")
    console.print(table)


def print_info(info: LstInfo, names: list[str] | None = None, per_class: bool = False,
               console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="LST files (min/mean/max: images per class)", title_justify="left")
    table.add_column("file", overflow="fold", min_width=16)
    for column in ("role", "samples", "classes", "min", "mean", "max", "indexes"):
        table.add_column(column, justify="left" if column == "role" else "right")
    for f in info.files:
        low, mean, high = f.per_class
        span = "-" if f.index_range is None else f"{f.index_range[0]}..{f.index_range[1]}"
        table.add_row(f.path.name, f.role, f"{f.samples:,}", str(f.num_classes), str(low),
                      f"{mean:.1f}", str(high), span)
    console.print(table)
    if names is not None and len(names) != info.num_classes:
        console.print(f"the classes file names {len(names)} classes; the LST files have "
                      f"{info.num_classes}", style="yellow")
    if names is not None or per_class:
        _print_per_class(info, names, console)
    for f in info.files:
        if f.duplicate_indexes or f.duplicate_paths:
            console.print(f"{f.path}: {f.duplicate_indexes} repeated indexes, "
                          f"{f.duplicate_paths} repeated paths", style="yellow")
    if len(info.files) > 1:
        style = "yellow" if info.shared_paths else None
        console.print(f"images listed in more than one file: {info.shared_paths:,}", style=style)
    console.print(f"hyperparameters: num_classes={info.num_classes} "
                  f"num_training_samples={info.num_training_samples}")


def _print_per_class(info: LstInfo, names: list[str] | None, console: Console) -> None:
    table = Table(title="images per class", title_justify="left")
    table.add_column("id", justify="right")
    table.add_column("breed")
    roles = [f.role for f in info.files]
    for f in info.files:
        unique = roles.count(f.role) == 1 and f.role != "?"
        table.add_column(f.role if unique else f.path.name, justify="right", overflow="fold")
    for class_id in range(info.num_classes):
        name = names[class_id] if names and class_id < len(names) else ""
        table.add_row(str(class_id), name, *(f"{f.class_counts.get(class_id, 0):,}"
                                             for f in info.files))
    console.print(table)
