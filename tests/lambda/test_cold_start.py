"""The handler's cold start: `import handler` leaves botocore for the first request, whose client is
then created once and reused."""
from __future__ import annotations

import base64
import json
import subprocess
import sys

from ops.core.config import PROJECT_ROOT


def test_importing_the_handler_does_not_import_botocore():
    code = "import sys; from predict_lambda import handler; print('botocore' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


def test_one_client_serves_every_request(lambda_code, api_settings, photos, monkeypatch):
    handler, _ = lambda_code
    created = []
    make_client = handler.endpoint.make_client

    def counting(settings):
        created.append(settings)
        return make_client(settings)

    monkeypatch.setattr(handler.endpoint, "make_client", counting)
    monkeypatch.setenv("ENDPOINT_NAME", api_settings.endpoint_name)
    monkeypatch.setenv("CLASS_NAMES", json.dumps(list(api_settings.class_names)))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", api_settings.endpoint_url)
    handler._predictor.cache_clear()
    try:
        images = [base64.b64encode(jpeg).decode() for _, jpeg in photos.values()]
        for _ in range(3):
            response = handler.handler({"body": json.dumps({"images": images}),
                                        "headers": {"content-type": "application/json"},
                                        "isBase64Encoded": False})
            assert response["statusCode"] == 200, response["body"]
            assert len(json.loads(response["body"])["predictions"]) == len(images)
    finally:
        handler._predictor.cache_clear()
    assert len(created) == 1
