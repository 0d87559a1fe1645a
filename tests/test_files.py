"""Files tfbert writes are atomic and get the modes the umask asks for (tfbert.files)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import keras
import pytest

from tfbert.files import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    current_umask,
    make_public,
    public_mode,
)

UMASKS = {0o022: (0o644, 0o755), 0o027: (0o640, 0o750)}


@pytest.fixture(params=sorted(UMASKS), ids=lambda mask: f"umask{mask:03o}")
def umask(request):
    """Runs the test under each umask, restoring the previous one afterwards."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_umask_is_read_without_changing_it(umask) -> None:
    assert current_umask() == umask
    assert current_umask() == umask
    assert public_mode() == UMASKS[umask][0]
    assert public_mode(directory=True) == UMASKS[umask][1]


def test_atomic_writes_get_the_umask_mode_not_mkstemps_owner_only_mode(umask, tmp_path) -> None:
    file_mode, _ = UMASKS[umask]
    text = atomic_write_text(tmp_path / "a.txt", "héllo\n")
    data = atomic_write_bytes(tmp_path / "sub" / "b.bin", b"\x00\x01")
    written = atomic_write(tmp_path / "c.txt", lambda temporary: temporary.write_text("c"))
    assert text.read_text(encoding="utf-8") == "héllo\n"
    assert data.read_bytes() == b"\x00\x01"
    assert written.read_text() == "c"
    assert [mode(p) for p in (text, data, written)] == [file_mode] * 3
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.bin", "c.txt", "sub"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path) -> None:
    target = atomic_write_text(tmp_path / "keep.txt", "old")

    def half_then_crash(temporary: Path) -> None:
        temporary.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        atomic_write(target, half_then_crash)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_staged_directory_from_mkdtemp_becomes_public(umask, tmp_path) -> None:
    staging = Path(tempfile.mkdtemp(dir=tmp_path))
    assert mode(staging) == 0o700  # what mkdtemp does, and why make_public exists
    make_public(staging)
    assert mode(staging) == UMASKS[umask][1]
    file = Path(tempfile.mkstemp(dir=tmp_path)[1])
    make_public(file)
    assert mode(file) == UMASKS[umask][0]


def test_weight_files_and_training_backups_are_readable_by_the_group(umask, tmp_path) -> None:
    from tfbert.training.resume import atomic_write as resume_atomic_write
    from tfbert.training.resume import save_weights_atomically
    from tfbert.weights import read_safetensors, save_safetensors

    file_mode, _ = UMASKS[umask]
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    weights = save_safetensors(model, tmp_path / "model.safetensors")
    assert set(read_safetensors(weights)) == {v.path for v in model.weights}
    save_weights_atomically(model, tmp_path / "best.weights.h5")
    resume_atomic_write(tmp_path / "state.txt", lambda temporary: temporary.write_text("s"))
    files = sorted(tmp_path.iterdir())
    assert [p.name for p in files] == ["best.weights.h5", "model.safetensors", "state.txt"]
    assert [mode(p) for p in files] == [file_mode] * 3


def test_a_saved_classifier_directory_has_the_umask_modes(umask, tmp_path, english_vocab) -> None:
    from tfbert.tasks.classifier import BertClassifier

    file_mode, directory_mode = UMASKS[umask]
    model = BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=["neg", "pos"], max_length=16
    )
    directory = model.save_pretrained(tmp_path / "saved" / "model")
    entries = sorted(directory.iterdir())
    assert [p.name for p in entries] == ["config.json", "model.safetensors", "vocab.txt"]
    assert [mode(p) for p in entries] == [file_mode] * 3
    assert mode(directory) == directory_mode
    assert mode(directory.parent) == directory_mode


def test_a_full_disk_is_one_clear_error_and_keeps_the_old_file(tmp_path) -> None:
    import errno

    from tfbert.errors import DiskFullError

    path = tmp_path / "history.json"
    atomic_write_text(path, "old")

    def full(temporary):
        temporary.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError, match=r"^The disk is full: .*history\.json was not written"):
        atomic_write(path, full)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]
