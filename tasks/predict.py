"""The API's client: `invoke predict PHOTOS` (ranked breeds per photo)."""
from __future__ import annotations

import shlex

from invoke import Exit

from tasks import options
from tasks.program import PHOTOS_REFUSED
from tasks.command import command


@command(parse={"top": options.COUNT, "target": options.TARGET}, help={
    "images": "photos: comma-separated files, folders or globs (more after a bare --)",
    "url": "the API's stage or /predict URL (default: $DOGS_API_URL, else the deployment's)",
    "api-key": "the API key (default: $DOGS_API_KEY, else the deployment's Terraform output)",
    "top": "breeds to show per photo (default 5)",
    "json": "print JSON (one object per photo) instead of tables",
    "target": "which deployment supplies the defaults (local: `invoke serve`)",
})
def predict(c, images, url=None, api_key=None, top=5, json=False, target="local"):
    """Ask the API for the breeds of dog photos: a ranked table per photo."""
    import ops.client.predict_client as predict_client

    results = predict_client.predict_photos(images, shlex.split(c.remainder or ""), url, api_key, target,
                                            top_k=top)
    predict_client.print_results(results, as_json=json)
    if any(r.error for r in results):
        raise Exit(code=PHOTOS_REFUSED)  # each refusal is in the table (or the JSON) already
