"""Download Stanford Dogs (the images tar from its official site) and unpack it to the images layout.

`download()` fetches the archive with resume (an HTTP Range request continues a `.part` file left by a
cut connection, within one call or the next), verifies its checksum, and only then renames it into place,
so a half-downloaded or corrupt archive never sits under the final name. `extract()` unpacks
`Images/<breed>/<file>` members into `<dest>/Images` (optionally only the first N breeds), writing only
regular files to paths it builds itself from checked name parts: an archive with an absolute or `..`
member name is refused as a whole.

The checksum: the official site publishes none. The MD5 below is the one that several independent
public loaders of this archive pin (torchvision-style Stanford Dogs datasets); override it with
`checksum=` / `--checksum` (`md5:<hex>` or `sha256:<hex>`) for a mirror, or `none` to skip the check.
"""
from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import requests
from tqdm import tqdm

from training.errors import UserError
from training.files import sync_file, sync_folder

DEFAULT_URL = "http://vision.stanford.edu/aditya86/ImageNetDogs/images.tar"
DEFAULT_CHECKSUM = "md5:1bb1f2a596ae7057f99d7d75860002ef"
IMAGES = "Images"
CHUNK = 1 << 20
# Stanford Dogs' images.tar: 20,580 photos in 120 folders, 757 MB. Far beyond these is not a photo set
# but a tar bomb, refused before anything is written.
MAX_MEMBERS = 100_000
MAX_UNPACKED_BYTES = 4 * 2**30


class DownloadError(UserError, RuntimeError):
    """The download or the archive failed: unreachable, interrupted, wrong checksum or unsafe."""


@dataclass(frozen=True)
class DownloadResult:
    archive: Path
    images: Path  # <dest>/Images: pass it to `invoke lst --data`
    breeds: list[str]
    photos: int
    fetched_bytes: int  # bytes transferred by this call (0 when the archive was already there)
    resumed_from: int  # bytes of an earlier partial download this call continued from


def parse_checksum(text: str | None) -> tuple[str, str] | None:
    """`md5:<hex>`, `sha256:<hex>` or bare hex (algorithm from its length); `none`/empty: no check."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    algo, sep, digest = text.strip().partition(":")
    if not sep:
        algo, digest = {32: "md5", 40: "sha1", 64: "sha256"}.get(len(text.strip()), "?"), text.strip()
    algo, digest = algo.lower(), digest.lower()
    if algo not in ("md5", "sha1", "sha256") or not digest or \
            any(ch not in "0123456789abcdef" for ch in digest) or \
            len(digest) != hashlib.new(algo).digest_size * 2:
        raise DownloadError(f"checksum: {text!r} is not allowed; allowed: md5:<32 hex>, "
                            f"sha256:<64 hex>, or none")
    return algo, digest


def download(dest: str | Path, *, url: str = DEFAULT_URL, checksum: str | None = DEFAULT_CHECKSUM,
             breeds: int | None = None, retries: int = 3, timeout: float = 60.0,
             backoff: float = 1.0, progress: bool | None = None) -> DownloadResult:
    """Fetch the archive into `dest` (resuming a partial one) and unpack it into `dest/Images`."""
    expected = parse_checksum(checksum)
    dest = Path(dest)
    name = PurePosixPath(urlparse(url).path).name or "images.tar"
    archive = dest / name
    fetched, resumed = fetch(url, archive, expected=expected, retries=retries, timeout=timeout,
                             backoff=backoff, progress=progress)
    images, kept, count = extract(archive, dest, breeds=breeds, progress=progress)
    return DownloadResult(archive=archive, images=images, breeds=kept, photos=count,
                          fetched_bytes=fetched, resumed_from=resumed)


def fetch(url: str, archive: Path, *, expected: tuple[str, str] | None, retries: int = 3,
          timeout: float = 60.0, backoff: float = 1.0,
          progress: bool | None = None) -> tuple[int, int]:
    """Download `url` to `archive` via `<archive>.part`; returns (bytes fetched, resumed from)."""
    if archive.exists():
        _verify(archive, expected, url, remove=False)
        return 0, 0
    archive.parent.mkdir(parents=True, exist_ok=True)
    part = archive.with_name(archive.name + ".part")
    resumed_from = part.stat().st_size if part.exists() else 0
    fetched = 0
    with requests.Session() as session:
        for attempt in range(retries + 1):
            try:
                fetched += _fetch_once(session, url, part, timeout, progress)
                break
            except _Interrupted as exc:
                if attempt == retries:
                    raise DownloadError(f"{url}: download interrupted ({exc}); {part} keeps "
                                        f"{_size(part)} bytes: run the command again to resume") \
                        from None
                time.sleep(backoff * (attempt + 1))
    _verify(part, expected, url, remove=True)
    sync_file(part)  # the rename of `replacing` (training/files.py), for a file written across runs
    part.replace(archive)
    sync_folder(archive.parent)
    return fetched, resumed_from


class _Interrupted(Exception):
    """A transfer that stopped early; resuming may finish it."""


def _fetch_once(session: requests.Session, url: str, part: Path, timeout: float,
                progress: bool | None) -> int:
    offset = _size(part)
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = session.get(url, stream=True, headers=headers, timeout=timeout)
    except requests.ConnectionError as exc:
        raise _Interrupted(f"cannot connect: {_short(exc)}") from None
    except requests.Timeout:
        raise _Interrupted(f"no answer in {timeout:g} s") from None
    with response:
        if response.status_code == 416 and offset:
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            if total.isdigit() and int(total) == offset:
                return 0  # the partial file was complete already
            part.unlink()  # bigger than the remote file: not a prefix of it
            raise _Interrupted("the partial download does not match the remote file; restarting")
        if response.status_code == 206 and not _starts_at(response, offset):
            raise DownloadError(f"{url}: the server answered a resume request with the wrong range "
                                f"({response.headers.get('Content-Range')!r})")
        if response.status_code not in (200, 206):
            raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason}")
        if response.status_code == 200:
            offset = 0  # the server ignored the Range header: start over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        written = 0
        with open(part, "ab" if offset else "wb") as fh, \
                tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                     desc=f"downloading {part.name[:-5]}",
                     disable=None if progress is None else not progress) as bar:
            try:
                for chunk in response.iter_content(CHUNK):
                    fh.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    requests.Timeout) as exc:
                raise _Interrupted(f"connection lost after {offset + written} bytes: "
                                   f"{_short(exc)}") from None
        if total is not None and offset + written != total:
            raise _Interrupted(f"got {offset + written} of {total} bytes")
        return written


def _starts_at(response: requests.Response, offset: int) -> bool:
    content_range = response.headers.get("Content-Range", "")  # "bytes 100-999/1000"
    start = content_range.removeprefix("bytes ").partition("-")[0]
    return start.isdigit() and int(start) == offset


def _verify(path: Path, expected: tuple[str, str] | None, url: str, *, remove: bool) -> None:
    if expected is None:
        return
    algo, want = expected
    digest = hashlib.new(algo)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    got = digest.hexdigest()
    if got == want:
        return
    if remove:
        path.unlink()
        raise DownloadError(f"{url}: checksum mismatch ({algo} {got}, expected {want}); the "
                            f"download was removed: check --url and --checksum")
    raise DownloadError(f"{path}: checksum mismatch ({algo} {got}, expected {want}); delete it to "
                        f"download again, or pass the right --checksum")


def extract(archive: str | Path, dest: str | Path, *, breeds: int | None = None,
            progress: bool | None = None) -> tuple[Path, list[str], int]:
    """Unpack `<top>/<breed>/<file>` members to `<dest>/Images/<breed>/<file>`, replacing an earlier
    `Images` only once the new one is complete; returns (images folder, breeds, photos)."""
    archive, dest = Path(archive), Path(dest)
    try:
        with tarfile.open(archive) as tar:
            members = _bounded_members(tar, archive)
            photos = _photo_members(members, archive)
            names = sorted({breed for breed, _, _ in photos})
            if breeds is not None:
                if isinstance(breeds, bool) or not 1 <= breeds <= len(names):
                    raise DownloadError(f"breeds: {breeds!r} is out of range; allowed: 1..{len(names)}"
                                        f" (the breeds in {archive.name})")
                names = names[:breeds]
            keep = set(names)
            chosen = [(b, f, m) for b, f, m in photos if b in keep]
            dest.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=dest, prefix=f".{IMAGES}.partial-"))
            staging.chmod(0o755)  # mkdtemp makes 0700; the photos are meant to be shared
            try:
                for breed, filename, member in tqdm(chosen, desc="extracting", unit="photo",
                                                    disable=None if progress is None
                                                    else not progress):
                    (staging / breed).mkdir(exist_ok=True)
                    source = tar.extractfile(member)
                    with source, open(staging / breed / filename, "wb") as out:
                        shutil.copyfileobj(source, out, CHUNK)
                images = _swap_in(staging, dest / IMAGES)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    except (tarfile.TarError, EOFError) as exc:
        raise DownloadError(f"{archive}: not a readable tar archive ({exc})") from None
    return images, names, len(chosen)


def _bounded_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    """The archive's members, read header by header and refused at the first one over a cap."""
    members, size = [], 0
    for member in tar:
        members.append(member)
        size += max(member.size, 0) if member.isfile() else 0
        if len(members) > MAX_MEMBERS:
            raise DownloadError(f"{archive}: more than {MAX_MEMBERS} members; not a photo archive")
        if size > MAX_UNPACKED_BYTES:
            raise DownloadError(f"{archive}: more than {MAX_UNPACKED_BYTES / 2**30:.0f} GiB unpacked; "
                                "not a photo archive")
    return members


def _photo_members(members: list[tarfile.TarInfo],
                   archive: Path) -> list[tuple[str, str, tarfile.TarInfo]]:
    """(breed, file, member) of every regular file two levels down; refuses unsafe names."""
    photos = []
    for member in members:
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or "\0" in member.name:
            raise DownloadError(f"{archive}: unsafe archive: member {member.name!r} would be written "
                                f"outside the destination; refusing to extract it")
        parts = [p for p in path.parts if p != "."]
        if member.isfile() and len(parts) == 3 and not parts[2].startswith("."):
            photos.append((parts[1], parts[2], member))
    if not photos:
        raise DownloadError(f"{archive}: no <top>/<breed>/<file> photos in the archive")
    return sorted(photos, key=lambda p: (p[0], p[1]))


def _swap_in(staging: Path, target: Path) -> Path:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{staging.name.rsplit('-', 1)[-1]}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old)
    return target


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]
