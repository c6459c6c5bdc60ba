"""The SageMaker images the project trains and serves in, from the installed sagemaker SDK's own table.

The config's `aws.pytorch_version` names the training image (`invoke train --algorithm pytorch`). The inference
image that serves an artifact (`invoke deploy`, `serving_version`) is one whose Python runs the runtime the
artifact carries (model.json `serving_runtime`: ONNX Runtime built for one Python), the configured version when
it does; an artifact without one is served by the torch it was saved with, as its model.json records, so a
model is loaded by its own torch; the config's version for an artifact that records neither. The built-in
image-classification algorithm trains and serves in one image of its own. Nothing here calls AWS: the SDK's
table is a file in its package.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from training.errors import UserError

SCOPES = ("training", "inference")
BUILTIN = "image-classification"  # the SDK's name of the built-in algorithm's image


@dataclass(frozen=True)
class PytorchVersion:
    """A PyTorch version with SageMaker images in both scopes, and each scope's Python version."""
    version: str
    py_versions: dict[str, str]  # scope -> e.g. py312

    def py_version(self, scope: str) -> str:
        return self.py_versions[scope]


def sdk():
    """The SageMaker Python SDK, imported on first use (slow to import; chatty at INFO)."""
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
    import sagemaker.fw_utils
    import sagemaker.image_uris

    return sagemaker


def pytorch_version(version: str) -> PytorchVersion:
    """`aws.pytorch_version` resolved (2.6 -> 2.6.0); an error unless it has training and inference images."""
    tables = sdk().image_uris.config_for_framework("pytorch")
    full = {scope: tables[scope].get("version_aliases", {}).get(version, version) for scope in SCOPES}
    if len(set(full.values())) == 1 and all(full[s] in tables[s]["versions"] for s in SCOPES):
        resolved = full["training"]
        return PytorchVersion(resolved, {s: tables[s]["versions"][resolved]["py_versions"][-1]
                                         for s in SCOPES})
    raise UserError(f"aws.pytorch_version {version!r}: SageMaker has no PyTorch training and inference "
                    f"images of it (the model is served by the version it was trained with); allowed: "
                    f"{', '.join(versions_in_both_scopes(tables))}")


def versions_in_both_scopes(tables: dict | None = None) -> list[str]:
    """PyTorch 2.x versions with SageMaker images for training and for inference, oldest first."""
    tables = tables or sdk().image_uris.config_for_framework("pytorch")
    both = set(tables["training"]["versions"]) & set(tables["inference"]["versions"])
    return sorted((v for v in both if v.startswith("2.")), key=_release)


def _release(version: str) -> tuple[int, ...]:
    """'2.6.0+cpu' -> (2, 6, 0): the numeric release, without a local build tag (packaging ships with the
    sagemaker SDK)."""
    from packaging.version import Version

    return Version(version).release


def serving_version(trained: str | None, configured: str,
                    runtime_python: str | None = None) -> tuple[str, str | None]:
    """The PyTorch version whose inference image serves an artifact saved by torch `trained` (carrying a
    runtime built for Python `runtime_python`, e.g. "3.11"), and a note when it is not the expected one.

    With a runtime: the configured version when its inference image runs that Python, else the newest that
    does (the note says so); the torch that saved the model only serves when the runtime cannot load.

    The image of the same major.minor when SageMaker has one (a patch release loads its own weights);
    else the newest image before it (a state dict or an ONNX file saved by a newer torch loads in an
    older one; the note says so); an artifact older than every image is an error. No recorded version
    (an artifact from before the record): the configured `aws.pytorch_version`."""
    if runtime_python:
        chosen = _of_python(runtime_python, configured)
        if chosen:
            return chosen
    if not trained:
        return configured, None
    versions = versions_in_both_scopes()
    wanted = _release(trained)
    same = [v for v in versions if _release(v)[:2] == wanted[:2]]
    if same:
        return same[-1], None
    older = [v for v in versions if _release(v) < wanted]
    if not older:
        raise UserError(f"the model was saved by torch {trained}, older than every SageMaker PyTorch "
                        f"inference image ({', '.join(versions)}); train it again")
    return older[-1], (f"the model was saved by torch {trained}, which has no SageMaker inference image: "
                       f"serving it with the newest before it, PyTorch {older[-1]}")


def _of_python(python: str, configured: str) -> tuple[str, str | None] | None:
    """The inference image of `python` ("3.11"): the configured one when it is, else the newest."""
    wanted = "py" + python.replace(".", "")
    if pytorch_version(configured).py_version("inference") == wanted:
        return pytorch_version(configured).version, None
    tables = sdk().image_uris.config_for_framework("pytorch")
    matching = [v for v in versions_in_both_scopes(tables)
                if wanted in tables["inference"]["versions"][v]["py_versions"]]
    if not matching:
        return None
    return matching[-1], (f"the model carries ONNX Runtime for Python {python}, which the inference image of "
                          f"aws.pytorch_version {configured} does not run: serving it with PyTorch "
                          f"{matching[-1]}, the newest image of Python {python}")


def retrieve(framework: str, region: str, **kwargs) -> str:
    """An image URI from the SDK's table; a version or region it lacks is a UserError."""
    try:
        return sdk().image_uris.retrieve(framework, region, **kwargs)
    except ValueError as exc:
        what = kwargs.get("instance_type", "")
        raise UserError(f"no SageMaker {framework} image for {region} {what}: "
                        f"{' '.join(str(exc).split())}") from None


def pytorch_image(region: str, version: str, scope: str, instance_type: str) -> str:
    """The SageMaker PyTorch image of `aws.pytorch_version` for a scope (CPU or GPU by instance type)."""
    resolved = pytorch_version(version)
    return retrieve("pytorch", region, version=resolved.version, py_version=resolved.py_version(scope),
                    instance_type=instance_type, image_scope=scope)


def builtin_image(region: str) -> str:
    """The built-in image-classification algorithm's image: it trains and serves (MXNet inside)."""
    return retrieve(BUILTIN, region)
