"""SageMaker's PyTorch inference container, run here: an artifact served by the image's own `serve`, offline.

What SageMaker does to start an endpoint's container, with the same open-source code inside:
- the artifact is unpacked as `/opt/ml/model`, with the variables the stack gives the model
  (`SAGEMAKER_PROGRAM`, workers and threads as terraform/main.tf sets them for a real-time endpoint, or
  a deployed model's own);
- the image's entry point `serve` (sagemaker-pytorch-inference → TorchServe, Java frontend + Python
  workers) runs from a venv that holds only what the serving image holds (`ops.containers.container_env`);
- in a sandbox (`ops.containers.sandbox`, bubblewrap): no network but loopback (SageMaker's network
  isolation: nothing installs, nothing downloads), its own PID namespace (the toolkit looks for *the*
  TorchServe process among all processes), no capabilities, a read-only root holding only the image,
  writable only its model folder, its own /tmp (TorchServe's worker sockets, /tmp/.ts.sock.<port>) and
  the toolkit's config file /etc/sagemaker-ts.properties — each run's own, so two containers at once
  never meet. Run folders live in `.containers/runs/`.
Clients reach `/ping` and `/invocations` from threads that joined its network namespace
(`ops.containers.netns.enter`).
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
from concurrent.futures import BrokenExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

from ops.containers import container_env, netns, sandbox
from training.errors import UserError

PORT = 8080  # SageMaker's container port (SAGEMAKER_BIND_TO_PORT default); alone in its namespace
READY_TIMEOUT_S = 180.0
TS_CONFIG = Path("/etc/sagemaker-ts.properties")  # where the toolkit writes TorchServe's config
MODEL_DIR = "/opt/ml/model"  # where SageMaker unpacks the artifact
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
        return _tail(self.log, lines)

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


def container_environment(workers: int, extra: Mapping[str, str] | None = None) -> dict:
    """The container's environment: the image's PATH, the model's variables as the stack sets them
    (or as `extra` gives them: a deployed model's own)."""
    venv = container_env.venv_dir("serving")
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/tmp",  # writable, as the image's /root is; nothing else is
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        # no pip configuration of this machine's (its local package mirrors would let an install at
        # start succeed offline, where the real container has no index at all)
        "PIP_CONFIG_FILE": os.devnull,
        # as terraform/main.tf sets them for the model
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": f"{MODEL_DIR}/code",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": "us-east-1",
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
        # a real-time endpoint's: each worker's share of the cores (workers x threads = vCPUs)
        **dict.fromkeys(("DOGS_INFERENCE_THREADS", "OMP_NUM_THREADS"),
                        str(max(1, (os.cpu_count() or 1) // workers))),
    }
    if os.environ.get("JAVA_HOME"):
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    env.update(extra or {})
    return env


def container_sandbox(root: Path) -> sandbox.Sandbox:
    """What the serving container may see: the serving image (read-only) and Java, its model and tmp
    folders (writable, `root`/model and `root`/tmp) and the toolkit's TorchServe configuration file;
    no network."""
    java_home = [Path(os.environ["JAVA_HOME"])] if os.environ.get("JAVA_HOME") else []
    return sandbox.Sandbox(read_only=[*container_env.image_paths("serving"), *java_home],
                           writable={MODEL_DIR: root / "model", "/tmp": root / "tmp"},
                           files={str(TS_CONFIG): root / "sagemaker-ts.properties"},
                           cwd="/tmp", hostname="model")


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
    sandbox.bwrap()
    _sweep_stale_runs()
    runs = container_env.HOME / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=RUN_PREFIX, dir=runs))
    (root / "owner").write_text(str(os.getpid()))
    process = container = None
    try:
        _unpack(Path(model), root / "model")
        (root / "tmp").mkdir()
        (root / "sagemaker-ts.properties").touch()
        workers = workers or os.cpu_count() or 1
        environment = container_environment(workers, env)
        log = root / "container.log"
        info_read, info_write = os.pipe()
        started = time.monotonic()
        try:
            with open(log, "wb") as out:
                process = subprocess.Popen(container_sandbox(root).command(["serve"], info_write),
                                           cwd=root, env=environment, stdin=subprocess.DEVNULL,
                                           stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                           pass_fds=(info_write,))
        finally:
            os.close(info_write)
        try:
            pid = sandbox.child_pid(info_read)
        except sandbox.SandboxError as exc:
            process.wait(10)
            raise ContainerError(f"{exc}:\n{_tail(log)}") from None
        container = ServingContainer(root, sandbox.namespace(pid), process, log, environment)
        _wait_ready(container, started, ready_timeout_s)
        echo(f"serving container ready in {container.started_s:.1f} s ({workers} workers)")
        yield container
    finally:
        if container is not None and container._pool is not None:
            container._pool.shutdown(wait=False)
        if process is not None:
            _stop(process)
        if os.environ.get("DOGS_KEEP_CONTAINER_LOGS"):
            print(f"container files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _sweep_stale_runs() -> None:
    """Remove the folders of runs whose process was killed."""
    for folder in (container_env.HOME / "runs").glob(RUN_PREFIX + "*"):
        try:
            os.kill(int((folder / "owner").read_text()), 0)
            continue  # its owner still runs
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue  # not ours to judge (no owner file yet, or another user's)
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
        except (OSError, BrokenExecutor):  # not listening yet, or its namespace already gone
            pass
        time.sleep(0.25)
    raise ContainerError(f"the serving container did not answer /ping within {timeout_s:g} s:\n"
                         f"{container.log_tail()}")


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the container's process group (bubblewrap, the toolkit's `serve`, TorchServe): when
    bubblewrap ends, its --die-with-parent ends the sandbox's first process, and the kernel the rest of
    its PID namespace, whatever left the group. SIGKILL after 8 s (under ops.emulator.processes' 10 s, so
    a local endpoint stopping still cleans up)."""
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
