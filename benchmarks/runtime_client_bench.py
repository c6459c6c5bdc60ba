"""What each way of calling InvokeEndpoint costs over a bare POST, against the local endpoint.

One local endpoint (a separate process, serving a model artifact), one photo, the calls interleaved call
by call so that each sees the same machine (each round in a rotated order; a client's excess is the median
of its differences from the bare POST of the same round): a bare `http.client` POST (unsigned, the floor), the Lambda's
own runtime client (`lambda/endpoint.py`: botocore's SigV4 signer over `http.client`), the same signed
request over urllib3's pool (what that client used before), and botocore's generic `sagemaker-runtime`
client (what boto3 users call). Prints p50s and their excess over the bare POST; writes JSON.

    .venv/bin/python benchmarks/runtime_client_bench.py [--model model.tar.gz] [--calls 200] [--out FILE]
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
sys.path.insert(0, str(ROOT / "lambda"))

from benchmarks import serving_bench  # noqa: E402
from ops import state  # noqa: E402


def measure(endpoint_url: str, photo: bytes, calls: int) -> dict[str, list[float]]:
    import boto3
    import urllib3

    import endpoint
    import settings

    config = settings.Settings(endpoint_name=serving_bench.ENDPOINT_NAME, class_names=("a",),
                               endpoint_url=endpoint_url, endpoint_timeout_seconds=60)
    ours = endpoint.make_client(config)
    path = f"/endpoints/{serving_bench.ENDPOINT_NAME}/invocations"
    headers = {"Content-Type": endpoint.CONTENT_TYPE, "Accept": "application/json"}
    host, port = endpoint_url.split("//")[1].split(":")
    bare = http.client.HTTPConnection(host, int(port))
    pool = urllib3.PoolManager(retries=False)
    generic = boto3.client("sagemaker-runtime", endpoint_url=endpoint_url, region_name="us-east-1")

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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model.tar.gz (default: the last `invoke train`'s)")
    parser.add_argument("--calls", type=int, default=200, help="calls per client (default 200)")
    parser.add_argument("--out", type=Path, help="JSON file (default: .dogs/bench/runtime_client.json)")
    args = parser.parse_args(argv)
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(name, value)
    model = args.model or serving_bench.default_model()
    photo = serving_bench.load_photos(count=1)[0]
    server = serving_bench.start_endpoint(model, 1, state.home() / "bench", 1)
    try:
        times = measure(server.url, photo, args.calls)
    finally:
        server.stop()
    bare = times["bare http.client POST"]
    figures = {"model": str(model), "photo_bytes": len(photo), "calls": args.calls,
               "load_average": [round(x, 2) for x in os.getloadavg()],
               "clients": {name: {**serving_bench.summary(v),  # the excess: median of same-round differences
                                  "over_bare_ms": round(statistics.median(a - b for a, b in zip(v, bare)), 3)}
                           for name, v in times.items()}}
    for name, f in figures["clients"].items():
        print(f"{name:28s} p50 {f['p50_ms']:7.2f} ms   over the bare POST {f['over_bare_ms']:+.2f} ms "
              "(median of same-round differences)")
    out = args.out or state.home() / "bench" / "runtime_client.json"
    state.write_json_atomic(out, figures)
    print(f"written to {out}")
    return figures


if __name__ == "__main__":
    main()
