"""`invoke evaluate` on the command line: bad options are one line and exit status 2."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def invoke(*args, env=None):
    return subprocess.run([sys.executable, "-m", "invoke", "evaluate", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("args, message", [
    ((), "error: give --lst TEST.lst and --data IMAGES_DIR (or --compare A --compare B)"),
    (("--lst", "x.lst", "--data", ".", "--via", "carrier-pigeon"),
     "error: --via carrier-pigeon: choose api, endpoint or model"),
    (("--lst", "x.lst", "--data", ".", "--via", "api", "--url", ""),
     "error: no API key: give --api-key, or deploy first (`invoke deploy --target local`)"),
    (("--lst", "x.lst", "--data", ".", "--via", "api", "--api-key", "k"),
     "error: the local API is not running: start it with `invoke serve`"),
    (("--lst", "x.lst", "--data", ".", "--via", "api", "--target", "moon"),
     "error: --target: 'moon' is not allowed; allowed: local, aws"),
    (("--lst", "x.lst", "--data", "."),
     "error: no trained model here: run `invoke train`, or give --model PATH/model.tar.gz"),
    (("--lst", "x.lst", "--data", ".", "--via", "endpoint"),
     "error: --via endpoint needs --endpoint (the SageMaker endpoint name)"),
    (("--lst", "x.lst", "--data", ".", "--workers", "0"),
     "error: --workers: 0 is not allowed; allowed: an integer >= 1"),
    (("--lst", "x.lst", "--data", ".", "--min-confidence", "lots"),
     "error: --min-confidence: 'lots' is not a number"),
    (("--compare", "a"), "error: --compare takes two report folders: --compare A --compare B"),
], ids=["nothing", "bad-via", "api-no-key", "api-not-served", "api-bad-target", "no-model",
        "endpoint-no-name", "zero-workers", "bad-confidence", "one-report"])
def test_bad_options_are_one_line_and_status_2(args, message, tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DOGS_API_URL", "DOGS_API_KEY")}
    env["DOGS_HOME"] = str(tmp_path)
    proc = invoke(*args, env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == message


def test_api_evaluation_on_the_command_line(eval_set, tmp_path):
    """The whole command against a served API: exit 0, headline printed, report written."""
    import hashlib
    import os

    from tests.fixtures.evaluation import api_app, make_table, serving

    lst, data, classes, entries = eval_set
    table = make_table(entries, data, len(classes), seed=2)
    env = dict(os.environ, DOGS_HOME=str(tmp_path), DOGS_API_KEY="k1")
    with serving(api_app(lambda b: table[hashlib.sha256(b).hexdigest()], "m9", "k1")) as url:
        proc = invoke("--lst", str(lst), "--data", str(data), "--via", "api", "--url",
                      url + "/beta", "--out", str(tmp_path / "r"), "--no-progress", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Evaluation of m9 via api" in proc.stdout and "top-1 accuracy" in proc.stdout
    assert (tmp_path / "r" / "report.html").exists()
    assert (tmp_path / "eval-cache.sqlite").exists()  # the default cache lives in DOGS_HOME
