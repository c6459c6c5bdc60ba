"""The containers' framework layer is this environment's torch, torchvision, numpy and Pillow (with what
they require), hard-linked: one copy on disk, and nothing else of the project's requirements."""
from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import pytest

from ops.containers import container_env


@pytest.fixture(scope="module")
def layer(tmp_path_factory):
    home = tmp_path_factory.mktemp("containers")
    saved = container_env.HOME
    container_env.HOME = home
    try:
        yield container_env.ensure_layer(echo=lambda _: None)
    finally:
        container_env.HOME = saved


def test_the_layer_holds_the_framework_and_what_it_requires_only(layer):
    held = {p.name.split("-")[0].lower().replace("_", "-") for p in layer.glob("*.dist-info")}
    assert {"torch", "torchvision", "numpy", "pillow", "typing-extensions"} <= held
    assert not held & {"efficientnet-lite-pytorch", "onnxruntime", "boto3", "invoke", "moto"}


def test_its_files_are_the_environments_files_not_copies(layer):
    torch = metadata.distribution("torch")
    library = next(Path(torch.locate_file(f)) for f in torch.files if str(f).endswith("libtorch_cpu.so"))
    linked = layer / "torch" / "lib" / "libtorch_cpu.so"
    assert linked.is_file() and not linked.is_symlink()  # a real file: a read-only mount of it sees it
    if os.stat(library).st_dev == os.stat(layer).st_dev:
        assert os.stat(linked).st_ino == os.stat(library).st_ino


def test_a_second_ensure_keeps_the_layer(layer, monkeypatch):
    marker = layer / "torch" / "version.py"
    before = os.stat(marker).st_ino
    monkeypatch.setattr(container_env, "HOME", layer.parent)
    assert container_env.ensure_layer(echo=lambda _: pytest.fail("relinked")) == layer
    assert os.stat(marker).st_ino == before
