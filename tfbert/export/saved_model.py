"""Atomic, versioned SavedModel writing in TensorFlow Serving's `<base>/<version>/` layout.

Any task's serving module goes through `write_saved_model`: the version is written into a
hidden temporary directory beside its final place and renamed to `<base>/<version>` only when
complete. TF Serving loads only directories whose name is a number, so a crash mid-export never
leaves a half version that a server would load. Files get the usual permissions (the umask's),
so a server running as another user can read them. Two exports racing for the next version
each get their own; a full disk is reported and its partial files removed.

    path = write_saved_model(module, {"serving_default": fn}, "exports/imdb")  # exports/imdb/1
    loaded = load_exported(path)          # needs only TensorFlow and tensorflow-text
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import tensorflow as tf

from tfbert.contract import ASSETS_EXTRA, LABELS_FILE, MODEL_INFO_FILE
from tfbert.errors import DiskFullError, ModelFileError
from tfbert.files import public_mode


def next_version(export_base: str | Path) -> int:
    """One more than the highest numeric version under `export_base` (1 when there is none)."""
    base = Path(export_base)
    versions = (
        [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
        if base.is_dir()
        else []
    )
    return max(versions, default=0) + 1


def check_export_base(export_base: str | Path) -> Path:
    """The export base directory, created if needed, or a clear error if it cannot be one."""
    base = Path(export_base)
    if base.exists() and not base.is_dir():
        raise ModelFileError(
            f"{base} is a file; the export needs a directory to hold versions (<dir>/1/ ...): "
            "pass another --export-dir."
        )
    if (base / "saved_model.pb").is_file():
        raise ModelFileError(
            f"{base} is itself a SavedModel version; pass its parent directory (the model base "
            "path, which holds the numbered versions)."
        )
    base.mkdir(parents=True, exist_ok=True)
    return base


def write_saved_model(
    module: tf.Module,
    signatures: Mapping[str, Any],
    export_base: str | Path,
    version: int | None = None,
    *,
    overwrite: bool = False,
    methods: Mapping[str, str] | None = None,
    write_extra: Callable[[Path], None] | None = None,
) -> Path:
    """Saves `module` with `signatures` to `<export_base>/<version>/` atomically; returns it.

    `version` None takes the next free one. `methods` sets TF Serving method names of
    signatures (`tf.saved_model.save` marks all as Predict signatures); `write_extra(dir)`
    adds files to the version (e.g. `assets.extra/` contents) before it is published.
    """
    base = check_export_base(export_base)
    automatic = version is None
    version = next_version(base) if automatic else version
    if not isinstance(version, int) or isinstance(version, bool) or version <= 0:
        raise ValueError(f"Export version must be a positive integer, got {version!r}.")
    if (base / str(version)).exists() and not overwrite:
        raise ModelFileError(
            f"{base / str(version)} already exists; TF Serving versions are immutable. Pick "
            "another --version (or leave it out to take the next one), or pass overwrite=True "
            "/ --overwrite."
        )
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.partial-", dir=base))
    try:
        tf.saved_model.save(module, str(staging), signatures=dict(signatures))
        if methods:
            _set_methods(staging, methods)
        if write_extra is not None:
            write_extra(staging)
        publish_modes(staging)
        return _publish(staging, base, version, automatic=automatic, overwrite=overwrite)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        if error.errno == errno.ENOSPC:
            raise DiskFullError(
                f"The disk is full: the export to {base} did not fit and its partial files "
                "were removed. Free some space and export again.",
            ) from None
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish(staging: Path, base: Path, version: int, *, automatic: bool, overwrite: bool) -> Path:
    """Renames the finished staging directory to its version, the last step of an export."""
    while True:
        target = base / str(version)
        if target.exists() and overwrite and not automatic:
            trash = Path(tempfile.mkdtemp(prefix=f".{version}.old-", dir=base))
            os.replace(target, trash / "old")
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.rename(staging, target)  # fails if another export took the version meanwhile
            return target
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not automatic:
                if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    raise ModelFileError(
                        f"{target} was written by another export meanwhile; export again "
                        "(leave --version out to take the next free one)."
                    ) from None
                raise
            version = next_version(base)


def publish_modes(directory: Path) -> None:
    """Gives a staged directory tree the modes a normal write would have (the umask's):
    `mkdtemp` creates it owner-only, which a server running as another user cannot read."""
    for root, _, files in os.walk(directory):
        os.chmod(root, public_mode(directory=True))
        for name in files:
            os.chmod(os.path.join(root, name), public_mode())


def _set_methods(saved_model_dir: Path, methods: Mapping[str, str]) -> None:
    """Sets TF Serving method names on signatures of a saved model (e.g. the Classify API's)."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = saved_model_dir / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for meta_graph in saved_model.meta_graphs:
        for name, method in methods.items():
            if name in meta_graph.signature_def:
                meta_graph.signature_def[name].method_name = method
    path.write_bytes(saved_model.SerializeToString())


def write_labels(version_dir: Path, labels: list[str]) -> Path:
    """Writes the label names (in output-column order) to `assets.extra/`."""
    extra = Path(version_dir) / ASSETS_EXTRA
    extra.mkdir(exist_ok=True)
    path = extra / LABELS_FILE
    path.write_text(json.dumps(labels, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_model_info(version_dir: Path, info: Mapping[str, Any]) -> Path:
    """Writes what the export holds (task kind and its settings) to `assets.extra/`."""
    extra = Path(version_dir) / ASSETS_EXTRA
    extra.mkdir(exist_ok=True)
    path = extra / MODEL_INFO_FILE
    path.write_text(json.dumps(dict(info), ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_model_info(version_dir: str | Path) -> dict[str, Any]:
    """What `write_model_info` recorded, or {} for exports written before it existed."""
    path = Path(version_dir) / ASSETS_EXTRA / MODEL_INFO_FILE
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(
            f"{path} is not valid JSON ({error}); export the model again."
        ) from None
    return info if isinstance(info, dict) else {}


def load_exported(path: str | Path) -> Any:
    """Loads an exported version directory (needs only TensorFlow and tensorflow-text)."""
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops before loading)

    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise ModelFileError(
            f"{path} is not a SavedModel version directory (no saved_model.pb); pass "
            "<export-dir>/<version>, e.g. exports/imdb/1."
        )
    return tf.saved_model.load(str(path))


def find_version_dir(path: str | Path) -> Path:
    """A version directory itself, or the highest numeric version under a model base path."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    if path.is_dir():
        versions = sorted((int(p.name), p) for p in path.iterdir() if p.name.isdigit())
        if versions and (versions[-1][1] / "saved_model.pb").is_file():
            return versions[-1][1]
    raise ModelFileError(
        f"{path} is neither a tfbert model directory nor a SavedModel export (<base>/<version>/)."
    )


def signature_labels(version_dir: str | Path) -> list[str]:
    """The label names of an export, in probability-column order."""
    path = Path(version_dir) / ASSETS_EXTRA / LABELS_FILE
    if not path.is_file():
        raise ModelFileError(f"{path} is missing; was this model exported by tfbert?")
    return json.loads(path.read_text(encoding="utf-8"))


def directory_size(path: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
