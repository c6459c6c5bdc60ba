"""Prediction API latency and throughput on this machine.

Single-image latency (p50/p99) through local API → Lambda handler → local endpoint over real HTTP,
compared in the same run with the model's own in-process inference (`LoadedModel.invoke`: decode,
preprocess, forward) and the bare forward pass when the artifact exposes it; throughput with N concurrent
clients; and the handler's cold import time (a fresh interpreter importing `handler`, as a Lambda cold
start does). Prints the figures and writes them to JSON.

    .venv/bin/python benchmarks/api_bench.py [--model model.tar.gz] [--requests 50] [--clients 4]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ops import local_api, servers, state  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "data" / "dogs-10" / "Images"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(int(round(q / 100 * (len(ordered) - 1))), len(ordered) - 1)
    return ordered[index]


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2), "p99_ms": round(percentile(ms, 99), 2),
            "mean_ms": round(statistics.fmean(ms), 2)}


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1000


def cold_import_ms(runs: int = 5) -> dict[str, float]:
    code = ("import sys, time; sys.path.insert(0, 'lambda'); t = time.perf_counter(); import handler; "
            "print((time.perf_counter() - t) * 1000)")
    values = [float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                                   text=True, check=True).stdout) for _ in range(runs)]
    return {"runs": runs, "median_ms": round(statistics.median(values), 1),
            "min_ms": round(min(values), 1)}


def default_model() -> Path:
    artifact = state.read("artifact") or {}
    if artifact.get("local_path") and Path(artifact["local_path"]).is_file():
        return Path(artifact["local_path"])
    raise SystemExit("no model: give --model PATH/model.tar.gz or run `invoke train` first")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model.tar.gz (default: the last `invoke train`'s)")
    parser.add_argument("--requests", type=int, default=50, help="single-image requests (default 50)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--out", type=Path, help="JSON file (default: .dogs/bench/api_bench.json)")
    args = parser.parse_args()
    model_path = args.model or default_model()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(name, value)

    from ops.artifact import load_artifact

    model = load_artifact(model_path)
    photos = [p.read_bytes() for p in sorted(PHOTOS.rglob("*.jpg"))[::97][:20]]
    port = servers.free_port()
    endpoint = servers.start("bench-endpoint", "ops.local_endpoint",
                             ["--model", str(model_path), "--endpoint-name", "bench", "--port", str(port)],
                             port, "/ping", state.home() / "bench")
    try:
        figures = run(args, model, photos, endpoint.url)
    finally:
        endpoint.stop()
    figures.update(cold_import_handler=cold_import_ms(),
                   machine={"cpus": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()},
                   model={"path": str(model_path), "model_id": model.model_id,
                          "classes": len(model.classes)})
    out = args.out or state.home() / "bench" / "api_bench.json"
    state.write_json_atomic(out, figures)
    print(json.dumps(figures, indent=2))
    print(f"written to {out}")


def run(args, model, photos: list[bytes], endpoint_url: str) -> dict:
    import requests
    from waitress.server import create_server

    sys.path.insert(0, str(ROOT / "lambda"))
    import handler
    import settings

    names = tuple(c["name"] if isinstance(c, dict) else getattr(c, "name", c) for c in model.classes)
    predictor = handler.Predictor(settings.Settings(endpoint_name="bench", class_names=names,
                                                    model_id=model.model_id, endpoint_url=endpoint_url))
    port = servers.free_port()
    server = create_server(local_api.create_app(predictor, local_api.Gateway(api_key="bench")),
                           host="127.0.0.1", port=port, threads=8)
    import threading

    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{port}/beta/predict"
    bodies = [json.dumps({"image": base64.b64encode(p).decode()}) for p in photos]
    session = requests.Session()

    def call(i: int, client=session) -> None:
        response = client.post(url, data=bodies[i % len(bodies)], timeout=60,
                               headers={"x-api-key": "bench", "Content-Type": "application/json"})
        response.raise_for_status()

    try:
        for i in range(3):  # warm up: first forward passes, connections
            call(i)
        # Interleaved, so the three see the same load on a shared machine; in a worker thread, as the
        # endpoint's server runs the model (torch in the main thread was several times slower here).
        def measure() -> tuple[list[float], list[float], list[float]]:
            forward_fn = forward_pass(model, photos[0])
            api, invoke, forward = [], [], []
            for i in range(args.requests):
                api.append(timed(call, i))
                invoke.append(timed(model.invoke, photos[i % len(photos)], "application/x-image",
                                    "application/json"))
                if forward_fn is not None:
                    forward.append(timed(forward_fn))
            return api, invoke, forward

        with ThreadPoolExecutor(1) as worker:
            api_ms, invoke_ms, forward_ms = worker.submit(measure).result()

        def client_loop(k: int) -> list[float]:
            with requests.Session() as own:
                return [timed(call, k * 1000 + i, own) for i in range(args.requests // args.clients * 2)]

        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            per_client = list(pool.map(client_loop, range(args.clients)))
        wall = time.perf_counter() - started
    finally:
        server.close()
    done = sum(len(c) for c in per_client)
    api, inproc = summary(api_ms), summary(invoke_ms)
    return {
        "single_image_api": api,
        "model_invoke_in_process": inproc,
        "bare_forward_pass": summary(forward_ms) if forward_ms else None,
        "api_overhead_p50_ms": round(api["p50_ms"] - inproc["p50_ms"], 2),
        "concurrent": {"clients": args.clients, "requests": done, "seconds": round(wall, 2),
                       "requests_per_s": round(done / wall, 2),
                       **summary([ms for c in per_client for ms in c])},
    }


def forward_pass(model, photo: bytes):
    """A no-argument callable running the network's forward pass alone on one preprocessed image, when
    the loaded model (what the artifact's model_fn returned) exposes `network` and `transform`."""
    network = getattr(model.model, "network", None)
    transform = getattr(model.model, "transform", None)
    if network is None or transform is None:
        return None
    import io

    import torch
    from PIL import Image

    batch = transform(Image.open(io.BytesIO(photo)).convert("RGB")).unsqueeze(0)

    def forward():
        with torch.inference_mode():
            network(batch)

    forward()
    return forward


if __name__ == "__main__":
    main()
