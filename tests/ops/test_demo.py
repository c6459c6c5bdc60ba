"""`invoke demo` end to end from a fresh work folder: photos → LST → training → Terraform → API →
predictions; mostly right, and nothing left running."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

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

    lines = run.stdout.splitlines()
    assert len(lines) <= 60, run.stdout  # one line a step, the table, the summary
    assert "Apply complete" not in run.stdout and "Creating..." not in run.stdout
    log = re.search(r"Terraform (\S+terraform\.log)", lines[-1])
    assert log and "Apply complete!" in open(log[1]).read()  # Terraform's output is in the log it names
    assert any(line.startswith("└") for line in lines[-4:])  # it still ends with the table


def test_each_step_is_one_line_with_its_results_and_time():
    from rich.console import Console

    from ops import demo

    console = Console(file=io.StringIO(), width=200)
    steps = demo.Steps(console)
    with steps("LST files (invoke lst)") as said:
        said.append("10 breeds")
    with steps("terraform apply") as said:
        log = demo.TerraformLog(Path(tempfile.mkdtemp()) / "terraform.log", steps)
        for line in ("Plan: 2 to add, 1 to change, 0 to destroy.\n", "a.b: Creating...\n",
                     "a.b: Creation complete after 0s [id=x]\n", "c.d: Modifications complete after 1s\n"):
            log.write(line)
        log.close()
        said.append(f"{log.total} resources changed")
    assert console.file.getvalue().splitlines() == ["✓ LST files (invoke lst): 10 breeds (0 s)",
                                                     "✓ terraform apply: 3 resources changed (0 s)"]
    assert "Creation complete" in log.path.read_text()  # everything Terraform said is kept


def test_a_failed_step_says_which():
    from rich.console import Console

    from ops import demo
    from training.errors import UserError

    with pytest.raises(demo.DemoError, match="^photos: no such folder$"):
        with demo.Steps(Console(file=io.StringIO()))("photos"):
            raise UserError("no such folder")
