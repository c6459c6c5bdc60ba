"""What a SageMaker training job reads, and putting it in S3: the photos the LST files list, the LST
files and class map, and `training/` as a reproducible sourcedir archive (--algorithm pytorch)."""
from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Mapping

from ops.core import config as config_mod
from ops.train import s3sync
from ops.core.aws_clients import s3_client
from training import classmap, lst
from training.errors import UserError

SOURCE_ROOT = config_mod.PROJECT_ROOT  # the folder holding the `training/` package
ENTRY_POINT = "training/train.py"      # relative to SOURCE_ROOT, as SageMaker runs it


def check_photos(data_dir: Path, entries: list[lst.LstEntry]) -> dict[str, Path]:
    """The photos the LST files list, {relative path: file}; a missing one is an error."""
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: no such photo folder (--data)")
    photos = {e.path: data_dir / e.path for e in entries}
    missing = [p for p, file in photos.items() if not file.is_file()]
    if missing:
        raise UserError(f"{data_dir}: {len(missing)} photos listed in the LST files are missing, "
                        f"e.g. {missing[0]}; is --data the folder the LST files were made from?")
    return photos


def count_classes(lst_dir: Path, entries: list[lst.LstEntry]) -> int:
    if (lst_dir / classmap.FILENAME).exists():
        return len(classmap.load(lst_dir))
    return max(e.class_id for e in entries) + 1


def data_uploads(plan, photos: Mapping[str, Path], lst_dir: Path, split: str,
                 train_lst: Path, test_lst: Path) -> list[tuple[str, dict[str, Path]]]:
    """What goes where: (description, {S3 key: local file}); only the photos the LSTs list."""
    lists = {}
    for channel, lst_file in (("train_lst", train_lst), ("validation_lst", test_lst)):
        folder = f"{plan.prefix}{channel}/{split}/"
        lists[folder + lst_file.name] = lst_file
        if (lst_dir / classmap.FILENAME).exists():
            lists[folder + classmap.FILENAME] = lst_dir / classmap.FILENAME
    return [("photos", {f"{plan.prefix}images/{path}": file for path, file in photos.items()}),
            ("LST files", lists)]


def source_archive(root: Path | None = None) -> bytes:
    """`training/` as a reproducible sourcedir.tar.gz (same files, same bytes: uploaded once)."""
    root = Path(root or SOURCE_ROOT)
    if not (root / ENTRY_POINT).is_file():
        raise UserError(f"{root / ENTRY_POINT}: the training entry point is missing")
    files = sorted(p for p in (root / "training").rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in files:
                _add_file(tar, path, path.relative_to(root).as_posix())
            requirements = root / "training" / "requirements.txt"
            if requirements.exists():  # the container pip-installs a top-level requirements.txt
                _add_file(tar, requirements, "requirements.txt")
    return buffer.getvalue()


def _add_file(tar: tarfile.TarFile, path: Path, name: str) -> None:
    data = path.read_bytes()
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def upload_inputs(plan, session, *, echo: Callable[[str], None] = print) -> None:
    """Sync every planned upload to S3 (unchanged objects are skipped)."""
    s3 = s3_client(session)
    with tempfile.TemporaryDirectory() as tmp:
        uploads = list(plan.uploads)
        if plan.source:
            key, archive = plan.source
            path = Path(tmp) / Path(key).name
            path.write_bytes(archive)
            uploads.append(("source", {key: path}))
        for what, files in uploads:
            where = os.path.commonprefix(list(files))
            where = where[: where.rfind("/") + 1]
            result = s3sync.upload_files(files, plan.bucket, client=s3, progress=len(files) > 10,
                                         label=f"{what} -> s3://{plan.bucket}/{where}")
            echo(f"{what}: {result.uploaded} uploaded ({result.bytes / 1e6:.1f} MB), "
                 f"{result.skipped} already there -> s3://{plan.bucket}/{where}")
