"""The try-it page's rendering of fields other helpers add (issue 15's is_known_breed/known_breed_score) and
of a batch of photos, in headless Chromium. The page is the real one, served by the local API; behind it a
handler answering a fixed prediction, since the tiny model has no known-breed head yet (the end-to-end
page tests against the deployed stack are in test_app_developer_stack.py)."""
from __future__ import annotations

import json

import pytest

from ops.emulator import local_api as gateway
from tests.fixtures.api import ThreadServer

ANSWER = {"model": "fixed-model", "predictions": [{
    "top": [{"breed": "beagle", "class_id": 2, "probability": 0.41},
            {"breed": "English foxhound", "class_id": 1, "probability": 0.30}],
    "is_known_breed": False, "known_breed_score": 0.12}]}


@pytest.fixture(scope="module")
def served(lambda_code):
    from predict_lambda import try_it_page

    seen = []

    def handler(event, context):
        if event["httpMethod"] == "GET":
            return try_it_page.response()
        seen.append(json.loads(event["body"]))
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps(ANSWER)}

    gw = gateway.Gateway(api_key="k", routes=(gateway.PREDICT_ROUTE, gateway.PAGE_ROUTE))
    server = ThreadServer(gateway.create_app(handler, gw))
    yield server.url, seen
    server.close()


def test_not_one_of_my_breeds_and_its_score(served, browser, photos, tmp_path):
    url, seen = served
    paths = []
    for name, (_, jpeg) in list(photos.items())[:2]:
        paths.append(tmp_path / f"{name}.jpg")
        paths[-1].write_bytes(jpeg)
    browser.open(url + "/")
    browser.type_into("#api-key", "k")
    browser.set_files("#photos", paths)
    for path in paths:
        selector = json.dumps(f'.result[data-file="{path.name}"]')
        browser.wait_for(f"document.querySelector({selector})?.dataset.state === 'done'")
        text = browser.evaluate(f"document.querySelector({selector}).innerText")
        assert "not one of my breeds (known-breed score 0.12)" in text
        assert "model fixed-model" in text and "41.0 %" in text
    browser.screenshot("try-it-page-unknown-breed")
    assert len(seen) == 2 and all(set(body) == {"image", "top_k"} for body in seen)
    assert browser.evaluate("sessionStorage.getItem('dogs-api-key')") == "k"
