"""Network namespaces as network isolation gives them: loopback only, no route to the host, and a
forwarder that carries a conversation in, including a client's half-close."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from ops.containers import netns

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

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


@pytest.fixture
def namespace(tmp_path):
    path = netns.create(tmp_path / "ns")
    yield path
    netns.remove(path)


@pytest.fixture
def reverser(namespace):
    process = subprocess.Popen([*netns.prefix(namespace), sys.executable, "-c", REVERSER, "8080"],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    yield 8080
    process.kill()
    process.wait()


def test_forwarder_passes_a_half_close_and_carries_the_answer_back(namespace, reverser):
    forwarder = netns.Forwarder(namespace, reverser)
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


def test_namespace_cannot_reach_the_hosts_loopback(namespace):
    host = socket.create_server(("127.0.0.1", 0))
    try:
        port = host.getsockname()[1]
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
        started = time.monotonic()
        result = subprocess.run([*netns.prefix(namespace), sys.executable, "-c", probe],
                                capture_output=True, text=True)
        assert result.returncode != 0 and "ConnectionRefusedError" in result.stderr
        assert time.monotonic() - started < 30
    finally:
        host.close()
