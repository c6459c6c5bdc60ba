"""Start and stop the local stack's servers (local AWS, local endpoint, local API) as child processes:
the one home of the free-port, "is this our process" and stop helpers."""
from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ops.core.config import PROJECT_ENV, PROJECT_ROOT, project_root
from training.errors import UserError


class ServerError(UserError, RuntimeError):
    """A local server did not start (its log says why)."""


HOST = "127.0.0.1"
# The processes that run someone else's code (an artifact's inference.py, loaded in-process) start with
# what a SageMaker model container has, not the operator's environment (model_server_environment).
MODEL_SERVERS = ("ops.emulator.local_endpoint",)
# What a model server keeps of this shell: where programs and the project's folders are, the locale,
# the trust settings; nothing that authenticates anyone.
PASSED_ON = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "JAVA_HOME", "AWS_CA_BUNDLE",
             "DOGS_HOME", "DOGS_CONTAINERS_HOME", "DOGS_WHEELS", "DOGS_KEEP_CONTAINER_LOGS",
             "DOGS_INFERENCE_BACKEND")


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def alive(pid: int) -> bool:
    """True while `pid` exists (a process of another user's included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def runs_module(pid: int, module: str, *args: str) -> bool:
    """Guard against a recycled pid: True when `pid` runs `python -m module` with every one of `args`
    among its arguments. A pid that is gone is not ours; without /proc (macOS) the record is trusted."""
    if not Path("/proc/self").is_dir():
        return alive(pid)
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return all(word.encode() in argv for word in (module, *args))


@dataclass
class Server:
    name: str
    url: str
    pid: int
    log: Path

    def stop(self, timeout: float = 10) -> None:
        stop_pid(self.pid, timeout)


def stop_pid(pid: int, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; a pid that is already gone is fine."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:  # not our child: poll for its end
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def model_server_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A model server's environment: PASSED_ON of this shell's, the local AWS's own test credentials,
    AWS's credential and config files pointed at nothing (no profile of the operator's is found) and no
    instance metadata, then `extra`. No other variable of the operator's: none of their AWS keys,
    session tokens, profiles or API keys reach the artifact's code."""
    from ops.emulator.local_aws import CREDENTIALS

    env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    env.update(CREDENTIALS, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true")
    return {**env, **(extra or {})}


def start(name: str, module: str, args: list[str], port: int, health_path: str, log_dir: Path,
          env: dict[str, str] | None = None, timeout: float = 180, expect_status: int = 200,
          ca_bundle: Path | None = None) -> Server:
    """Run `python -m module args` in the background (log: `log_dir/<name>.log`) and wait until GET
    health_path answers `expect_status`; with `ca_bundle`, the server speaks HTTPS with a certificate
    that bundle trusts. An early exit or no answer within `timeout` is a ServerError with the log's tail.
    `env` adds to this shell's environment, or for a model server to model_server_environment()."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    project = {PROJECT_ENV: str(project_root())}  # the user's project (its .dogs/), passed on by name
    environment = (model_server_environment({**project, **(env or {})}) if module in MODEL_SERVERS
                   else {**os.environ, **project, **(env or {})})
    with open(log, "ab") as fh:
        # cwd: the code's folder to import from
        proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT,
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=environment, start_new_session=True)
    url = f"{'https' if ca_bundle else 'http'}://{HOST}:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"{name} exited with status {proc.returncode} at start: "
                              f"{_tail(log)} (log: {log})")
        if answers(url + health_path, expect_status, ca_bundle):
            return Server(name, url, proc.pid, log)
        time.sleep(0.2)
    stop_pid(proc.pid)
    raise ServerError(f"{name} did not answer on {url} within {timeout:.0f} s (log: {log})")


def answers(url: str, expect_status: int = 200, ca_bundle: str | Path | None = None,
            timeout: float = 2) -> bool:
    """True when GET url answers expect_status (over HTTPS trusting only `ca_bundle`, when given)."""
    try:
        context = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else None
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return resp.status == expect_status
    except urllib.error.HTTPError as exc:
        return exc.code == expect_status
    except (OSError, ValueError):
        return False


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""
