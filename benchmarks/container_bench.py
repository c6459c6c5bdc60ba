"""SageMaker's serving container (TorchServe + the toolkit, in its sandbox, offline) against the local
endpoint, in one run.

Servers, each fed real photos the backbone never saw on `/invocations`:

    container          the artifact as SageMaker serves it: the toolkit and TorchServe, the network in the
                       ONNX Runtime the artifact carries (`code/onnxruntime`, training/serving_runtime.py)
    container-pytorch  the same with DOGS_INFERENCE_BACKEND=pytorch: the image's PyTorch, as the artifact
                       served before it carried its runtime (--no-pytorch leaves it out)
    local-endpoint     `python -m ops.emulator.local_endpoint` (the model in-process, one pass per core)

Per server and level (1 and 4 clients): latency p50/p99, throughput, cold start (process start to the
first `/ping` 200), peak resident memory. Requests of a level alternate between
the servers in rounds, so the VM's speed drift falls on all of them alike. Besides:
- answers: the container's probabilities against the in-process model's on the photos (max difference);
- where the container's time goes at 1 client, from TorchServe's own per-request figures in its log (the
  frontend's total and queue time, the backend round trip over the worker socket, the handler's
  PredictionTime) beside the client's latency, and the local endpoint's Server-Timing stages;
- the serverless cold start: a container with one worker (as serverless endpoints run), started alone,
  process start to the first answer, against the Lambda's endpoint timeout;
- what a million predictions cost on the default real-time instance and serverless memory, from these
  figures; `--record` writes them where `invoke deploy`/`plan` read them (ops/deploy/serving_measured.yaml).

Writes the figures to `.dogs/bench/container_bench.json`.

    .venv/bin/python benchmarks/container_bench.py [--model model.tar.gz] [--requests 64] [--record]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ops.containers import container_serving  # noqa: E402
from ops.core import artifact, state  # noqa: E402
from ops.deploy import hosting_cost  # noqa: E402
from ops.emulator import processes  # noqa: E402
from training.files import write_text_atomic  # noqa: E402

UNSEEN = ROOT.parent / "shared" / "data" / "unseen-val" / "Images"
LEVELS = (1, 4)
ENDPOINT_TIMEOUT_S = 20  # terraform/variables.tf limits.endpoint_timeout_seconds: the Lambda waits this long
# TorchServe's per-request log lines (the toolkit's log4j2.xml sends them to the container's output)
TS_FIGURES = {
    "frontend_ms": (r"ts_inference_latency_microseconds\.Microseconds:([\d.]+)", 1e-3),
    "queue_ms": (r"ts_queue_latency_microseconds\.Microseconds:([\d.]+)", 1e-3),
    "backend_round_trip_ms": (r"Backend response time: (\d+)", 1.0),
    "handler_ms": (r"PredictionTime\.ms:([\d.]+)", 1.0),
}


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
        self.timings: list[dict[str, float]] = []

    def clients(self, count: int):
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(count)

    def invoke(self, body: bytes, content_type: str) -> tuple[int, str, bytes]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request("POST", "/invocations", body, {"Content-Type": content_type})
        response = connection.getresponse()
        timing = response.getheader("Server-Timing", "")
        if timing:
            self.timings.append({k: float(v) for k, v in re.findall(r"(\w+);dur=([\d.]+)", timing)})
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


def unseen_photos(photo_dir: Path, per_breed: int = 2) -> list[bytes]:
    if not photo_dir.is_dir():
        raise SystemExit(f"error: {photo_dir}: no such photo folder; give --photos DIR (one folder per breed)")
    return [p.read_bytes() for folder in sorted(d for d in photo_dir.iterdir() if d.is_dir())
            for p in sorted(f for f in folder.iterdir() if f.suffix.lower() in (".jpg", ".jpeg"))[:per_breed]]


def log_offset(server) -> int | None:
    return server.log.stat().st_size if hasattr(server, "log") else None


def measure(servers: dict, photos: list[bytes], requests: int) -> tuple[dict, dict]:
    """Per server and level: latencies (ms), throughput (req/s); levels alternate servers in rounds.
    Also the (start, end) offsets of each container's log written during the 1-client level."""
    results = {name: {} for name in servers}
    windows: dict[str, list[tuple[int, int]]] = {name: [] for name in servers}
    rounds = 4
    for clients in LEVELS:
        pools = {name: server.clients(clients) for name, server in servers.items()}
        samples = {name: [] for name in servers}
        busy = {name: 0.0 for name in servers}
        errors = {name: 0 for name in servers}
        for r in range(rounds):
            for name, server in (list(servers.items()) if r % 2 == 0 else list(servers.items())[::-1]):
                bodies = [photos[(r * requests + i) % len(photos)] for i in range(requests // rounds)]

                def one(body, server=server):
                    started = time.perf_counter()
                    status = server.invoke(body, "application/x-image")[0]
                    return status, time.perf_counter() - started

                before = log_offset(server)
                started = time.perf_counter()
                answers = list(pools[name].map(one, bodies))
                busy[name] += time.perf_counter() - started
                if clients == 1 and before is not None:
                    time.sleep(0.2)  # TorchServe writes its last lines just after answering
                    windows[name].append((before, log_offset(server)))
                samples[name] += [t for s, t in answers if s == 200]
                errors[name] += sum(s != 200 for s, _ in answers)
                server.sample_rss()
        for name in servers:
            ms = np.array(samples[name]) * 1000
            results[name][f"c{clients}"] = {
                "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
                "throughput_rps": round(len(ms) / busy[name], 1), "errors": errors[name]}
            pools[name].shutdown()
    return results, windows


def torchserve_figures(log: Path, windows: list[tuple[int, int]]) -> dict[str, float]:
    """Medians of TorchServe's per-request figures in the given stretches of its log."""
    with open(log, "rb") as fh:
        text = b""
        for start, end in windows:
            fh.seek(start)
            text += fh.read(end - start)
    lines = text.decode(errors="replace")
    figures = {}
    for name, (pattern, scale) in TS_FIGURES.items():
        values = [float(v) * scale for v in re.findall(pattern, lines)]
        if values:
            figures[name] = round(statistics.median(values), 2)
            figures[f"{name.removesuffix('_ms')}_count"] = len(values)
    return figures


def gap(client_p50_ms: float, ts: dict[str, float], local_p50_ms: float, local_stages: dict[str, float]) -> dict:
    """Where the container's p50 goes, from the medians: HTTP (client <-> TorchServe's frontend),
    the frontend itself (netty, its queue and worker thread), the worker socket (the backend round
    trip less the handler's own time), the handler (the toolkit's Transformer + inference.py); and the
    local endpoint's (HTTP + werkzeug, then its own stages)."""
    frontend, round_trip, handler = ts.get("frontend_ms"), ts.get("backend_round_trip_ms"), ts.get("handler_ms")
    if None in (frontend, round_trip, handler):
        return {}
    local_server = sum(local_stages.values())
    return {"container": {"http_ms": round(client_p50_ms - frontend, 2),
                          "frontend_ms": round(frontend - round_trip, 2),
                          "worker_socket_ms": round(round_trip - handler, 2),
                          "handler_ms": round(handler, 2)},
            "local-endpoint": {"http_and_app_ms": round(local_p50_ms - local_server, 2),
                               **{f"{k}_ms": round(v, 2) for k, v in local_stages.items()}}}


def answers_difference(server, model: Path, photos: list[bytes]) -> float:
    """The largest difference between the container's probabilities and the in-process model's."""
    with artifact.load_artifact(model) as loaded:
        return max(float(np.abs(np.array(json.loads(server.invoke(body, "application/x-image")[2]))
                                - np.array(loaded.predict(body))).max()) for body in photos)


def cold_start(model: Path, photo: bytes) -> dict:
    """A one-worker container (a serverless endpoint's), alone: process start to /ping 200 and to the
    first answer."""
    started = time.monotonic()
    with container_serving.serve(model, workers=1) as running:
        ping_s = running.started_s
        status = running.invoke(photo, "application/x-image")[0]
        answer_s = time.monotonic() - started
    return {"workers": 1, "ping_s": round(ping_s, 2), "first_answer_s": round(answer_s, 2),
            "status": status, "endpoint_timeout_s": ENDPOINT_TIMEOUT_S,
            "fits": status == 200 and answer_s < ENDPOINT_TIMEOUT_S}


def costs(container: dict, cores: int) -> dict:
    """Cost per million predictions from the container's figures: real-time at its throughput per core
    (4 clients) times the default instance's vCPUs; serverless at its 1-client p50 x the default memory."""
    seconds = container["c1"]["p50_ms"] / 1000
    per_vcpu = container["c4"]["throughput_rps"] / cores
    return {"seconds_per_request": round(seconds, 4), "requests_per_second_per_vcpu": round(per_vcpu, 1),
            **hosting_cost.per_million_predictions(seconds, per_vcpu)}


def machine() -> str:
    name = ""
    try:
        name = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()}-core {name or 'unknown CPU'}"


def bench(model: Path, requests: int, out: Path, photo_dir: Path = UNSEEN, pytorch: bool = True) -> dict:
    photos = unseen_photos(photo_dir)
    work = Path(tempfile.mkdtemp(prefix="dogs-container-bench-"))
    figures: dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "model": str(model),
                     "requests": requests, "photos": len(photos),
                     "artifact_mb": round(model.stat().st_size / 1e6, 1) if model.is_file() else None}
    try:
        figures["serverless_cold_start"] = cold_start(model, photos[0])
        with ExitStack() as stack:
            running = {"container": stack.enter_context(container_serving.serve(model))}
            if pytorch:
                running["container-pytorch"] = stack.enter_context(container_serving.serve(
                    model, env={"DOGS_INFERENCE_BACKEND": "pytorch"}))
            running["local-endpoint"] = LocalEndpoint(model, work / "logs")
            stack.callback(running["local-endpoint"].close)
            for server in running.values():  # warm up: every worker loads lazily on its first requests
                with server.clients(4) as pool:
                    list(pool.map(lambda b, s=server: s.invoke(b, "application/x-image"), photos[:8]))
            figures["answers_max_abs_diff"] = answers_difference(running["container"], model, photos)
            running["local-endpoint"].timings.clear()
            figures["servers"], windows = measure(running, photos, requests)
            for name, server in running.items():
                figures["servers"][name].update(cold_start_s=round(server.started_s, 2),
                                                peak_rss_mb=round(server.peak_rss_mb(), 1))
            ts = torchserve_figures(running["container"].log, windows["container"])
            local = running["local-endpoint"].timings[:requests]  # the 1-client level's
            stages = {k: statistics.median(t[k] for t in local) for k in local[0]} if local else {}
            figures["torchserve_c1"] = ts
            figures["gap_c1"] = gap(figures["servers"]["container"]["c1"]["p50_ms"], ts,
                                    figures["servers"]["local-endpoint"]["c1"]["p50_ms"], stages)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures["cost"] = costs(figures["servers"]["container"], os.cpu_count() or 1)
    c, local = figures["servers"]["container"], figures["servers"]["local-endpoint"]
    figures["ratios"] = {"p50_c1": round(c["c1"]["p50_ms"] / local["c1"]["p50_ms"], 2),
                         "throughput_c4": round(c["c4"]["throughput_rps"] / local["c4"]["throughput_rps"], 2)}
    write_text_atomic(out, json.dumps(figures, indent=2) + "\n")
    return figures


def report(figures: dict) -> str:
    lines = [f"{figures['machine']}, {figures['date']}, {figures['requests']} requests per level",
             f"{'server':<18}{'cold s':>7}{'p50 c1':>8}{'p99 c1':>8}{'rps c1':>8}{'p50 c4':>8}"
             f"{'p99 c4':>8}{'rps c4':>8}{'errors':>7}{'RSS MB':>8}"]
    for name, s in figures["servers"].items():
        c1, c4 = s["c1"], s["c4"]
        lines.append(f"{name:<18}{s['cold_start_s']:>7.1f}{c1['p50_ms']:>8.1f}"
                     f"{c1['p99_ms']:>8.1f}{c1['throughput_rps']:>8.1f}{c4['p50_ms']:>8.1f}{c4['p99_ms']:>8.1f}"
                     f"{c4['throughput_rps']:>8.1f}{c1['errors'] + c4['errors']:>7}{s['peak_rss_mb']:>8.0f}")
    r = figures["ratios"]
    lines.append(f"container / local endpoint: p50 at 1 client {r['p50_c1']:.2f}x (target <= 2), "
                 f"throughput at 4 clients {r['throughput_c4']:.2f}x (target >= 0.5)")
    lines.append(f"answers: container vs in-process model, max abs difference "
                 f"{figures['answers_max_abs_diff']:.2e} on {figures['photos']} photos (target <= 1e-4)")
    for name, parts in figures["gap_c1"].items():
        lines.append(f"where the p50 at 1 client goes, {name}: "
                     + ", ".join(f"{k.removesuffix('_ms')} {v:.1f} ms" for k, v in parts.items()))
    cold = figures["serverless_cold_start"]
    lines.append(f"serverless cold start (1 worker, alone): /ping after {cold['ping_s']:.1f} s, first answer "
                 f"after {cold['first_answer_s']:.1f} s, against the endpoint timeout of "
                 f"{cold['endpoint_timeout_s']} s: {'fits' if cold['fits'] else 'DOES NOT FIT'}")
    cost = figures["cost"]
    lines.append(f"per million predictions: real-time {cost['realtime_instance']} ${cost['realtime_usd']:.2f} "
                 f"({cost['requests_per_second_per_vcpu']:.1f} req/s per vCPU), serverless "
                 f"{cost['serverless_memory_mb']} MB ${cost['serverless_usd']:.2f} "
                 f"({cost['seconds_per_request'] * 1000:.1f} ms a request)")
    return "\n".join(lines)


def record(figures: dict, path: Path, machine_name: str) -> None:
    """The figures `invoke deploy`/`plan` turn into a cost per million predictions."""
    import yaml

    cost = figures["cost"]
    data = {"measured": figures["date"], "machine": machine_name,
            "command": ".venv/bin/python benchmarks/container_bench.py --record",
            "model": figures["model_description"],
            "seconds_per_request": cost["seconds_per_request"],
            "requests_per_second_per_vcpu": cost["requests_per_second_per_vcpu"]}
    header = ("# Measured by benchmarks/container_bench.py --record: SageMaker's serving container (TorchServe and\n"
              "# the toolkit, in the harness) serving the model below. ops/deploy/hosting_cost.py turns these into\n"
              "# the cost per million predictions `invoke deploy`/`plan` print: real-time, requests per vCPU-second\n"
              "# x the instance's vCPUs; serverless, memory x seconds per request (the 1-client median).\n")
    write_text_atomic(path, header + yaml.safe_dump(data, sort_keys=False))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model.tar.gz (default: the artifact `invoke train` recorded)")
    parser.add_argument("--requests", type=int, default=64, help="requests per server and level (default 64)")
    parser.add_argument("--photos", type=Path, default=UNSEEN, help="photos to send, one folder per breed, two "
                        "of each (default: ../shared/data/unseen-val/Images)")
    parser.add_argument("--out", type=Path, help="JSON file (default: .dogs/bench/container_bench.json)")
    parser.add_argument("--no-pytorch", action="store_true", help="leave out the container served by PyTorch")
    parser.add_argument("--record", action="store_true", help="write the cost figures to "
                        f"{hosting_cost.MEASURED.relative_to(ROOT)} (for deploy/plan)")
    parser.add_argument("--machine", default=machine(), help="the machine's name in the record (default: "
                        "its CPU)")
    args = parser.parse_args(argv)
    if args.requests < 4:
        parser.error("--requests must be at least 4")
    try:
        model = args.model or artifact.recorded_artifact()
        figures = bench(model, args.requests, args.out or state.home() / "bench" / "container_bench.json",
                        args.photos, pytorch=not args.no_pytorch)
    except artifact.ArtifactError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(report(figures))
    if args.record:
        figures["model_description"] = model_description(model)
        record(figures, hosting_cost.MEASURED, args.machine)
        print(f"recorded in {hosting_cost.MEASURED}")


def model_description(model: Path) -> str:
    with artifact.load_artifact(model) as loaded:
        d = loaded.description
    onnx = (d.get("onnx") or {}).get("file", "no ONNX")
    return f"{d['backbone']} {d['image_shape'][1]} px, {onnx}, {d['model_id']}"


if __name__ == "__main__":
    main()
