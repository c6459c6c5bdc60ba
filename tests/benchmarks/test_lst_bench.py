import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "lst_bench.py"


def test_lst_bench_prints_and_writes_figures(small_images, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("lst_bench", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"

    figures = bench.main(["--data", str(small_images), "--repeat", "1", "--out", str(out)])

    assert json.loads(out.read_text()) == figures
    assert figures["photos"] == 18 and figures["render_seconds_median"] > 0
    assert "18 photos scanned + rendered" in capsys.readouterr().out
