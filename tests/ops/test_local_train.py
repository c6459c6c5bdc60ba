"""Packing the model folder into model.tar.gz as SageMaker does, durably."""
from __future__ import annotations

import tarfile

from ops.train.local_train import pack
from tests.fixtures.durability import synced_before_rename


def test_pack_tars_the_folder_and_syncs_it_before_the_rename(tmp_path, disk_events):
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "model.json").write_text("{}")
    (model_dir / "code" / "inference.py").write_text("")
    (model_dir / ".staging-x").mkdir()

    archive = pack(model_dir, tmp_path / "out" / "model.tar.gz")

    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["code", "code/inference.py", "model.json"]
    assert synced_before_rename(disk_events, archive)
    assert [p.name for p in archive.parent.iterdir()] == ["model.tar.gz"]
