"""Upload a local folder (photos, LST files, source code) to S3, skipping what is already there.

An object counts as already there when its size matches and either its ETag equals the ETag S3 computes
for our upload of the local file (the MD5 for a single-part upload; the MD5 of the part MD5s plus
`-<parts>` for a multipart one, with the same part size boto3 uses), or — when the ETag is not an MD5,
e.g. under SSE-KMS — the `sha256` we store in every object's metadata equals the local file's. So a
second run over unchanged files uploads nothing, and a changed file of the same size is still uploaded.
Nothing is deleted in S3 (this is an upload-only sync).
"""
from __future__ import annotations

import hashlib
import mimetypes
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from boto3.s3.transfer import TransferConfig
from s3transfer.utils import ChunksizeAdjuster
from tqdm import tqdm

from ops.core.aws_clients import AwsError, aws_errors

MiB = 1024 * 1024
DEFAULT_TRANSFER = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB,
                                  use_threads=False)  # our pool parallelises across files
SHA256_KEY = "sha256"  # object metadata key (x-amz-meta-sha256)


@dataclass(frozen=True)
class SyncResult:
    uploaded: int
    skipped: int
    bytes: int  # bytes uploaded

    def __add__(self, other: "SyncResult") -> "SyncResult":
        return SyncResult(self.uploaded + other.uploaded, self.skipped + other.skipped,
                          self.bytes + other.bytes)


def sync_to_s3(local_dir: str | Path, bucket: str, prefix: str, *, client, workers: int = 16,
               progress: bool = True, transfer: TransferConfig = DEFAULT_TRANSFER) -> SyncResult:
    """Upload every file under `local_dir` to `s3://bucket/prefix<relative path>`.

    Hidden files and folders (`.DS_Store`, `.git`) are left out.
    """
    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise AwsError(f"{local_dir}: no such folder to upload")
    files = {prefix + path.relative_to(local_dir).as_posix(): path
             for path in sorted(_visible_files(local_dir))}
    return upload_files(files, bucket, client=client, workers=workers, progress=progress,
                        transfer=transfer, label=f"s3://{bucket}/{prefix}")


def upload_files(files: Mapping[str, Path], bucket: str, *, client, workers: int = 16,
                 progress: bool = True, transfer: TransferConfig = DEFAULT_TRANSFER,
                 label: str | None = None) -> SyncResult:
    """Upload `{key: local path}` in parallel, skipping objects that already hold that content."""
    if not files:
        return SyncResult(0, 0, 0)
    common = os.path.commonprefix(list(files))
    remote = _list_objects(client, bucket, common[: common.rfind("/") + 1])
    uploaded = skipped = sent = 0
    bar = tqdm(total=len(files), unit="file", desc=label or f"s3://{bucket}", disable=not progress)
    with bar, ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_sync_one, client, bucket, key, path, remote.get(key), transfer)
                   for key, path in files.items()]
        for future in as_completed(futures):
            size = future.result()
            if size is None:
                skipped += 1
            else:
                uploaded, sent = uploaded + 1, sent + size
            bar.update(1)
            bar.set_postfix(uploaded=uploaded, skipped=skipped, refresh=False)
    return SyncResult(uploaded, skipped, sent)


def s3_etag(path: Path, transfer: TransferConfig = DEFAULT_TRANSFER) -> str:
    """The ETag S3 gives an unencrypted/SSE-S3 object uploaded from `path` with `transfer`."""
    size = path.stat().st_size
    if size < transfer.multipart_threshold:
        return _digest(path, hashlib.md5).hexdigest()
    part = ChunksizeAdjuster().adjust_chunksize(transfer.multipart_chunksize, size)
    parts = []
    with path.open("rb") as fh:
        while chunk := fh.read(part):
            parts.append(hashlib.md5(chunk).digest())
    return f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"


def sha256_of(path: Path) -> str:
    return _digest(path, hashlib.sha256).hexdigest()


def _sync_one(client, bucket: str, key: str, path: Path, remote: dict | None,
              transfer: TransferConfig) -> int | None:
    """Upload one file unless S3 already holds it; the uploaded byte count, or None if skipped."""
    size = path.stat().st_size
    digest = None
    if remote is not None and remote["Size"] == size:
        if remote["ETag"].strip('"') == s3_etag(path, transfer):
            return None
        digest = sha256_of(path)
        with aws_errors(f"reading s3://{bucket}/{key}"):
            metadata = client.head_object(Bucket=bucket, Key=key).get("Metadata", {})
        if metadata.get(SHA256_KEY) == digest:
            return None
    extra = {"Metadata": {SHA256_KEY: digest or sha256_of(path)}}
    content_type = mimetypes.guess_type(path.name)[0]
    if content_type:
        extra["ContentType"] = content_type
    with aws_errors(f"uploading {path} to s3://{bucket}/{key}"):
        client.upload_file(str(path), bucket, key, ExtraArgs=extra, Config=transfer)
    return size


def _list_objects(client, bucket: str, prefix: str) -> dict[str, dict]:
    objects = {}
    with aws_errors(f"listing s3://{bucket}/{prefix}"):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                objects[item["Key"]] = item
    return objects


def _visible_files(root: Path):
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if not name.startswith("."):
                path = Path(folder) / name
                if path.is_file():
                    yield path


def _digest(path: Path, algorithm):
    digest = algorithm()
    with path.open("rb") as fh:
        while chunk := fh.read(MiB):
            digest.update(chunk)
    return digest
