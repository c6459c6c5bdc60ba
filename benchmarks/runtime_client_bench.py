"""What each way of calling InvokeEndpoint costs over a bare POST, against the local endpoint.

One local endpoint (a separate process, serving a model artifact), one photo, the calls interleaved call
by call so that each sees the same machine (each round in a rotated order; a client's excess is the median
of its differences from the bare POST of the same round): a bare `http.client` POST (unsigned, the floor), the Lambda's
own runtime client (`predict_lambda/endpoint.py`: botocore's SigV4 signer over `http.client`), the same signed
request over urllib3's pool (what that client used before), botocore's generic `sagemaker-runtime`
client (what boto3 users call), and that client with a `Config` tuned as a Lambda would set it (standard
retries, short connect timeout, TCP keep-alive, a pool per concurrent call, no parameter validation).
Prints p50s and their excess over the bare POST.

Cold start: what a fresh Lambda container pays before its first answer, in `--cold-runs` fresh
processes per client, interleaved: the imports, making the client, and the first InvokeEndpoint. Writes
JSON.

    .venv/bin/python benchmarks/runtime_client_bench.py [--model model.tar.gz] [--calls 200]
        [--cold-runs 10] [--out FILE]
"""
from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import serving_bench  # noqa: E402
from ops.core import state  # noqa: E402


def measure(endpoint_url: str, photo: bytes, calls: int) -> dict[str, list[float]]:
    import boto3
    import urllib3
    from botocore.config import Config

    from predict_lambda import endpoint
    from predict_lambda import settings

    config = settings.Settings(endpoint_name=serving_bench.ENDPOINT_NAME, class_names=("a",),
                               endpoint_url=endpoint_url, endpoint_timeout_seconds=60)
    ours = endpoint.make_client(config)
    path = f"/endpoints/{serving_bench.ENDPOINT_NAME}/invocations"
    headers = {"Content-Type": endpoint.CONTENT_TYPE, "Accept": "application/json"}
    host, port = endpoint_url.split("//")[1].split(":")
    bare = http.client.HTTPConnection(host, int(port))
    pool = urllib3.PoolManager(retries=False)
    generic = boto3.client("sagemaker-runtime", endpoint_url=endpoint_url, region_name="us-east-1")
    tuned = boto3.client("sagemaker-runtime", endpoint_url=endpoint_url, region_name="us-east-1",
                         config=Config(**TUNED_CONFIG))

    def bare_post() -> None:
        bare.request("POST", path, body=photo, headers=headers)
        bare.getresponse().read()

    def urllib3_post() -> None:
        pool.request("POST", endpoint_url + path, body=photo,
                     headers=ours._signed(endpoint_url + path, photo, headers)).data

    clients = {
        "bare http.client POST": bare_post,
        "lambda runtime client": lambda: ours.invoke(serving_bench.ENDPOINT_NAME, photo,
                                                     endpoint.CONTENT_TYPE, "application/json"),
        "signed, over urllib3": urllib3_post,
        "botocore sagemaker-runtime": lambda: generic.invoke_endpoint(
            EndpointName=serving_bench.ENDPOINT_NAME, Body=photo, ContentType=endpoint.CONTENT_TYPE,
            Accept="application/json")["Body"].read(),
        "botocore, tuned Config": lambda: tuned.invoke_endpoint(
            EndpointName=serving_bench.ENDPOINT_NAME, Body=photo, ContentType=endpoint.CONTENT_TYPE,
            Accept="application/json")["Body"].read(),
    }
    times: dict[str, list[float]] = {name: [] for name in clients}
    names = list(clients)
    for i in range(calls + 10):  # the first ten warm up connections and code paths
        for name in names[i % len(names):] + names[:i % len(names)]:  # each round starts elsewhere
            started = time.perf_counter()
            clients[name]()
            if i >= 10:
                times[name].append((time.perf_counter() - started) * 1000)
    return times


TUNED_CONFIG = {"retries": {"mode": "standard", "max_attempts": 3}, "connect_timeout": 2,
                "read_timeout": 25, "tcp_keepalive": True, "max_pool_connections": 8,
                "parameter_validation": False}

# A fresh process's way to its first answer; prints the milliseconds from before the imports.
COLD = {
    "lambda runtime client": """
import time; started = time.perf_counter()
import sys; sys.path.insert(0, {root!r})
from predict_lambda import endpoint, settings
config = settings.Settings(endpoint_name={name!r}, class_names=("a",), endpoint_url={url!r},
                           endpoint_timeout_seconds=60)
client = endpoint.make_client(config)
client.invoke({name!r}, open({photo!r}, "rb").read(), endpoint.CONTENT_TYPE, "application/json")
print((time.perf_counter() - started) * 1000)
""",
    "botocore, tuned Config": """
import time; started = time.perf_counter()
import boto3
from botocore.config import Config
client = boto3.client("sagemaker-runtime", endpoint_url={url!r}, region_name="us-east-1",
                      config=Config(**{tuned!r}))
client.invoke_endpoint(EndpointName={name!r}, Body=open({photo!r}, "rb").read(),
                       ContentType="application/x-image", Accept="application/json")["Body"].read()
print((time.perf_counter() - started) * 1000)
""",
}


def cold_starts(endpoint_url: str, photo_file: Path, runs: int) -> dict[str, list[float]]:
    """Milliseconds to the first answer in fresh processes, the clients' runs interleaved."""
    import subprocess

    times: dict[str, list[float]] = {name: [] for name in COLD}
    for _ in range(runs):
        for name, template in COLD.items():
            code = template.format(root=str(ROOT), name=serving_bench.ENDPOINT_NAME,
                                   url=endpoint_url, photo=str(photo_file), tuned=TUNED_CONFIG)
            result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True, timeout=120)
            times[name].append(float(result.stdout.strip().splitlines()[-1]))
    return times


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model.tar.gz (default: the last `invoke train`'s)")
    parser.add_argument("--calls", type=int, default=200, help="calls per client (default 200)")
    parser.add_argument("--cold-runs", type=int, default=10,
                        help="fresh processes per client for the cold start (default 10; 0: none)")
    parser.add_argument("--out", type=Path, help="JSON file (default: .dogs/bench/runtime_client.json)")
    args = parser.parse_args(argv)
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(name, value)
    model = args.model or serving_bench.default_model()
    photo = serving_bench.load_photos(count=1)[0]
    server = serving_bench.start_endpoint(model, state.home() / "bench", 1)
    photo_file = state.home() / "bench" / "runtime_client_photo.jpg"
    photo_file.parent.mkdir(parents=True, exist_ok=True)
    photo_file.write_bytes(photo)
    try:
        times = measure(server.url, photo, args.calls)
        cold = cold_starts(server.url, photo_file, args.cold_runs)
    finally:
        server.stop()
    bare = times["bare http.client POST"]
    figures = {"model": str(model), "photo_bytes": len(photo), "calls": args.calls,
               "load_average": [round(x, 2) for x in os.getloadavg()],
               "clients": {name: {**serving_bench.summary(v),  # the excess: median of same-round differences
                                  "over_bare_ms": round(statistics.median(a - b for a, b in zip(v, bare)), 3)}
                           for name, v in times.items()},
               "cold_start_ms": {name: serving_bench.summary(v) for name, v in cold.items() if v}}
    for name, f in figures["clients"].items():
        print(f"{name:28s} p50 {f['p50_ms']:7.2f} ms   over the bare POST {f['over_bare_ms']:+.2f} ms "
              "(median of same-round differences)")
    for name, f in figures["cold_start_ms"].items():
        print(f"cold start, {name:22s} p50 {f['p50_ms']:7.1f} ms (imports, client, first call)")
    out = args.out or state.home() / "bench" / "runtime_client.json"
    state.write_json_atomic(out, figures)
    print(f"written to {out}")
    return figures


if __name__ == "__main__":
    main()
