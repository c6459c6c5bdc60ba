"""Build the Lambda's deployment zip from the `predict_lambda` package, byte-for-byte the same for the same sources.

Only the AWS provider is available offline (no `archive_file`), so the zip is built here and Terraform
gets its path and hash: fixed timestamps and permissions, sorted entries, no caches. The same sources
give the same `source_code_hash`, so a plan shows a Lambda change only when the code changed.
"""
from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ops.core.config import PROJECT_ROOT
from training.errors import UserError
from training.files import replacing

PACKAGE = "predict_lambda"  # the zip holds the package: the handler is predict_lambda.handler.handler
SOURCE = PROJECT_ROOT / PACKAGE
EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


class LambdaPackageError(UserError):
    """The Lambda source folder is missing or has no handler."""


@dataclass(frozen=True)
class LambdaPackage:
    path: Path
    sha256_b64: str  # what aws_lambda_function.source_code_hash expects

    def as_tfvar(self) -> dict[str, str]:
        return {"path": str(self.path), "sha256_b64": self.sha256_b64}


def source_files(source: Path) -> list[Path]:
    """The files that go into the zip, sorted by their path inside it."""
    files = []
    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS and not d.startswith("."))
        files += [Path(root) / n for n in names
                  if not n.endswith(EXCLUDED_SUFFIXES) and not n.startswith(".")]
    return sorted(files, key=lambda p: p.relative_to(source).as_posix())


def build(out_dir: Path, source: Path = SOURCE, handler_file: str = "handler.py") -> LambdaPackage:
    """Zip `source` into `out_dir/lambda.zip` (atomically) and return its path and hash."""
    if not (source / handler_file).is_file():
        raise LambdaPackageError(f"{source}: no {handler_file}; the Lambda needs its handler")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "lambda.zip"
    with replacing(target) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for path in source_files(source):
                info = zipfile.ZipInfo(f"{PACKAGE}/{path.relative_to(source).as_posix()}", date_time=EPOCH)
                info.external_attr = 0o100644 << 16  # regular file, rw-r--r--
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # unix, whatever builds it
                zf.writestr(info, path.read_bytes())
    digest = hashlib.sha256(target.read_bytes()).digest()
    return LambdaPackage(target, base64.b64encode(digest).decode("ascii"))
