"""SageMaker's PyTorch inference container, run here: an artifact served by the image's own `serve`, offline.

What SageMaker does to start an endpoint's container, with the same open-source code inside:
- the artifact is unpacked as `/opt/ml/model` (here `<run>/opt/ml/model`; the toolkit honours
  `SAGEMAKER_BASE_DIR`), with the main variables the stack gives the model (`SAGEMAKER_PROGRAM`, workers: set here, not
  read back from a deployment);
- the image's entry point `serve` (sagemaker-pytorch-inference → TorchServe, Java frontend + Python
  workers) runs from a venv that holds only what the serving image holds (`ops.containers.container_env`);
- inside a network namespace with only loopback (SageMaker's network isolation: nothing installs, nothing
  downloads), its own PID namespace (the toolkit looks for *the* TorchServe process among all processes)
  and mount namespace (the toolkit writes its config to /etc/sagemaker-ts.properties, TorchServe its
  worker sockets to /tmp/.ts.sock.<port>: each run gets its own file bound there and its own /tmp, so
  two containers at once never meet). Run folders live in `.containers/runs/`.
Clients reach `/ping` and `/invocations` from threads that joined the namespace (`ops.containers.netns.enter`).
"""
from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

from ops.containers import container_env, netns
from training.errors import UserError

PORT = 8080  # SageMaker's container port (SAGEMAKER_BIND_TO_PORT default); alone in its namespace
READY_TIMEOUT_S = 180.0
TS_CONFIG = Path("/etc/sagemaker-ts.properties")  # where the toolkit writes TorchServe's config
_POOL_LOCK = threading.Lock()
_THREAD = threading.local()  # .namespace: the container namespace this thread has joined


def _enter(namespace: Path) -> None:
    netns.enter(namespace)
    _THREAD.namespace = namespace
RUN_PREFIX = "dogs-serving-"


class ContainerError(UserError, RuntimeError):
    """The serving container did not start, or stopped."""


@dataclass
class ServingContainer:
    """A running serving container: its request client and where its logs are."""
    root: Path
    namespace: Path
    process: subprocess.Popen
    log: Path
    environment: dict[str, str]
    started_s: float = 0.0  # process start to the first /ping 200
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def clients(self, count: int) -> ThreadPoolExecutor:
        """A pool of `count` threads inside the container's network namespace."""
        return ThreadPoolExecutor(count, thread_name_prefix="container-client", initializer=_enter,
                                  initargs=(self.namespace,))

    def _run(self, fn, *args):
        with _POOL_LOCK:
            if self._pool is None:  # callers outside the namespace share these (one connection each)
                self._pool = self.clients(16)
        return self._pool.submit(fn, *args).result()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None, timeout: float = 60) -> tuple[int, str, bytes]:
        """(status, content type, body); from a thread already in the namespace, or via one."""
        if getattr(_THREAD, "namespace", None) == self.namespace:  # a client thread of this container
            return self._request(method, path, body, headers, timeout)
        return self._run(self._request, method, path, body, headers, timeout)

    def _request(self, method, path, body, headers, timeout) -> tuple[int, str, bytes]:
        """One request on this thread's keep-alive connection (its timeout set for each request); a
        connection that failed is closed and dropped, and an idle one the server closed is reopened."""
        for attempt in (0, 1):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = self._local.connection = http.client.HTTPConnection("127.0.0.1", PORT)
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            try:
                connection.request(method, path, body=body, headers=dict(headers or {}))
                response = connection.getresponse()
                return response.status, response.getheader("Content-Type", ""), response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop_connection()  # once more on a new connection: a prediction is idempotent
                if attempt:
                    raise
            except BaseException:
                self._drop_connection()
                raise
        raise AssertionError("unreachable")

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
        self._local.connection = None

    def ping(self) -> int:
        return self.request("GET", "/ping", timeout=5)[0]

    def invoke(self, body: bytes, content_type: str,
               accept: str = "application/json") -> tuple[int, str, bytes]:
        headers = {"Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        return self.request("POST", "/invocations", body, headers)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def peak_rss_mb(self) -> float:
        """The largest total resident memory of the container's processes seen by `sample_rss`."""
        return getattr(self, "_peak_rss", 0.0) / 1e6

    def sample_rss(self) -> float:
        """Resident memory of every process in the container now (bytes); keeps the peak."""
        import psutil

        total = 0
        try:
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
        except psutil.Error:
            return 0.0
        self._peak_rss = max(getattr(self, "_peak_rss", 0), total)
        return float(total)


def container_environment(base_dir: Path, workers: int, extra: Mapping[str, str] | None = None) -> dict:
    """The container's environment: the image's PATH, the model's variables as the stack sets them
    (or as `extra` gives them: a deployed model's own, its /opt/ml paths under base_dir)."""
    venv = container_env.venv_dir("serving")
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(base_dir.parent.parent),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        # no pip configuration of this machine's (its local package mirrors would let an install at
        # start succeed offline, where the real container has no index at all)
        "PIP_CONFIG_FILE": os.devnull,
        "SAGEMAKER_BASE_DIR": str(base_dir),
        # as terraform/main.tf sets them for the model
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": str(base_dir / "model" / "code"),
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": "us-east-1",
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
    }
    if os.environ.get("JAVA_HOME"):
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    env.update({name: _rebased(value, base_dir) for name, value in (extra or {}).items()})
    return env


def _rebased(value: str, base_dir: Path) -> str:
    """A path under the container's /opt/ml (SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code, as the
    stack sets it) is that path under SAGEMAKER_BASE_DIR here."""
    if value == "/opt/ml" or value.startswith("/opt/ml/"):
        return str(base_dir) + value[len("/opt/ml"):]
    return value


def _unpack(model: Path, model_dir: Path) -> None:
    from ops.core.artifact import extract

    if model.is_dir():
        shutil.copytree(model, model_dir)
    elif model.is_file():
        extract(model, model_dir)
    else:
        raise ContainerError(f"{model}: no such model artifact")


@contextlib.contextmanager
def serve(model: Path, *, workers: int | None = None, env: Mapping[str, str] | None = None,
          ready_timeout_s: float = READY_TIMEOUT_S, echo=None) -> Iterator[ServingContainer]:
    """Start `model` (model.tar.gz or its folder) in the serving container; stop it on exit."""
    echo = echo or (lambda _: None)
    container_env.ensure("serving", echo=echo)
    container_env.java()
    _sweep_stale_runs()
    runs = container_env.HOME / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=RUN_PREFIX, dir=runs))
    (root / "owner").write_text(str(os.getpid()))
    namespace = process = container = None
    try:
        base = root / "opt" / "ml"
        _unpack(Path(model), base / "model")
        workers = workers or os.cpu_count() or 1
        environment = container_environment(base, workers, env)
        namespace = netns.create(root / "ns")
        config = root / "sagemaker-ts.properties"
        config.touch()
        (root / "tmp").mkdir()
        if not TS_CONFIG.exists():
            TS_CONFIG.touch()  # a mount point for each run's own file
        log = root / "container.log"
        command = [*netns.prefix(namespace), "unshare", "--mount", "--pid", "--fork", "--mount-proc",
                   "--kill-child", "--", "sh", "-c",
                   'mount --bind "$1" "$2" && mount --bind "$3" /tmp && exec serve', "sh",
                   str(config), str(TS_CONFIG), str(root / "tmp")]
        started = time.monotonic()
        with open(log, "wb") as out:
            process = subprocess.Popen(command, cwd=root, env=environment, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       preexec_fn=_die_with_parent)
        container = ServingContainer(root, namespace, process, log, environment)
        _wait_ready(container, started, ready_timeout_s)
        echo(f"serving container ready in {container.started_s:.1f} s ({workers} workers)")
        yield container
    finally:
        if container is not None and container._pool is not None:
            container._pool.shutdown(wait=False)
        if process is not None:
            _stop(process)
        if namespace is not None:
            netns.remove(namespace)
        if os.environ.get("DOGS_KEEP_CONTAINER_LOGS"):
            print(f"container files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _sweep_stale_runs() -> None:
    """Remove what runs whose process was killed left (their namespace file and folder)."""
    for folder in (container_env.HOME / "runs").glob(RUN_PREFIX + "*"):
        try:
            os.kill(int((folder / "owner").read_text()), 0)
            continue  # its owner still runs
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue  # not ours to judge (no owner file yet, or another user's)
        netns.remove(folder / "ns" / "net")
        shutil.rmtree(folder, ignore_errors=True)


def _wait_ready(container: ServingContainer, started: float, timeout_s: float) -> None:
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        if container.process.poll() is not None:
            raise ContainerError(f"the serving container exited ({container.process.returncode}) "
                                 f"before answering /ping:\n{container.log_tail()}")
        try:
            if container.ping() == 200:
                container.started_s = time.monotonic() - started
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise ContainerError(f"the serving container did not answer /ping within {timeout_s:g} s:\n"
                         f"{container.log_tail()}")


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the process that started it ends, however it ends
    (unshare's --kill-child passes it on to the container's PID 1, whose end ends the namespace).
    Linux sends it when the starting *thread* ends: start containers from a thread that outlives them."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the container's process group: unshare blocks it, but the toolkit's `serve` (PID 1 of
    the namespace) passes it on to TorchServe and exits, and the kernel ends the rest of its namespace.
    SIGKILL after 8 s (under ops.emulator.processes' 10 s, so a local endpoint stopping still cleans up)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(8)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def serve_command(model: str | None = None, *, workers: int | None = None, port: int | None = None,
                  photos: list[str] = (), echo=print) -> bool:
    """`invoke container.serve`: with `photos`, send each and print the answer, then stop (False if
    one got no answer); without, serve on a host port until Ctrl-C."""
    import json

    import ops.core.artifact as artifact

    path = artifact.model_path(model)
    with serve(path, workers=workers, echo=echo) as running:
        for name in photos:
            try:
                status, _, body = running.invoke(Path(name).read_bytes(), "application/x-image")
            except OSError as exc:  # a missing photo, or no answer in time
                echo(f"error: {name}: {exc}\n{running.log_tail(10)}")
                return False
            if status == 200:
                answer = json.loads(body)
                best = max(range(len(answer)), key=answer.__getitem__)
                echo(f"{name}: 200, class {best} ({answer[best]:.3f})")
            else:
                echo(f"{name}: {status} {artifact.error_message(body)}")
        if not photos:
            _serve_on_host(running, path, port or 0, echo)
    return True


def _serve_on_host(running: ServingContainer, path: Path, port: int, echo) -> None:
    forwarder = netns.Forwarder(running.namespace, PORT, port)
    echo(f"serving {path} at {forwarder.url} (/ping, /invocations); logs: {running.log}; Ctrl-C stops it")
    try:
        while running.process.poll() is None:
            time.sleep(0.5)
        raise ContainerError(f"the container stopped:\n{running.log_tail()}")
    except KeyboardInterrupt:
        echo("stopping")
    finally:
        forwarder.close()
