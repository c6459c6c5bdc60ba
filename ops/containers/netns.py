"""Joining a container's network namespace from outside, as SageMaker's front end reaches a container that
has network isolation (loopback only): the sandbox (bubblewrap, `ops.containers.sandbox`) makes the
namespace; a thread of ours joins it with setns(2) through `/proc/<pid>/ns/net` (a network namespace
belongs to a thread), so its sockets open there. Root only (CAP_SYS_ADMIN), as here and in CI.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

from training.errors import UserError

CLONE_NEWNET = 0x40000000


class NamespaceError(UserError, RuntimeError):
    """A network namespace cannot be joined (not root, or its process is gone)."""


def enter(path: Path) -> None:
    """Move the calling thread into the namespace (its new sockets are opened there)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise NamespaceError(f"setns({path}): {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


class Forwarder:
    """A TCP port on this host's loopback piped to a port inside the namespace (inbound only: the
    namespace still has no route out). For people and tools outside it, such as curl."""

    def __init__(self, path: Path, inner_port: int, port: int = 0, host: str = "127.0.0.1"):
        import socketserver

        namespace = path

        class Pipe(socketserver.BaseRequestHandler):
            def handle(self):
                enter(namespace)  # this handler's own thread; the accepted socket stays outside
                import socket

                with socket.create_connection(("127.0.0.1", inner_port), timeout=30) as inner:
                    inner.settimeout(None)
                    self.request.settimeout(None)
                    _pipe_both_ways(self.request, inner)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server((host, port), Pipe)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        import threading

        self.thread = threading.Thread(target=self.server.serve_forever, name="netns-forwarder",
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _pipe_both_ways(a, b) -> None:
    """Copy bytes both ways until both sides have finished sending. One side's end of data (a client
    that half-closes after its request) is passed on as a half-close, so the other can still answer."""
    import selectors
    import socket

    with selectors.DefaultSelector() as selector:
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        while selector.get_map():
            for key, _ in selector.select():
                try:
                    data = key.fileobj.recv(65536)
                    if data:
                        key.data.sendall(data)
                        continue
                    key.data.shutdown(socket.SHUT_WR)
                except OSError:  # a reset on either side ends the pipe
                    return
                selector.unregister(key.fileobj)
