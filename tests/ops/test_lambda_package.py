"""The Lambda zip is byte-for-byte reproducible, and its hash follows the code."""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from ops.deploy import lambda_package


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "lambda"
    shutil.copytree(lambda_package.SOURCE, src, ignore=shutil.ignore_patterns("__pycache__"))
    return src


def test_same_sources_give_the_same_bytes_whatever_the_mtimes(source, tmp_path):
    first = lambda_package.build(tmp_path / "a", source)
    for path in source.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    (source / "handler.py").chmod(0o755)
    second = lambda_package.build(tmp_path / "b", source)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256_b64 == second.sha256_b64


def test_hash_is_base64_sha256_of_the_zip(source, tmp_path):
    package = lambda_package.build(tmp_path / "out", source)
    digest = hashlib.sha256(package.path.read_bytes()).digest()
    assert package.sha256_b64 == base64.b64encode(digest).decode()


def test_code_change_changes_the_hash(source, tmp_path):
    before = lambda_package.build(tmp_path / "a", source)
    (source / "handler.py").write_text((source / "handler.py").read_text() + "\n# changed\n")
    assert lambda_package.build(tmp_path / "b", source).sha256_b64 != before.sha256_b64


def test_entries_are_sorted_fixed_and_without_caches(source, tmp_path):
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"cache")
    (source / "pkg").mkdir()
    (source / "pkg" / "b.py").write_text("B = 1\n")
    (source / "pkg" / "a.py").write_text("A = 1\n")
    (source / "stray.pyc").write_bytes(b"x")
    package = lambda_package.build(tmp_path / "out", source)
    with zipfile.ZipFile(package.path) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert "predict_lambda/handler.py" in names and "predict_lambda/pkg/a.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {i.date_time for i in infos} == {lambda_package.EPOCH}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_missing_handler_is_a_user_error(tmp_path):
    (tmp_path / "lambda").mkdir()
    with pytest.raises(lambda_package.LambdaPackageError, match="no handler.py"):
        lambda_package.build(tmp_path / "out", tmp_path / "lambda")


def test_the_runtime_imports_the_handler_from_the_zip_alone(tmp_path):
    """As the Lambda runtime does: the zip's root on the import path, `predict_lambda.handler.handler`."""
    package = lambda_package.build(tmp_path / "out", lambda_package.SOURCE)
    root = tmp_path / "task"
    with zipfile.ZipFile(package.path) as zf:
        zf.extractall(root)
    code = "import predict_lambda.handler as h; print(callable(h.handler))"
    run = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(root)!r}); {code}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "True"
