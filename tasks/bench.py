"""Serving figures: `invoke bench` (benchmarks/serving_bench.py)."""
from __future__ import annotations

from invoke import Exit

from tasks import options
from tasks.command import command


@command(parse={"requests": options.COUNT, "intra_op_threads": options.COUNT, "cold_runs": options.COUNT},
         help={"requests": "requests per stage and concurrency level (default 64)",
               "intra_op_threads": "the local endpoint's threads per forward pass (default: its own)",
               "cold_runs": "fresh interpreters timing the handler's cold import (default 7)",
               "photos": "a folder of your dog photos to send (any depth; default: the dogs-10 sample "
                         "beside the checkout, where the published figures were measured)",
               "out": "JSON file (default: .dogs/bench/serving_bench.json)"})
def bench(c, model=None, requests=64, intra_op_threads=None, cold_runs=7, photos=None, out=None):
    """Benchmark serving: bare forward, preprocessing, endpoint and API round trips, memory, cold start."""
    import importlib.util
    from pathlib import Path

    from ops.core.artifact import model_path
    from ops.core.config import PROJECT_ROOT

    script = PROJECT_ROOT / "benchmarks" / "serving_bench.py"
    if not script.is_file():
        raise Exit("error: invoke bench runs the benchmarks of a checkout of the project "
                   "(benchmarks/serving_bench.py); an installed package has none", code=2)
    spec = importlib.util.spec_from_file_location("serving_bench", script)
    serving_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serving_bench)
    serving_bench.bench(model_path(model) if model else None, requests=requests,
                        threads=intra_op_threads, cold_runs=cold_runs, out=Path(out) if out else None,
                        photos=Path(photos) if photos else None)
