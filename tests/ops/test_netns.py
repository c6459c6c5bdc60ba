"""Network namespaces as network isolation gives them (made by the sandbox, bubblewrap): loopback only, no
route to the host, and a forwarder that carries a conversation in, including a client's half-close."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ops.containers import netns, sandbox

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="joining a namespace needs root"),
              pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")]
PYTHON = str(Path(sys.executable).resolve())  # the interpreter itself, seen at its real path inside

# Inside the namespace: read the whole request (until the client half-closes), answer it reversed.
REVERSER = """
import socket, sys
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    with conn:
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
        conn.sendall(data[::-1])
"""


def isolated(argv: list[str], **popen) -> tuple[subprocess.Popen, Path]:
    """`argv` in a sandbox with no network, and the file of its network namespace."""
    read, write = os.pipe()
    box = sandbox.Sandbox(read_only=[Path(sys.base_prefix)])
    process = subprocess.Popen(box.command(argv, write), pass_fds=(write,), **popen)
    os.close(write)
    return process, sandbox.namespace(sandbox.child_pid(read))


@pytest.fixture
def reverser():
    process, namespace = isolated([PYTHON, "-c", REVERSER, "8080"], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    yield namespace, 8080
    process.kill()
    process.wait()


def test_forwarder_passes_a_half_close_and_carries_the_answer_back(reverser):
    forwarder = netns.Forwarder(*reverser)
    try:
        port = int(forwarder.url.rsplit(":", 1)[1])
        payload = os.urandom(200_000)  # more than one read's worth each way
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(payload)
            client.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        assert answer == payload[::-1]
    finally:
        forwarder.close()


def test_namespace_cannot_reach_the_hosts_loopback():
    host = socket.create_server(("127.0.0.1", 0))
    try:
        port = host.getsockname()[1]
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
        started = time.monotonic()
        process, _ = isolated([PYTHON, "-c", probe], stderr=subprocess.PIPE, text=True)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode != 0 and "ConnectionRefusedError" in stderr
        assert time.monotonic() - started < 30
    finally:
        host.close()
