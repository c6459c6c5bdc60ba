"""`invoke demo` end to end from a fresh work folder: photos → LST → training → Terraform → API →
predictions; mostly right, and nothing left running."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from ops.core.config import PROJECT_ROOT


@pytest.mark.slow
def test_demo_predicts_most_test_photos_right_and_stops_everything(tmp_path, dogs10):
    env = {**os.environ, "DOGS_HOME": str(tmp_path / "home"), "COLUMNS": "120"}
    run = subprocess.run([sys.executable, "-m", "invoke", "demo", "--data", str(dogs10)],
                         cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    match = re.search(r"(\d+) of (\d+) test photos right", run.stdout)
    assert match, run.stdout[-2000:]
    right, total = int(match[1]), int(match[2])
    assert total == 20 and right >= 0.7 * total
    state = json.loads((tmp_path / "home" / "state.json").read_text())
    assert not state.get("serve") and not state.get("local_aws")  # everything stopped
    assert "beagle" in run.stdout  # breed names, not class ids
