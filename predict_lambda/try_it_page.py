"""GET /: the try-it page (try_it/index.html, one self-contained file), served from the API's own origin so
that it calls POST /predict without CORS. Read on the first GET, not at import: predictions never pay."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

PAGE = Path(__file__).parent / "try_it" / "index.html"
HEADERS = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY"}


@functools.lru_cache(maxsize=1)
def _html() -> str:
    return PAGE.read_text(encoding="utf-8")


def response() -> dict[str, Any]:
    return {"statusCode": 200, "isBase64Encoded": False, "headers": dict(HEADERS), "body": _html()}
