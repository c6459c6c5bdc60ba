"""The SageMaker images the project trains and serves in, from the installed sagemaker SDK's own table.

One PyTorch version (config `aws.pytorch_version`) names both the training image (`invoke train
--algorithm pytorch`) and the inference image that serves its artifact (`invoke deploy`), so a model trained
there is loaded by the torch it was saved with (deploy reads the config's version, not the artifact's). The built-in image-classification algorithm trains and serves in
one image of its own. Nothing here calls AWS: the SDK's table is a file in its package.
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
    return sorted((v for v in both if v.startswith("2.")), key=lambda v: tuple(map(int, v.split("."))))


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
