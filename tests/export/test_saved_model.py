"""The generic SavedModel writer: readable modes, racing exports, a full disk, wrong paths."""

from __future__ import annotations

import errno
import os
import stat

import pytest
import tensorflow as tf

from tfbert.errors import DiskFullError, ModelFileError
from tfbert.export.saved_model import load_exported, write_saved_model


class _Doubler(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = tf.Variable(2.0)
        self.call = tf.function(
            lambda x: {"y": x * self.scale}, input_signature=[tf.TensorSpec([None], tf.float32)]
        )


def _write(base, **kwargs):
    module = _Doubler()
    return write_saved_model(
        module, {"serving_default": module.call.get_concrete_function()}, base, **kwargs
    )


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_an_export_gets_the_umask_modes_not_owner_only(tmp_path, umask) -> None:
    previous = os.umask(umask)
    try:
        version = _write(tmp_path / "exports")
    finally:
        os.umask(previous)
    entries = [version, *version.rglob("*")]
    assert any(p.is_file() for p in entries) and len(entries) > 3
    for path in entries:
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
    served = load_exported(version).signatures["serving_default"]
    assert served(x=tf.constant([1.5]))["y"].numpy().tolist() == [3.0]


def test_racing_exports_each_get_a_version(tmp_path, monkeypatch) -> None:
    base = tmp_path / "exports"
    save = tf.saved_model.save

    def meanwhile_another_export_takes_version_1(module, directory, **kwargs):
        save(module, directory, **kwargs)
        (base / "1").mkdir()
        (base / "1" / "saved_model.pb").write_bytes(b"the other export")

    monkeypatch.setattr(tf.saved_model, "save", meanwhile_another_export_takes_version_1)
    version = _write(base)
    assert version.name == "2"
    assert (base / "1" / "saved_model.pb").read_bytes() == b"the other export"
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]  # no staging left behind


def test_a_version_asked_for_that_another_export_took_is_refused(tmp_path, monkeypatch) -> None:
    base = tmp_path / "exports"
    save = tf.saved_model.save

    def meanwhile_taken(module, directory, **kwargs):
        save(module, directory, **kwargs)
        (base / "5").mkdir()
        (base / "5" / "keep").write_text("theirs")

    monkeypatch.setattr(tf.saved_model, "save", meanwhile_taken)
    with pytest.raises(ModelFileError, match="written by another export meanwhile"):
        _write(base, version=5)
    assert (base / "5" / "keep").read_text() == "theirs"
    assert sorted(p.name for p in base.iterdir()) == ["5"]


def test_a_full_disk_is_reported_and_leaves_nothing(tmp_path, monkeypatch) -> None:
    base = tmp_path / "exports"

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", full)
    with pytest.raises(DiskFullError, match="disk is full.*removed"):
        _write(base)
    assert list(base.iterdir()) == []


def test_an_export_base_that_is_a_file_or_a_version_is_refused(tmp_path) -> None:
    a_file = tmp_path / "model.txt"
    a_file.write_text("mine")
    with pytest.raises(ModelFileError, match="is a file"):
        _write(a_file)
    assert a_file.read_text() == "mine"
    version = _write(tmp_path / "exports")
    with pytest.raises(ModelFileError, match="pass its parent directory"):
        _write(version)
