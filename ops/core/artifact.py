"""Load a model artifact (model.tar.gz or its extracted folder) in-process, as the serving container does.

The model is loaded only through the artifact's own `code/inference.py` and the modules beside it, never
through this repository's `training` package, so what is tested here is what a container would run.
Requests (`LoadedModel.handle`) go through SageMaker's own handler path, as a TorchServe worker in the
PyTorch inference container calls it: TorchServe's request parsing and context (`ts.service`,
`ts.context`), then `sagemaker_pytorch_serving_container.handler_service.HandlerService` and the
toolkit's `Transformer` (content types, default accept, status codes, error answers). Only the Java
frontend and the worker's socket protocol are left out: `ops.containers.container_serving` runs those too.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import sys
import tarfile
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from training.errors import UserError

VERBOSE_JSON = "application/json; verbose=true"  # the answer with the known-breed fields
_loaded = 0  # distinct module names, so two artifacts can be loaded side by side
_IMPORT_LOCK = threading.RLock()  # one artifact's code imported at a time (sys.modules is swapped)
# A model artifact is a few files (weights, ONNX, JSON, code): far below these; a tar bomb is not.
MAX_MEMBERS = 10_000
MAX_UNPACKED_BYTES = 4 * 2**30
EXTRACTION_PREFIX = "dogs-model-"


class ArtifactError(UserError, ValueError):
    """The artifact is missing, not a model.tar.gz, or lacks a part."""


class InferenceFailed(Exception):
    """The model's handler answered a request with an error status (its body says why)."""

    def __init__(self, status_code: int, body: bytes, content_type: str):
        self.status_code, self.body, self.content_type = status_code, body, content_type
        super().__init__(f"{status_code}: {error_message(body)}")


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def error_message(body: bytes) -> str:
    """The message of a handler's JSON error body, else the body's first line."""
    text = body.decode("utf-8", "replace")
    try:
        return str(json.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return text.strip().splitlines()[0] if text.strip() else ""


@dataclass
class LoadedModel:
    folder: Path
    handlers: ModuleType  # the artifact's code/inference.py
    model: Any  # what its model_fn returned
    classes: list[dict]
    model_id: str
    description: dict = field(default_factory=dict)
    _worker: "_ToolkitWorker | None" = field(default=None, repr=False)
    _worker_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cleanup: "weakref.finalize | None" = field(default=None, repr=False)  # removes an extraction

    def close(self) -> None:
        """Unload: the folder load_artifact extracted the archive into is removed (also done when the
        model is garbage-collected or the interpreter exits; a killed process's, at the next load)."""
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> "LoadedModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def handle(self, body: bytes, content_type: str, accept: str | None = "application/json") -> Answer:
        """One request through SageMaker's handler path (one at a time, as a TorchServe worker)."""
        with self._worker_lock:
            if self._worker is None:
                self._worker = _ToolkitWorker(self.folder, self.handlers)
            return self._worker.handle(body, content_type, accept)

    def invoke(self, body: bytes, content_type: str, accept: str = "application/json") -> bytes:
        """The answer's body; an error status raises InferenceFailed."""
        answer = self.handle(body, content_type, accept)
        if answer.status != 200:
            raise InferenceFailed(answer.status, answer.body, answer.content_type)
        return answer.body

    def answer(self, body: bytes, content_type: str = "application/x-image",
               accept: str = "application/json") -> bytes:
        """One image's answer body, from any number of threads at once: the handler's own decode,
        preprocessing, forward pass and answer (through the toolkit, one at a time, for an artifact
        that is not `batchable`); a refusal raises the handler's error (its `status_code`)."""
        if not self.batchable:
            return self.invoke(body, content_type, accept)
        return self.respond(self.outputs(self.prepare(body, content_type)[None])[0], accept)

    def predict(self, body: bytes, content_type: str = "application/x-image") -> list[float]:
        """Probabilities for one image (`answer`'s)."""
        return json.loads(self.answer(body, content_type))

    def predict_verbose(self, body: bytes, content_type: str = "application/x-image") -> dict:
        """{probabilities[, known_breed_score, is_known_breed]} for one image, as the endpoint answers an
        Accept of `application/json; verbose=true` (`answer`'s)."""
        answer = json.loads(self.answer(body, content_type, VERBOSE_JSON))
        return answer if isinstance(answer, dict) else {"probabilities": answer}

    # The in-process endpoint's path (ops.emulator.local_endpoint.laned_invoke), for artifacts whose
    # inference.py has `preprocess` and `forward`: invoke = respond(forward(prepare(body)[None])[0]).
    @property
    def batchable(self) -> bool:
        return all(hasattr(self.handlers, name)
                   for name in ("preprocess", "forward", "decode_request", "response_type"))

    def prepare(self, body: bytes, content_type: str):
        """The network's input for one request body: a float32 array (3, H, W); a refused request
        raises the handler's own error (`status_code`, `body()`)."""
        return self.handlers.preprocess(self.handlers.decode_request(body, content_type), self.model)

    def forward(self, batch):
        """Probabilities (N, classes) for a float32 batch (N, 3, H, W)."""
        return self.outputs(batch)[:, :len(self.classes)]

    def outputs(self, batch):
        """The handler's forward rows (N, classes [+ 1]): probabilities [, known-breed score]."""
        return self.handlers.forward(batch, self.model)

    def respond(self, outputs, accept: str = "application/json") -> bytes:
        """The answer's body for one `outputs` row, as the handler's transform_fn would write it."""
        self.handlers.response_type(accept)
        if hasattr(self.handlers, "answer"):
            return self.handlers.answer(outputs, self.model, accept).encode()
        return json.dumps([float(p) for p in outputs]).encode()


class _ToolkitWorker:
    """What a TorchServe worker of the PyTorch inference container runs, minus its socket."""

    def __init__(self, folder: Path, handlers: ModuleType):
        import ts
        from sagemaker_pytorch_serving_container.handler_service import HandlerService
        from ts.context import Context

        self.context = Context("model", str(folder), {}, 1, None, ts.__version__)
        self.service = HandlerService()
        with _as_user_module(handlers), _artifact_code(folder / "code"):
            self.service.initialize(self.context)

    def handle(self, body: bytes, content_type: str, accept: str | None) -> Answer:
        from ts.service import Service

        headers = [{"name": b"Content-Type", "value": (content_type or "").encode("latin-1")}]
        if accept:
            headers.append({"name": b"Accept", "value": accept.encode("latin-1")})
        batch = [{"requestId": b"0", "headers": headers,
                  "parameters": [{"name": "body", "value": body, "contentType": content_type}]}]
        processors, data, ids = Service.retrieve_data_for_inference(batch)
        self.context.request_ids, self.context.request_processor = ids, processors
        result = self.service.handle(data, self.context)[0]
        status, _ = self.context.get_response_status(0)
        answer_type = self.context.get_response_content_type(0) or "text/plain"
        return Answer(int(status), answer_type, result.encode() if isinstance(result, str) else bytes(result))


@contextlib.contextmanager
def _as_user_module(handlers: ModuleType):
    """The toolkit imports the user module by name (SAGEMAKER_PROGRAM, default `inference`): let that
    name be this artifact's module while it loads; PYTHONPATH, which it extends, is put back."""
    from sagemaker_inference import environment

    name = environment.Environment().module_name
    saved_module, saved_path = sys.modules.get(name), os.environ.get("PYTHONPATH")
    with _IMPORT_LOCK:
        sys.modules[name] = handlers
        try:
            yield
        finally:
            if saved_module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = saved_module
            if saved_path is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved_path


def recorded_artifact() -> Path:
    """The model.tar.gz `invoke train` recorded in the project state."""
    import ops.core.state as state

    local = (state.trained() or state.TrainedArtifact()).local_file()
    if local is not None:
        return local
    raise ArtifactError("no trained model here: run `invoke train`, or give --model PATH/model.tar.gz")


def model_path(option: str | Path | None) -> Path:
    """What `--model` names on this machine: a model.tar.gz (or its folder), or the id of the model
    `invoke train` recorded; nothing: that recorded model."""
    import ops.core.state as state

    if not option:
        return recorded_artifact()
    if Path(option).exists():
        return Path(option)
    artifact = state.trained()
    if artifact and str(option) == artifact.model_id and artifact.local_path:
        return Path(artifact.local_path)
    raise ArtifactError(f"--model {option}: no such model artifact, nor the id of the model `invoke train` "
                        "recorded here")


def load_artifact(path: str | Path, *, extract_to: str | Path | None = None) -> LoadedModel:
    """Load `path` (model.tar.gz, or a folder holding its contents)."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: no such model artifact; run `invoke train` first")
    owned = path.is_file() and extract_to is None
    folder = path if path.is_dir() else extract(path, extract_to)
    try:
        for part in ("model.json", "classes.json", "code/inference.py"):
            if not (folder / part).exists():
                raise ArtifactError(f"{path}: not a model artifact of this project (no {part})")
        handlers = _import_handlers(folder / "code")
        with _artifact_code(folder / "code"):
            model = handlers.model_fn(str(folder))
        description = json.loads((folder / "model.json").read_text())
        classes = json.loads((folder / "classes.json").read_text())["classes"]
    except BaseException:
        if owned:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    loaded = LoadedModel(folder, handlers, model, classes, description["model_id"], description)
    if owned:
        loaded._cleanup = weakref.finalize(loaded, shutil.rmtree, folder, True)
    return loaded


def check_members(tar: tarfile.TarFile, archive: Path) -> None:
    """Refuse, before writing anything, an archive no model artifact could be: too many members, too
    much data once unpacked, names outside its folder, or members other than files and folders (links,
    devices, FIFOs). `extractall(filter="data")` below guards the writing itself as well."""
    members = size = 0
    for member in tar:  # headers only; stops at the first member over a cap
        members, size = check_member(member, archive, members, size)


def check_member(member: tarfile.TarInfo, archive: Path | str, members: int, size: int) -> tuple[int, int]:
    """One member of check_members (also for archives read as a stream, e.g. from S3): the running
    member count and unpacked size, including this member."""
    members += 1
    size += max(member.size, 0)
    if members > MAX_MEMBERS:
        raise ArtifactError(f"{archive}: more than {MAX_MEMBERS} members; not a model artifact")
    if size > MAX_UNPACKED_BYTES:
        raise ArtifactError(f"{archive}: more than {MAX_UNPACKED_BYTES / 2**30:.0f} GiB unpacked; "
                            "not a model artifact")
    if member.name.startswith("/") or ".." in Path(member.name).parts:
        raise ArtifactError(f"{archive}: member {member.name!r} points outside the model folder")
    if not (member.isfile() or member.isdir()):
        raise ArtifactError(f"{archive}: member {member.name!r} is a link or special file; model "
                            "artifacts hold only files and folders")
    return members, size


def extract(archive: Path, target: str | Path | None = None) -> Path:
    """Extract a model.tar.gz safely (no paths outside the target) into `target`, or into a temp folder
    named for this process (`dogs-model-<pid>-...`: `remove_stale_extractions` finds a killed one's)."""
    if target is None:
        remove_stale_extractions()
        folder = Path(tempfile.mkdtemp(prefix=f"{EXTRACTION_PREFIX}{os.getpid()}-"))
    else:
        folder = Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            check_members(tar, archive)
            tar.extractall(folder, filter="data")
    except BaseException as exc:
        if target is None:
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, (tarfile.TarError, OSError)):
            raise ArtifactError(f"{archive}: not a readable model.tar.gz ({exc})") from None
        raise
    return folder


def remove_stale_extractions(temp_dir: str | Path | None = None) -> list[Path]:
    """Remove the temp extraction folders of processes that are gone (killed before they could);
    returns them."""
    removed = []
    for folder in Path(temp_dir or tempfile.gettempdir()).glob(f"{EXTRACTION_PREFIX}*-*"):
        pid = folder.name[len(EXTRACTION_PREFIX):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _import_handlers(code_dir: Path) -> ModuleType:
    """Import code/inference.py as a module of its own, with the artifact's code (see _artifact_code)."""
    global _loaded
    with _artifact_code(code_dir):
        _loaded += 1
        spec = importlib.util.spec_from_file_location(f"dogs_artifact_inference_{_loaded}",
                                                      code_dir / "inference.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def vendored_runtimes(code_dir: Path) -> set[str]:
    """The top-level packages of the wheels unpacked in code/ (training.serving_runtime: onnxruntime)."""
    return {name for top_level in code_dir.glob("*.dist-info/top_level.txt")
            for name in top_level.read_text().split() if (code_dir / name).is_dir()}


@contextlib.contextmanager
def _artifact_code(code_dir: Path):
    """While inside, imports of the packages and modules in code/ (its `training`, the vendored
    `efficientnet_lite_pytorch`) resolve to the artifact's copies, as in the container, where code/ is
    all there is. The project's own copies are set aside, then put back; objects made inside (the
    handlers, the network model_fn builds) keep the artifact's. Serialised (two threads at once would
    put each other's modules back); load models before starting threads that import `training`."""
    runtimes = vendored_runtimes(code_dir)
    names = {p.stem for p in code_dir.glob("*.py")} | {
        p.name for p in code_dir.iterdir() if (p / "__init__.py").is_file()} - runtimes

    def ours(module_name: str) -> bool:
        return module_name.split(".")[0] in names

    with _IMPORT_LOCK:
        for name in runtimes:  # this environment's copy, when it has one: two copies of one compiled
            with contextlib.suppress(ImportError):  # extension cannot share a process
                importlib.import_module(name)
        saved = {name: mod for name, mod in sys.modules.items() if ours(name)}
        for name in saved:
            del sys.modules[name]
        sys.path.insert(0, str(code_dir))
        try:
            yield
        finally:
            sys.path.remove(str(code_dir))
            for name in [n for n in sys.modules if ours(n)]:
                del sys.modules[name]
            sys.modules.update(saved)
