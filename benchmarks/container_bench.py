"""SageMaker's serving container (TorchServe + the toolkit, offline) against the local endpoint, in one run.

For each server: cold start (process start → first `/ping` 200), latency p50/p99 and throughput at 1 and
4 clients on `/invocations` with real photos the backbone never saw, and peak resident memory (every
process of the server: for the container, the Java frontend and its Python workers). Three servers:

    container          the artifact as it is: the image's PyTorch runs the network (no onnxruntime there)
    container+ort      the same with onnxruntime vendored into code/ (`pip install --target`), the other way
                       to serve it faster; its cost is the artifact's size
    local-endpoint     `python -m ops.emulator.local_endpoint` (ONNX Runtime, one pass per core)

Requests of a level alternate between the servers in rounds, so the VM's speed drift (10-30 % within
seconds) falls on all of them alike. Writes the figures to `.dogs/bench/container_bench.json`.

    .venv/bin/python benchmarks/container_bench.py --model model.tar.gz [--requests 64]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ops.core import artifact, state
from ops.containers import container_serving
from ops.emulator import processes  # noqa: E402
from training.files import write_text_atomic  # noqa: E402

UNSEEN = ROOT.parent / "shared" / "data" / "unseen-val" / "Images"
LEVELS = (1, 4)


class LocalEndpoint:
    """The local endpoint in its own process, with the same request interface as the container."""

    def __init__(self, model: Path, log_dir: Path):
        port = processes.free_port()
        started = time.monotonic()
        self.server = processes.start("local-endpoint", "ops.emulator.local_endpoint",
                                    ["--model", str(model), "--endpoint-name", "bench", "--port", str(port)],
                                    port, "/ping", log_dir)
        self.started_s = time.monotonic() - started
        self.port, self._local, self._peak = port, threading.local(), 0

    def clients(self, count: int):
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(count)

    def invoke(self, body: bytes, content_type: str) -> tuple[int, str, bytes]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request("POST", "/invocations", body, {"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()

    def sample_rss(self) -> float:
        import psutil

        rss = psutil.Process(self.server.pid).memory_info().rss
        self._peak = max(self._peak, rss)
        return rss

    def peak_rss_mb(self) -> float:
        return self._peak / 1e6

    def close(self) -> None:
        self.server.stop()


def with_vendored_onnxruntime(model: Path, into: Path) -> Path:
    """A copy of the artifact folder with this environment's onnxruntime installed into code/."""
    import onnxruntime

    folder = artifact.extract(model, into) if model.is_file() else Path(shutil.copytree(model, into))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(folder / "code"), f"onnxruntime=={onnxruntime.__version__}"], check=True)
    return folder


def folder_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def measure(servers_: dict, photos: list[bytes], requests: int) -> dict:
    """Per server and level: latencies (ms), throughput (req/s); levels alternate servers in rounds."""
    results = {name: {} for name in servers_}
    rounds = 4
    for clients in LEVELS:
        pools = {name: server.clients(clients) for name, server in servers_.items()}
        samples = {name: [] for name in servers_}
        busy = {name: 0.0 for name in servers_}
        errors = {name: 0 for name in servers_}
        for r in range(rounds):
            for name, server in (list(servers_.items()) if r % 2 == 0 else list(servers_.items())[::-1]):
                bodies = [photos[(r * requests + i) % len(photos)] for i in range(requests // rounds)]

                def one(body, server=server):
                    started = time.perf_counter()
                    status = server.invoke(body, "application/x-image")[0]
                    return status, time.perf_counter() - started

                started = time.perf_counter()
                answers = list(pools[name].map(one, bodies))
                busy[name] += time.perf_counter() - started
                samples[name] += [t for s, t in answers if s == 200]
                errors[name] += sum(s != 200 for s, _ in answers)
                server.sample_rss()
        for name in servers_:
            ms = np.array(samples[name]) * 1000
            results[name][f"c{clients}"] = {
                "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
                "throughput_rps": round(len(ms) / busy[name], 1), "errors": errors[name]}
            pools[name].shutdown()
    return results


def bench(model: Path, requests: int, out: Path, photo_dir: Path = UNSEEN) -> dict:
    if not photo_dir.is_dir():
        raise SystemExit(f"error: {photo_dir}: no such photo folder; give --photos DIR (one folder per breed)")
    photos = [p.read_bytes() for folder in sorted(d for d in photo_dir.iterdir() if d.is_dir())
              for p in sorted(f for f in folder.iterdir() if f.suffix.lower() in (".jpg", ".jpeg"))[:2]]
    work = Path(tempfile.mkdtemp(prefix="dogs-container-bench-"))
    figures: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                     "date": time.strftime("%Y-%m-%d %H:%M"), "model": str(model), "requests": requests,
                     "photos": len(photos)}
    try:
        with ExitStack() as stack:
            running = {}
            ort_model = with_vendored_onnxruntime(model, work / "with-ort")
            figures["artifact_mb"] = {"container": round(folder_size_mb(artifact.extract(model, work / "plain")), 1),
                                      "container+ort": round(folder_size_mb(ort_model), 1)}
            for name, path in (("container", model), ("container+ort", ort_model)):
                running[name] = stack.enter_context(container_serving.serve(path))
            running["local-endpoint"] = LocalEndpoint(model, work / "logs")
            stack.callback(running["local-endpoint"].close)
            for server in running.values():  # warm up: every worker loads lazily on its first requests
                with server.clients(4) as pool:
                    list(pool.map(lambda b, s=server: s.invoke(b, "application/x-image"), photos[:8]))
            figures["servers"] = measure(running, photos, requests)
            for name, server in running.items():
                figures["servers"][name].update(cold_start_s=round(server.started_s, 2),
                                                peak_rss_mb=round(server.peak_rss_mb(), 1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_text_atomic(out, json.dumps(figures, indent=2) + "\n")
    return figures


def report(figures: dict) -> str:
    lines = [f"{figures['machine']}, {figures['date']}, {figures['requests']} requests per level",
             f"{'server':<16}{'cold s':>8}{'p50 c1':>9}{'p99 c1':>9}{'rps c1':>8}{'p50 c4':>9}{'p99 c4':>9}"
             f"{'rps c4':>8}{'errors':>8}{'RSS MB':>9}"]
    for name, s in figures["servers"].items():
        c1, c4 = s["c1"], s["c4"]
        lines.append(f"{name:<16}{s['cold_start_s']:>8.1f}{c1['p50_ms']:>9.1f}{c1['p99_ms']:>9.1f}"
                     f"{c1['throughput_rps']:>8.1f}{c4['p50_ms']:>9.1f}{c4['p99_ms']:>9.1f}"
                     f"{c4['throughput_rps']:>8.1f}{c1['errors'] + c4['errors']:>8}{s['peak_rss_mb']:>9.0f}")
    lines.append(f"artifact size MB: {figures['artifact_mb']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model.tar.gz (default: the artifact `invoke train` recorded)")
    parser.add_argument("--requests", type=int, default=64, help="requests per server and level (default 64)")
    parser.add_argument("--photos", type=Path, default=UNSEEN, help="photos to send, one folder per breed, two "
                        "of each (default: ../shared/data/unseen-val/Images)")
    parser.add_argument("--out", type=Path, help="JSON file (default: .dogs/bench/container_bench.json)")
    args = parser.parse_args(argv)
    if args.requests < 4:
        parser.error("--requests must be at least 4")
    try:
        model = args.model or artifact.recorded_artifact()
        figures = bench(model, args.requests, args.out or state.home() / "bench" / "container_bench.json",
                        args.photos)
    except artifact.ArtifactError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(report(figures))


if __name__ == "__main__":
    main()
