"""`?format=original` over HTTP through the local API: the body is the original's bare list of
per-image probability lists, and it matches api/openapi.yaml."""
from __future__ import annotations

import pytest

from tests.ops.test_local_api import b64, check_against_openapi, post


def test_the_http_body_is_the_bare_list(local_api, photos, api_settings):
    jpegs = [jpeg for _, jpeg in photos.values()][:3]
    response = post(local_api, params={"format": "original"}, json=[b64(j) for j in jpegs])
    assert response.status_code == 200, response.text
    body = check_against_openapi(response)
    assert [len(p) for p in body] == [len(api_settings.class_names)] * 3
    labelled = check_against_openapi(post(local_api, json={"images": [b64(j) for j in jpegs],
                                                            "raw": True}))
    for probs, prediction in zip(body, labelled["predictions"]):
        assert probs == pytest.approx(prediction["probabilities"])


def test_the_spec_tells_the_two_answers_apart(local_api, photos):
    _, jpeg = next(iter(photos.values()))
    body = check_against_openapi(post(local_api, params={"format": "original"}, json=b64(jpeg)))
    assert isinstance(body, list) and isinstance(body[0], list)
