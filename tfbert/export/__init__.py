"""Exports for TensorFlow Serving: atomic, versioned SavedModels that take raw strings.

    from tfbert.export import export_saved_model, load_exported
    path = export_saved_model(model, "exports/imdb")      # = model.export(...): exports/imdb/1/
    import tensorflow_text  # noqa: F401  (plain TensorFlow needs it to load the tokenizer ops)
    predict = load_exported(path).signatures["serving_default"]

`saved_model` is the generic writer any task uses; `classifier` has a text classifier's
signatures; `warmup` writes TF Serving's warm-up requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfbert.export.saved_model import (
    directory_size,
    find_version_dir,
    load_exported,
    next_version,
    signature_labels,
    write_saved_model,
)


def export_saved_model(model: Any, export_base: str | Path, version: int | None = None, **kwargs):
    """Writes `model` (any tfbert task) to `<export_base>/<version>/`; the same as
    `model.export(export_base, version, **kwargs)` (see the task's `export` for the options)."""
    return model.export(export_base, version=version, **kwargs)


__all__ = [
    "directory_size",
    "export_saved_model",
    "find_version_dir",
    "load_exported",
    "next_version",
    "signature_labels",
    "write_saved_model",
]
