"""The API's client: POST photos to /predict and read back ranked breeds (the original's test notebook).

One request per photo (raw JPEG/PNG body), so one bad photo is reported on its own line while the others
still get their answers. Works against the local API and a real API Gateway deployment alike.
"""
from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.errors import UserError

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


class ApiClientError(UserError, RuntimeError):
    """The API cannot be reached, or refuses the key."""


@dataclass
class PhotoResult:
    path: str
    status: int
    top: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    error: dict[str, str] | None = None
    is_known_breed: bool | None = None  # None: the model has no known-breed score
    known_breed_score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "model": self.model, "top": self.top,
                "is_known_breed": self.is_known_breed, "known_breed_score": self.known_breed_score,
                "error": self.error}


def predict_url(url: str) -> str:
    """Accept the stage URL (…/beta) or the full …/predict URL."""
    url = url.rstrip("/")
    return url if url.endswith("/predict") else url + "/predict"


def predict(url: str, api_key: str, photos: list[Path], top_k: int = 5,
            timeout: float = 60) -> list[PhotoResult]:
    import requests

    missing = [str(p) for p in photos if not Path(p).is_file()]
    if missing:
        raise ApiClientError(f"no such file: {', '.join(missing)}")
    results = []
    with requests.Session() as session:
        session.headers["x-api-key"] = api_key
        for photo in photos:
            photo = Path(photo)
            content_type = (CONTENT_TYPES.get(photo.suffix.lower())
                            or mimetypes.guess_type(photo.name)[0] or "application/octet-stream")
            try:
                response = session.post(predict_url(url), params={"top_k": top_k}, timeout=timeout,
                                        data=photo.read_bytes(), headers={"Content-Type": content_type})
            except requests.RequestException as exc:
                raise ApiClientError(f"cannot reach the API at {url}: {type(exc).__name__}; is it "
                                     "running (`invoke serve`)?") from None
            results.append(_result(photo, response))
    return results


def _result(photo: Path, response) -> PhotoResult:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 403:
        raise ApiClientError(f"the API refused the request ({body.get('message', 'Forbidden')}): "
                             "check --api-key and --url")
    if response.status_code == 200:
        prediction = body["predictions"][0]
        return PhotoResult(str(photo), 200, prediction["top"], body.get("model", ""),
                           is_known_breed=prediction.get("is_known_breed"),
                           known_breed_score=prediction.get("known_breed_score"))
    error = body.get("error") or {"code": "http_error",
                                  "message": body.get("message") or response.text[:200]}
    return PhotoResult(str(photo), response.status_code, error=error)


def resolve(url: str | None, api_key: str | None, target: str) -> tuple[str, str]:
    """The API URL and key: the flags, else $DOGS_API_URL / $DOGS_API_KEY, else the deployment's
    Terraform outputs (for `local`, the URL of the running `invoke serve`)."""
    import os

    url = url or os.environ.get("DOGS_API_URL")
    api_key = api_key or os.environ.get("DOGS_API_KEY")
    if url and api_key:
        return predict_url(url), api_key
    if target not in ("local", "aws"):
        raise ApiClientError(f"--target {target!r}: must be local or aws")
    from ops.deploy import terraform

    outputs = terraform.outputs(target)
    if not api_key:
        api_key = outputs.get("api_key_value")
        if not api_key:
            raise ApiClientError(f"no API key: give --api-key, or deploy first (`invoke deploy --target "
                                 f"{target}`)")
    if not url:
        if target == "local":
            from ops.emulator import serving

            served = serving.running()
            if served is None:
                raise ApiClientError("the local API is not running: start it with `invoke serve`")
            url = served.predict_url
        else:
            url = outputs.get("api_predict_url") or outputs.get("api_invoke_url")
            if not url:
                raise ApiClientError("no API URL: give --url, or `invoke deploy --target aws` first")
    return predict_url(url), api_key


def tables(results: list[PhotoResult]):
    """One rich table per photo: rank, breed, probability and a bar; errors as one red line."""
    from rich.table import Table
    from rich.text import Text

    for result in results:
        if result.error:
            yield Text(f"{result.path}: HTTP {result.status} {result.error['code']}: "
                       f"{result.error['message']}", style="red")
            continue
        table = Table(title="/".join(Path(result.path).parts[-2:]), title_justify="left",
                      caption=f"model {result.model}{known_breed_caption(result)}", caption_justify="left")
        table.add_column("#", justify="right")
        table.add_column("breed")
        table.add_column("probability", justify="right")
        table.add_column("")
        for rank, item in enumerate(result.top, 1):
            p = item["probability"]
            table.add_row(str(rank), item["breed"], f"{p:.1%}", "█" * round(p * 20),
                          style="bold" if rank == 1 else None)
        yield table


def known_breed_caption(result: PhotoResult) -> str:
    """`; one of its breeds (score 0.97)` / `; NOT one of its breeds (score 0.01)`, or nothing."""
    if result.is_known_breed is None:
        return ""
    verdict = "one of its breeds" if result.is_known_breed else "NOT one of its breeds"
    return f"; {verdict} (known-breed score {result.known_breed_score:.3f})"


def expand_photos(spec: str, extra: list[str] = ()) -> list[Path]:
    """Photos from a comma-separated list of files, folders (their JPEG/PNG files) and globs."""
    import glob

    photos: list[Path] = []
    for item in [s.strip() for s in spec.split(",") if s.strip()] + list(extra):
        path = Path(item).expanduser()
        if path.is_dir():
            photos += sorted(p for p in path.rglob("*") if p.suffix.lower() in CONTENT_TYPES)
        elif any(ch in item for ch in "*?["):
            photos += sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        else:
            photos.append(path)
    if not photos:
        raise ApiClientError(f"no photos in {spec!r}")
    return photos


def predict_photos(images: str, extra: list[str], url: str | None, api_key: str | None, target: str,
                   top_k: int = 5) -> list[PhotoResult]:
    """`invoke predict`: the photos named, sent to the API the options (or the deployment) name."""
    photos = expand_photos(images, extra)
    url, api_key = resolve(url, api_key, target)
    return predict(url, api_key, photos, top_k=top_k)


def print_results(results: list[PhotoResult], as_json: bool = False) -> None:
    """A table per photo, or JSON (one object per photo)."""
    if as_json:
        import json

        print(json.dumps([r.as_dict() for r in results], indent=2))
        return
    from rich.console import Console

    console = Console()
    for table in tables(results):
        console.print(table)
