"""Network namespaces with no route out (loopback only), as SageMaker's network isolation gives a container.

A namespace is kept in a file (`unshare --net=FILE`); processes start in it with `nsenter --net=FILE`, and
a thread of ours joins it with setns(2) (a network namespace belongs to a thread), so its sockets open
there. Root only (CAP_SYS_ADMIN), as here and in CI.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from training.errors import UserError

CLONE_NEWNET = 0x40000000


class NamespaceError(UserError, RuntimeError):
    """A network namespace cannot be made or joined (not root, no unshare/nsenter/ip)."""


def create(folder: Path | None = None) -> Path:
    """A new network namespace with only loopback, up; returns the file that holds it."""
    for tool in ("unshare", "nsenter", "ip"):
        if not shutil.which(tool):
            raise NamespaceError(f"{tool} is missing: apt-get install util-linux iproute2")
    if os.geteuid() != 0:
        raise NamespaceError("network namespaces need root (SageMaker's network isolation is emulated "
                             "with one); run as root")
    folder = Path(folder or tempfile.mkdtemp(prefix="dogs-netns-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "net"
    path.touch()
    for cmd in (["unshare", f"--net={path}", "true"], [*prefix(path), "ip", "link", "set", "lo", "up"]):
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode:
            remove(path)
            raise NamespaceError(f"{' '.join(cmd)}: {result.stderr.strip()}")
    return path


def prefix(path: Path) -> list[str]:
    """The command prefix that runs a program inside the namespace."""
    return ["nsenter", f"--net={path}", "--"]


def enter(path: Path) -> None:
    """Move the calling thread into the namespace (its new sockets are opened there)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise NamespaceError(f"setns({path}): {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True)
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass


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
