"""Soak: the local stack under a steady load for minutes, per minute: requests, errors, p50/p99 latency,
and the resident memory (VmRSS, and its peak within the minute) of the endpoint and API processes.

Against the stack `invoke serve --background` runs (its predict URL, its API key from Terraform's outputs,
its server pids from the project state), or `--url`/`--api-key` (then no memory figures unless `--pids`).
Deploy it with limits above the load, since the local API enforces the usage plan as API Gateway does
(stage 10 rps and 10,000 requests a day by default):

    echo 'throttle = { rate_limit = 1000, burst_limit = 1000, daily_quota = 10000000 }' > soak.tfvars
    invoke local.up && invoke deploy --target local --var-file soak.tfvars && invoke serve --background
    .venv/bin/python benchmarks/soak_bench.py [--minutes 10] [--clients 4] [--max-growth-mib 64]

Exit status 1 when any request failed (anything but a 200) or a process's RSS grew by more than
--max-growth-mib from the first minute to the last. Figures to `.dogs/bench/soak_bench.json`.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ops.core import state  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "data" / "dogs-10" / "Images"
SAMPLE_EVERY_S = 5.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(q / 100 * (len(ordered) - 1))), len(ordered) - 1)] if ordered else 0.0


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Minute:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    rss: dict[str, list[float]] = field(default_factory=dict)

    def figures(self, index: int) -> dict:
        return {"minute": index + 1, "requests": len(self.latencies_ms) + sum(self.errors.values()),
                "errors": dict(self.errors),
                "p50_ms": round(percentile(self.latencies_ms, 50), 1),
                "p99_ms": round(percentile(self.latencies_ms, 99), 1),
                "rss_mib": {name: round(values[-1], 1) for name, values in self.rss.items() if values},
                "peak_rss_mib": {name: round(max(values), 1) for name, values in self.rss.items() if values}}


class Soak:
    def __init__(self, url: str, api_key: str, photos: list[bytes], pids: dict[str, int],
                 minutes: int, clients: int):
        self.url, self.api_key, self.photos, self.pids = url, api_key, photos, pids
        self.minutes, self.clients = minutes, clients
        self.buckets = [Minute() for _ in range(minutes)]
        self.lock = threading.Lock()
        self.started = 0.0

    def minute_of(self, t: float) -> Minute | None:
        index = int((t - self.started) // 60)
        return self.buckets[index] if index < self.minutes else None

    def client(self, number: int) -> None:
        import requests

        session = requests.Session()
        session.headers.update({"x-api-key": self.api_key, "Content-Type": "image/jpeg"})
        i = number
        while True:
            sent = time.monotonic()
            bucket = self.minute_of(sent)
            if bucket is None:
                return
            try:
                response = session.post(self.url, data=self.photos[i % len(self.photos)], timeout=60)
                outcome = "ok" if response.status_code == 200 else f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            elapsed_ms = (time.monotonic() - sent) * 1000
            with self.lock:
                if outcome == "ok":
                    bucket.latencies_ms.append(elapsed_ms)
                else:
                    bucket.errors[outcome] = bucket.errors.get(outcome, 0) + 1
            i += self.clients

    def sample_memory(self) -> None:
        while (bucket := self.minute_of(time.monotonic())) is not None:
            for name, pid in self.pids.items():
                value = rss_mib(pid)
                if value is not None:
                    bucket.rss.setdefault(name, []).append(value)
            time.sleep(SAMPLE_EVERY_S)

    def run(self) -> list[dict]:
        self.started = time.monotonic()
        threads = [threading.Thread(target=self.client, args=(n,), daemon=True) for n in range(self.clients)]
        threads.append(threading.Thread(target=self.sample_memory, daemon=True))
        for thread in threads:
            thread.start()
        for index in range(self.minutes):
            time.sleep(max(self.started + 60 * (index + 1) - time.monotonic(), 0))
            print(json.dumps(self.buckets[index].figures(index)), flush=True)
        for thread in threads:
            thread.join(90)
        return [bucket.figures(i) for i, bucket in enumerate(self.buckets)]


def served_stack() -> tuple[str, str, dict[str, int]]:
    from ops.deploy import terraform

    serve = state.read("serve")
    if not serve:
        raise SystemExit("nothing is served: `invoke serve --background` first (or give --url/--api-key)")
    key = terraform.outputs("local").get("api_key_value")
    return serve["predict_url"], key, {"endpoint": serve["endpoint_pid"], "api": serve["api_pid"]}


def growth(minutes: list[dict]) -> dict[str, float]:
    first, last = minutes[0]["rss_mib"], minutes[-1]["rss_mib"]
    return {name: round(last[name] - first[name], 1) for name in first if name in last}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=10, help="how long (default: 10)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default: 4)")
    parser.add_argument("--photos", type=int, default=20, help="photos cycled (default: 20)")
    parser.add_argument("--photo-dir", type=Path, default=PHOTOS,
                        help="a folder of dog photos, any depth (default: ../shared/data/dogs-10/Images)")
    parser.add_argument("--url", help="the predict URL (default: the served local stack's)")
    parser.add_argument("--api-key", help="with --url: the API key")
    parser.add_argument("--max-growth-mib", type=float, default=64.0,
                        help="largest RSS growth from the first to the last minute (default: 64)")
    parser.add_argument("--out", type=Path, default=None, help="default: .dogs/bench/soak_bench.json")
    args = parser.parse_args(argv)
    url, key, pids = (args.url, args.api_key, {}) if args.url else served_stack()
    photos = [p.read_bytes() for p in sorted(args.photo_dir.rglob("*.jpg"))[:: 97][: args.photos]]
    minutes = Soak(url, key, photos, pids, args.minutes, args.clients).run()
    grew = growth(minutes) if pids else {}
    errors = sum(sum(m["errors"].values()) for m in minutes)
    report = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}",
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "clients": args.clients,
              "url": url, "minutes": minutes, "rss_growth_mib": grew, "errors": errors,
              "max_growth_mib": args.max_growth_mib}
    out = args.out or state.home() / "bench" / "soak_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"{sum(m['requests'] for m in minutes)} requests, {errors} errors, RSS growth {grew} MiB; "
          f"figures in {out}")
    return 1 if errors or any(g > args.max_growth_mib for g in grew.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
