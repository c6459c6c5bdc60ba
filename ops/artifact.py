"""Load a model artifact (model.tar.gz or its extracted folder) in-process, as the serving container does.

The model is loaded only through the artifact's own `code/inference.py` and the modules beside it, never
through this repository's `training` package, so what is tested here is what a container would run.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from training.errors import UserError

_loaded = 0  # distinct module names, so two artifacts can be loaded side by side
_IMPORT_LOCK = threading.Lock()  # one artifact's code imported at a time (sys.modules is swapped)


class ArtifactError(UserError, ValueError):
    """The artifact is missing, not a model.tar.gz, or lacks a part."""


@dataclass
class LoadedModel:
    folder: Path
    handlers: ModuleType  # the artifact's code/inference.py
    model: Any  # what its model_fn returned
    classes: list[dict]
    model_id: str
    description: dict = field(default_factory=dict)

    def invoke(self, body: bytes, content_type: str, accept: str = "application/json") -> bytes:
        """One request through input_fn → predict_fn → output_fn; their errors pass through."""
        data = self.handlers.input_fn(body, content_type)
        prediction = self.handlers.predict_fn(data, self.model)
        result = self.handlers.output_fn(prediction, accept)
        if isinstance(result, tuple):  # (body, content type) is allowed by the toolkit
            result = result[0]
        return result.encode() if isinstance(result, str) else bytes(result)

    def predict(self, body: bytes, content_type: str = "application/x-image") -> list[float]:
        return json.loads(self.invoke(body, content_type))

    # Batched serving (what a server that gathers concurrent requests calls), for artifacts whose
    # inference.py has `preprocess` and `forward`: invoke = respond(forward(prepare(body)[None])[0]).
    @property
    def batchable(self) -> bool:
        return hasattr(self.handlers, "preprocess") and hasattr(self.handlers, "forward")

    def prepare(self, body: bytes, content_type: str):
        """The network's input for one request body: a float32 array (3, H, W)."""
        return self.handlers.preprocess(self.handlers.input_fn(body, content_type), self.model)

    def forward(self, batch):
        """Probabilities (N, classes) for a float32 batch (N, 3, H, W)."""
        return self.handlers.forward(batch, self.model)

    def respond(self, probabilities, accept: str = "application/json") -> bytes:
        result = self.handlers.output_fn([float(p) for p in probabilities], accept)
        if isinstance(result, tuple):
            result = result[0]
        return result.encode() if isinstance(result, str) else bytes(result)


def load_artifact(path: str | Path, *, extract_to: str | Path | None = None) -> LoadedModel:
    """Load `path` (model.tar.gz, or a folder holding its contents)."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: no such model artifact; run `invoke train` first")
    folder = path if path.is_dir() else extract(path, extract_to)
    for part in ("model.json", "classes.json", "code/inference.py"):
        if not (folder / part).exists():
            raise ArtifactError(f"{path}: not a model artifact of this project (no {part})")
    handlers = _import_handlers(folder / "code")
    model = handlers.model_fn(str(folder))
    description = json.loads((folder / "model.json").read_text())
    classes = json.loads((folder / "classes.json").read_text())["classes"]
    return LoadedModel(folder, handlers, model, classes, description["model_id"], description)


def extract(archive: Path, target: str | Path | None = None) -> Path:
    """Extract a model.tar.gz safely (no paths outside the target) into `target` or a temp folder."""
    folder = Path(target) if target else Path(tempfile.mkdtemp(prefix="dogs-model-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(folder, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ArtifactError(f"{archive}: not a readable model.tar.gz ({exc})") from None
    return folder


def _import_handlers(code_dir: Path) -> ModuleType:
    """Import code/inference.py with code/ first on the path and its own `training` package.

    The project's `training` modules are set aside while it imports, then put back; the handlers
    keep references to the artifact's copies. Loads are serialised (two threads loading artifacts at
    once would put each other's modules back); load models before starting threads that import
    `training` themselves.
    """
    global _loaded
    with _IMPORT_LOCK:
        _loaded += 1
        saved = {name: mod for name, mod in sys.modules.items()
                 if name == "training" or name.startswith("training.")}
        for name in saved:
            del sys.modules[name]
        sys.path.insert(0, str(code_dir))
        try:
            spec = importlib.util.spec_from_file_location(f"dogs_artifact_inference_{_loaded}",
                                                          code_dir / "inference.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        finally:
            sys.path.remove(str(code_dir))
            for name in [n for n in sys.modules if n == "training" or n.startswith("training.")]:
                del sys.modules[name]
            sys.modules.update(saved)
