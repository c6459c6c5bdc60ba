"""POST photos to the dog-breed API with `requests` and print each one's top breeds.

    DOGS_API_URL=https://<api>.execute-api.<region>.amazonaws.com/beta/predict DOGS_API_KEY=... \
        python examples/predict_requests.py photo1.jpg [photo2.jpg ...]
"""
import base64
import os
import sys

import requests


def predict(paths, url, key, top_k=3):
    """The API's answer for these photos: {"predictions": [{"top": [...]}, ...], "model": ...}."""
    images = [base64.b64encode(open(path, "rb").read()).decode("ascii") for path in paths]
    response = requests.post(url, json={"images": images, "top_k": top_k},
                             headers={"x-api-key": key}, timeout=60)
    if not response.ok:  # the API says what was wrong: {"error": {"code", "message"}} or {"message"}
        body = response.json()
        message = body.get("error", {}).get("message") or body.get("message")
        sys.exit(f"HTTP {response.status_code}: {message}")
    return response.json()


def main():
    paths = sys.argv[1:]
    if not paths:
        sys.exit("usage: predict_requests.py PHOTO [PHOTO ...]")
    answer = predict(paths, os.environ["DOGS_API_URL"], os.environ["DOGS_API_KEY"])
    for path, prediction in zip(paths, answer["predictions"]):
        best = ", ".join(f"{t['breed']} {t['probability']:.1%}" for t in prediction["top"])
        print(f"{path}: {best}")
    print(f"model: {answer['model']}")


if __name__ == "__main__":
    main()
