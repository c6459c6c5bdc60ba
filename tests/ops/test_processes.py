"""The process helpers every local server shares (ops/emulator/processes.py): free ports, "is this our process"."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

from ops.emulator import processes


def test_free_port_can_be_bound_and_then_is_in_use():
    port = processes.free_port()
    with socket.socket() as sock:
        sock.bind((processes.HOST, port))
        sock.listen()
        assert processes.port_in_use(port)
    assert not processes.port_in_use(port)


def test_runs_module_knows_our_process_by_its_module_and_arguments():
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", processes.HOST, "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10  # until the child has exec'd python (before, it is pytest's fork)
        while not processes.runs_module(proc.pid, "http.server", "--bind") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes.runs_module(proc.pid, "http.server", "--bind")
        assert not processes.runs_module(proc.pid, "ops.emulator.local_api")
        assert not processes.runs_module(proc.pid, "http.server", "serve")  # an argument it lacks
    finally:
        processes.stop_pid(proc.pid)
    assert not processes.alive(proc.pid)
    assert not processes.runs_module(proc.pid, "http.server")  # gone: not ours to stop
