"""Serving speed on this machine, every stage in one run: how far the API is from the bare network.

Measured in one run, on the same photos: the bare forward pass with ONNX Runtime and with PyTorch (in a
worker thread, as the endpoint runs it), preprocessing (decode + resize + normalise), the local endpoint's
round trip (a separate process, as `invoke serve` runs it) and the full local API's round trip (API
Gateway → Lambda handler → endpoint, over real HTTP) — p50/p99 and throughput at each concurrency; the
endpoint process's peak memory (VmHWM); the handler's cold import time (fresh interpreters, median). Prints a
table with the ratios to the bare ONNX forward pass and writes the figures to JSON.

    .venv/bin/python benchmarks/serving_bench.py [--model model.tar.gz] [--requests 64] [--out FILE]
    invoke bench
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ops.emulator import processes
from ops.core import state  # noqa: E402
from training.errors import UserError  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "data" / "dogs-10" / "Images"
ENDPOINT_NAME = "bench"
API_KEY = "bench"
LEVELS = (1, 4, 16)
IDLE_GAP_S = 0.02  # the pause before each "after idle" forward pass


class BenchError(UserError, ValueError):
    """Nothing to benchmark: no model, or a bad option."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(int(round(q / 100 * (len(ordered) - 1))), len(ordered) - 1)
    return ordered[index]


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 3), "p99_ms": round(percentile(ms, 99), 3),
            "mean_ms": round(statistics.fmean(ms), 3)}


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1000


def cold_import_ms(runs: int = 7) -> dict[str, float]:
    """`import handler` in fresh interpreters, as a Lambda cold start imports it (median of `runs`)."""
    code = ("import sys, time; t = time.perf_counter(); from predict_lambda import handler; "
            "print((time.perf_counter() - t) * 1000)")
    values = [float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                                   text=True, check=True).stdout) for _ in range(runs)]
    return {"runs": runs, "median_ms": round(statistics.median(values), 1),
            "min_ms": round(min(values), 1), "max_ms": round(max(values), 1)}


def peak_rss_mb(pid: int) -> float | None:
    """A process's peak resident memory (VmHWM), in MB; None where /proc is missing."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def default_model() -> Path:
    local = (state.trained() or state.TrainedArtifact()).local_file()
    if local is not None:
        return local
    raise BenchError("no model: give --model PATH/model.tar.gz or run `invoke train` first")


def load_photos(folder: Path | None = None, count: int = 20) -> list[bytes]:
    """`count` JPEG photos spread over `folder` (any depth; default: dogs-10, where the figures were measured)."""
    folder = Path(folder or PHOTOS)
    if not folder.is_dir():
        raise BenchError(f"{folder}: no such photo folder; give --photos DIR (a folder of dog photos, any depth)")
    files = sorted(folder.rglob("*.jpg"))
    photos = [p.read_bytes() for p in files[::max(1, min(97, len(files) // count))][:count]]
    if not photos:
        raise BenchError(f"no photos to send: {folder} holds no .jpg")
    return photos


# ---------------------------------------------------------------- in-process stages
def in_process(model_path: Path, photos: list[bytes], n: int, threads: int) -> dict:
    """Bare ONNX Runtime and PyTorch forward passes and preprocessing, interleaved (same load), in a
    worker thread (torch in the main thread ran several times slower on this machine). The ONNX forward
    runs with the endpoint's intra-op `threads` (what each request gets) and, for reference, with all
    cores and after an idle gap (what the CPU's state adds to a pass that follows a pause, as every
    pass at one client does)."""
    from ops.core.artifact import load_artifact

    def load(**env: str):
        with mock.patch.dict(os.environ, env):
            return load_artifact(model_path)

    onnx_model = load(DOGS_INFERENCE_THREADS=str(threads))
    onnx_all = load(DOGS_INFERENCE_THREADS=str(os.cpu_count() or 1))
    torch_model = load(DOGS_INFERENCE_BACKEND="pytorch", DOGS_INFERENCE_THREADS=str(os.cpu_count() or 1))
    batch = onnx_model.prepare(photos[0], "image/jpeg")[None]
    onnx = onnx_model.model.backend == "onnxruntime"

    def measure() -> dict[str, list[float]]:
        times: dict[str, list[float]] = {"onnx": [], "onnx_all_cores": [], "pytorch": [], "preprocess": [],
                                         "onnx_after_idle": []}
        for i in range(3):  # warm up
            onnx_model.forward(batch), onnx_all.forward(batch), torch_model.forward(batch)
        for i in range(n):
            times["preprocess"].append(timed(onnx_model.prepare, photos[i % len(photos)], "image/jpeg"))
            if onnx:
                times["onnx"].append(timed(onnx_model.forward, batch))
                times["onnx_all_cores"].append(timed(onnx_all.forward, batch))
            times["pytorch"].append(timed(torch_model.forward, batch))
            if onnx:  # what an idle gap costs the next pass: the CPU's state, not the server
                onnx_model.forward(batch)  # caches as warm as for the back-to-back figure
                time.sleep(IDLE_GAP_S)
                times["onnx_after_idle"].append(timed(onnx_model.forward, batch))
        return times

    with ThreadPoolExecutor(1) as worker:
        times = worker.submit(measure).result()
    return {"bare_onnx_forward": summary(times["onnx"]) if onnx else None,
            "bare_onnx_forward_all_cores": summary(times["onnx_all_cores"]) if onnx else None,
            "bare_onnx_forward_after_idle": summary(times["onnx_after_idle"]) if onnx else None,
            "idle_gap_ms": IDLE_GAP_S * 1000,
            "bare_pytorch_forward": summary(times["pytorch"]),
            "preprocess": summary(times["preprocess"]),
            "intra_op_threads": threads,
            "model": {"path": str(model_path), "model_id": onnx_model.model_id,
                      "classes": len(onnx_model.classes), "backend": onnx_model.model.backend,
                      "image_shape": onnx_model.description.get("image_shape"),
                      "onnx_max_abs_diff": (onnx_model.description.get("onnx") or {}).get(
                          "max_abs_diff")},
            "class_names": [c["name"] for c in onnx_model.classes],
            "loaded": onnx_model}


# ---------------------------------------------------------------- over HTTP
class Client:
    """One keep-alive HTTP connection (http.client: the client's own cost stays small)."""

    def __init__(self, url: str):
        host, port = url.split("//")[1].split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str | None]:
        """(status, the Server-Timing header if any)."""
        self.connection.request("POST", path, body=body, headers=headers)
        response = self.connection.getresponse()
        response.read()
        return response.status, response.getheader("Server-Timing")

    def close(self) -> None:
        self.connection.close()


PASSES = 4  # each level's requests are spread over this many passes through the levels


class Load:
    """What concurrent clients saw: each request's latency (ms), the wall time (s), the error
    statuses, and the endpoint's own Server-Timing stages (ms)."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.wall_s = 0.0
        self.errors: list[int] = []
        self.stages: dict[str, list[float]] = {}

    def add(self, other: "Load") -> None:
        self.latencies += other.latencies
        self.wall_s += other.wall_s
        self.errors += other.errors
        for name, values in other.stages.items():
            self.stages.setdefault(name, []).extend(values)

    def figures(self, clients: int) -> dict:
        result = {"concurrency": clients, **summary(self.latencies),
                  "requests_per_s": round(len(self.latencies) / self.wall_s, 2), "errors": len(self.errors)}
        if self.stages:  # what the endpoint itself measured (its Server-Timing header), p50 per stage
            result["server_timing_p50_ms"] = {name: round(percentile(v, 50), 3)
                                              for name, v in self.stages.items()}
        return result


def load_test(path: str, bodies: list[bytes], headers: dict[str, str], connections: list[Client],
              requests: int) -> Load:
    """`requests` POSTs from as many concurrent clients as `connections` (one keep-alive each)."""
    clients = len(connections)
    per_client = max(1, requests // clients)
    load = Load()

    def client_loop(k: int) -> list[float]:
        client = connections[k]
        latencies = []
        for i in range(per_client):
            started = time.perf_counter()
            status, timing = client.post(path, bodies[(k * per_client + i) % len(bodies)], headers)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                load.errors.append(status)
            for name, ms in parse_server_timing(timing).items():
                load.stages.setdefault(name, []).append(ms)
        return latencies

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        load.latencies = [ms for chunk in pool.map(client_loop, range(clients)) for ms in chunk]
    load.wall_s = time.perf_counter() - started
    return load


def level_rounds(url: str, path: str, bodies: list[bytes], headers: dict[str, str],
                 levels: tuple[int, ...], requests: int, passes: int = PASSES) -> list[dict]:
    """Each concurrency level's figures, its requests spread over `passes` passes through the levels
    (1, 4, 16, 1, 4, 16, ...), each client on one keep-alive connection for the whole phase. On this VM
    the machine's speed drifts by 10-30 % within seconds with nothing else running; a level measured in
    one stretch lands in a fast or a slow one, and a ratio of two levels (throughput at 4 clients ÷ at 1)
    then measures the drift as much as the server. Each pass sends max(requests / passes, 2 x clients)
    requests a level."""
    connections = {c: [Client(url) for _ in range(c)] for c in levels}
    try:
        for c in levels:  # warm up: connections, threads
            load_test(path, bodies, headers, connections[c], 2 * c)
        loads = {c: Load() for c in levels}
        for _ in range(passes):
            for c in levels:
                loads[c].add(load_test(path, bodies, headers, connections[c],
                                       max(requests // passes, 2 * c)))
    finally:
        for clients in connections.values():
            for client in clients:
                client.close()
    return [loads[c].figures(c) for c in levels]


def parse_server_timing(header: str | None) -> dict[str, float]:
    """`preprocess;dur=2.1, forward;dur=15.0` → {"preprocess": 2.1, "forward": 15.0}."""
    values = {}
    for item in (header or "").split(","):
        name, _, params = item.strip().partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur" and name:
                try:
                    values[name] = float(value)
                except ValueError:
                    pass
    return values


def start_endpoint(model_path: Path, log_dir: Path, threads: int) -> processes.Server:
    port = processes.free_port()
    return processes.start("bench-endpoint", "ops.emulator.local_endpoint",
                         ["--model", str(model_path), "--endpoint-name", ENDPOINT_NAME,
                          "--port", str(port), "--intra-op-threads", str(threads)],
                         port, "/ping", log_dir)


def endpoint_rounds(endpoint: processes.Server, photos: list[bytes], requests: int,
                    levels: tuple[int, ...]) -> list[dict]:
    return level_rounds(endpoint.url, f"/endpoints/{ENDPOINT_NAME}/invocations", photos,
                        {"Content-Type": "application/x-image", "Accept": "application/json"}, levels,
                        requests)


def start_api(endpoint_url: str, class_names: list[str], model_id: str, log_dir: Path) -> processes.Server:
    """The local API (API Gateway's contract around the Lambda handler) in its own process, as
    `invoke serve` runs it, with the environment Terraform gives the Lambda."""
    environment = log_dir / "bench-api-environment.json"
    state.write_json_atomic(environment, {"ENDPOINT_NAME": ENDPOINT_NAME, "CLASS_NAMES": json.dumps(class_names),
                                          "MODEL_ID": model_id, "ENDPOINT_TIMEOUT_SECONDS": "60",
                                          "LOG_LEVEL": "WARNING"})
    port = processes.free_port()
    return processes.start("bench-api", "ops.emulator.local_api",
                         ["--environment", str(environment), "--timeout", "120",
                          "--endpoint-url", endpoint_url, "--port", str(port), "--threads", "16"],
                         port, "/beta/predict", log_dir, expect_status=403,
                         env={"DOGS_API_KEY": API_KEY})


def api_bodies(photos: list[bytes]) -> list[bytes]:
    """The API's request bodies for the photos: JSON {"image": "<base64>"}."""
    return [json.dumps({"image": base64.b64encode(p).decode()}).encode() for p in photos]


def api_rounds(api: processes.Server, photos: list[bytes], requests: int, levels: tuple[int, ...]) -> list[dict]:
    return level_rounds(api.url, "/beta/predict", api_bodies(photos),
                        {"x-api-key": API_KEY, "Content-Type": "application/json"}, levels, requests)


def paired_rounds(model, endpoint: processes.Server, api: processes.Server, photos: list[bytes],
                  requests: int) -> dict:
    """At one client, per photo and back to back: preprocessing and the bare forward pass here (with
    the endpoint's intra-op threads; the second of two passes, so with warm caches as in a loop of
    them), the endpoint's round trip, the API's round trip. Both sides of the overhead ratios then see
    the same machine: on this VM its speed drifts by 10-30 % within seconds, with nothing else running,
    which moves a ratio of figures from separate phases by as much."""
    path = f"/endpoints/{ENDPOINT_NAME}/invocations"
    image_headers = {"Content-Type": "application/x-image", "Accept": "application/json"}
    api_headers = {"x-api-key": API_KEY, "Content-Type": "application/json"}
    bodies = api_bodies(photos)

    def measure() -> tuple[dict[str, list[float]], list[int]]:
        times: dict[str, list[float]] = {"bare": [], "endpoint": [], "endpoint_inside": [], "api": []}
        errors: list[int] = []
        to_endpoint, to_api = Client(endpoint.url), Client(api.url)
        try:
            for i in range(requests + 4):  # the first four warm up
                k = i % len(photos)
                model.forward(model.prepare(photos[k], "image/jpeg")[None])  # warms the caches:
                started = time.perf_counter()  # the bare figure is the second, warm pass
                model.forward(model.prepare(photos[k], "image/jpeg")[None])
                bare = (time.perf_counter() - started) * 1000
                started = time.perf_counter()
                endpoint_status, timing = to_endpoint.post(path, photos[k], image_headers)
                endpoint_ms = (time.perf_counter() - started) * 1000
                started = time.perf_counter()
                api_status, _ = to_api.post("/beta/predict", bodies[k], api_headers)
                api_ms = (time.perf_counter() - started) * 1000
                if endpoint_status != 200 or api_status != 200:  # an error is fast: not a figure
                    errors += [s for s in (endpoint_status, api_status) if s != 200]
                elif i >= 4:
                    times["bare"].append(bare)
                    times["endpoint"].append(endpoint_ms)
                    times["endpoint_inside"].append(sum(parse_server_timing(timing).values()))
                    times["api"].append(api_ms)
        finally:
            to_endpoint.close()
            to_api.close()
        return times, errors

    with ThreadPoolExecutor(1) as worker:  # as in_process measures it
        times, errors = worker.submit(measure).result()
    if not times["bare"]:
        raise BenchError(f"the paired phase got no answer but errors: {sorted(set(errors))}")
    result = {name: summary(values) for name, values in times.items() if values}
    result["errors"] = len(errors)
    result["per_photo_ms"] = {name: [round(v, 3) for v in values] for name, values in times.items()}

    def per_photo(numerator: str) -> float:
        """The median over photos of numerator ÷ bare, each pair measured back to back."""
        return round(statistics.median(n / b for n, b in zip(times[numerator], times["bare"])), 3)

    result["endpoint_over_bare"] = per_photo("endpoint")
    result["api_over_bare"] = per_photo("api")
    bare = result["bare"]["p50_ms"]  # the ratios of the p50s, beside them
    result["endpoint_p50_over_bare_p50"] = round(result["endpoint"]["p50_ms"] / bare, 3)
    result["api_p50_over_bare_p50"] = round(result["api"]["p50_ms"] / bare, 3)
    return result


# ---------------------------------------------------------------- the run
def run_benchmark(model_path: Path, *, requests: int = 64, levels: tuple[int, ...] = LEVELS,
                  threads: int | None = None, cold_runs: int = 7,
                  photos: list[bytes] | None = None, log: Callable[[str], None] = print) -> dict:
    from ops.emulator.local_endpoint import DEFAULT_INTRA_OP_THREADS

    threads = threads or DEFAULT_INTRA_OP_THREADS
    if requests < 1 or threads < 1:
        raise BenchError("requests and intra-op threads must be at least 1")
    if not Path(model_path).exists():
        raise BenchError(f"{model_path}: no such model artifact; run `invoke train` first")
    photos = photos or load_photos()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():  # the handler's client signs
        os.environ.setdefault(name, value)
    log_dir = state.home() / "bench"
    log("in-process: bare forward passes and preprocessing")
    figures = in_process(model_path, photos, requests, threads)
    class_names = figures.pop("class_names")
    loaded = figures.pop("loaded")
    log(f"local endpoint ({threads} intra-op thread(s) a pass) and local API")
    endpoint = start_endpoint(model_path, log_dir, threads)
    try:
        figures["endpoint"] = endpoint_rounds(endpoint, photos, requests, levels)
        api = start_api(endpoint.url, class_names, figures["model"]["model_id"], log_dir)
        try:
            figures["api"] = api_rounds(api, photos, requests, levels)
            if figures["bare_onnx_forward"]:
                log("paired: preprocess + bare forward, endpoint and API, photo by photo")
                figures["paired_c1"] = paired_rounds(loaded, endpoint, api, photos, requests)
        finally:
            api.stop()
        figures["endpoint_peak_rss_mb"] = peak_rss_mb(endpoint.pid)
    finally:
        endpoint.stop()
    log("handler cold import")
    figures["handler_cold_import"] = cold_import_ms(cold_runs)
    figures["handler_overhead_p50_ms"] = round(figures["api"][0]["p50_ms"] - figures["endpoint"][0]["p50_ms"], 3)
    figures["targets"] = targets(figures)
    figures["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(),
                          "load_average": [round(x, 2) for x in os.getloadavg()]}
    return figures


def targets(f: dict) -> dict:
    """Issue 8's targets, each with the figure it was judged on. The latency ratio is the paired one
    where there is one: the median over photos of API round trip ÷ (preprocess + bare forward), each
    pair measured back to back; the ratio of p50s from separate phases is kept beside it."""
    forward = (f["bare_onnx_forward"] or f["bare_pytorch_forward"])["p50_ms"]
    budget = f["preprocess"]["p50_ms"] + forward
    api = {r["concurrency"]: r for r in f["api"]}
    separate = round(api[min(api)]["p50_ms"] / budget, 3)
    result = {
        "api_p50_c1_over_preprocess_plus_forward": (f.get("paired_c1") or {}).get("api_over_bare", separate),
        "api_p50_c1_over_preprocess_plus_forward_separate_phases": separate,
        "api_throughput_c4_over_c1": round(api[4]["requests_per_s"] / api[1]["requests_per_s"], 3)
        if 4 in api and 1 in api else None,
        "api_errors_c16": api[16]["errors"] if 16 in api else None,
        "endpoint_peak_rss_mb": f["endpoint_peak_rss_mb"],
        "handler_cold_import_ms": f["handler_cold_import"]["median_ms"],
    }
    result["met"] = {
        "api_p50_c1 <= 1.3 x (preprocess + forward)": result["api_p50_c1_over_preprocess_plus_forward"] <= 1.3,
        "throughput c4 >= 1.5 x c1": (result["api_throughput_c4_over_c1"] or 0) >= 1.5,
        "no errors at c16": result["api_errors_c16"] == 0,
        "endpoint peak RSS <= 400 MB": (result["endpoint_peak_rss_mb"] or 0) <= 400,
        "handler cold import <= 150 ms": result["handler_cold_import_ms"] <= 150,
    }
    return result


def print_table(f: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    forward = (f["bare_onnx_forward"] or f["bare_pytorch_forward"])["p50_ms"]
    table = Table(title=f"serving: {f['model']['model_id']} ({f['model']['backend']}), "
                        f"{f['machine']['cpus']} CPUs, load {f['machine']['load_average'][0]}")
    for column in ("stage", "clients", "p50 ms", "p99 ms", "req/s", "errors", "p50 ÷ ONNX fwd"):
        table.add_column(column, justify="left" if column == "stage" else "right", no_wrap=True)

    def row(stage: str, s: dict | None, clients="") -> None:
        if s:
            table.add_row(stage, str(clients), f"{s['p50_ms']:.2f}", f"{s['p99_ms']:.2f}",
                          f"{s.get('requests_per_s', '')}", str(s.get("errors", "")),
                          f"{s['p50_ms'] / forward:.2f}×")

    row(f"bare ONNX Runtime forward, {f['intra_op_threads']} thr.", f["bare_onnx_forward"], 1)
    row(f"  … on all {f['machine']['cpus']} cores", f.get("bare_onnx_forward_all_cores"), 1)
    row(f"  … each after {f.get('idle_gap_ms', 0):g} ms idle", f.get("bare_onnx_forward_after_idle"), 1)
    row("bare PyTorch forward", f["bare_pytorch_forward"], 1)
    row("preprocess", f["preprocess"], 1)
    for name, key in (("endpoint round trip", "endpoint"), ("API round trip", "api")):
        for r in f.get(key) or []:
            row(name, r, r["concurrency"])
    paired = f.get("paired_c1")
    if paired:
        row("paired: preprocess + bare forward", paired["bare"], 1)
        row("paired: endpoint round trip", paired["endpoint"], 1)
        row("  … of which inside the endpoint", paired.get("endpoint_inside"), 1)
        row("paired: API round trip", paired["api"], 1)
    console = Console()
    if not console.is_terminal:  # a pipe or a log: the whole table, not one squeezed to 80 columns
        console = Console(width=120)
    console.print(table)
    t = f["targets"]
    console.print(f"endpoint peak RSS {t['endpoint_peak_rss_mb']} MB · handler cold import "
                  f"{t['handler_cold_import_ms']} ms (median of {f['handler_cold_import']['runs']}) · "
                  f"handler overhead p50 {f['handler_overhead_p50_ms']} ms")
    if paired:
        console.print(f"API round trip at 1 client ÷ (preprocess + bare forward): {paired['api_over_bare']:.3f} "
                      f"(median over photos, each pair back to back; {paired['api_p50_over_bare_p50']:.3f} as "
                      f"a ratio of their p50s), "
                      f"{t['api_p50_c1_over_preprocess_plus_forward_separate_phases']:.3f} from separate phases; "
                      f"endpoint alone {paired['endpoint_over_bare']:.3f}")
    for name, ok in t["met"].items():
        console.print(f"  {'[green]met[/green]' if ok else '[red]missed[/red]'}  {name}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model.tar.gz (default: the last `invoke train`'s)")
    parser.add_argument("--requests", type=int, default=64,
                        help="requests per stage and concurrency level (default 64)")
    parser.add_argument("--intra-op-threads", type=int,
                        help="the endpoint's threads per forward pass (default: its own)")
    parser.add_argument("--photos", type=Path, help="a folder of dog photos to send (any depth; default: "
                                                    "../shared/data/dogs-10/Images, where the figures were measured)")
    parser.add_argument("--out", type=Path, help="JSON file (default: .dogs/bench/serving_bench.json)")
    args = parser.parse_args(argv)
    try:
        return bench(args.model, requests=args.requests, threads=args.intra_op_threads, out=args.out,
                     photos=args.photos)
    except UserError as exc:
        raise SystemExit(f"error: {exc}") from None


def bench(model: Path | None, *, requests: int = 64, threads: int | None = None, cold_runs: int = 7,
          out: Path | None = None, photos: Path | None = None) -> dict:
    """Run, print the table, write the JSON (default .dogs/bench/serving_bench.json); the figures."""
    figures = run_benchmark(model or default_model(), requests=requests, threads=threads, cold_runs=cold_runs,
                            photos=load_photos(photos))
    out = out or state.home() / "bench" / "serving_bench.json"
    state.write_json_atomic(out, figures)
    print_table(figures)
    print(f"written to {out}")
    return figures


if __name__ == "__main__":
    main()
