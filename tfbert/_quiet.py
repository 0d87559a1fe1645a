"""Keeps TensorFlow's start-up noise out of normal output.

TensorFlow 2.21 prints oneDNN and CUDA notices through absl *before* absl logging is
initialised, so `TF_CPP_MIN_LOG_LEVEL` does not hide them; the only reliable way is to point
file descriptor 2 elsewhere while TensorFlow and tensorflow-text load. Set `TFBERT_VERBOSE=1`
to see everything.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import types
import warnings
from typing import Any


@contextlib.contextmanager
def _stderr_to_devnull():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (some notebook front-ends): nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _prepare_environment() -> bool:
    """Sets the variables TensorFlow reads at import; returns whether TFBERT_VERBOSE is on."""
    verbose = os.environ.get("TFBERT_VERBOSE", "") not in ("", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # also hides cuInit errors on CPU hosts
    return verbose


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and tensorflow-text (whose ops exported models need) without noise."""
    verbose = _prepare_environment()
    already = "tensorflow" in sys.modules
    with contextlib.nullcontext() if (verbose or already) else _stderr_to_devnull():
        import tensorflow as tf  # noqa: F401
        import tensorflow_text  # noqa: F401  (registers the ops of the in-graph tokenizer)
    if not verbose:
        _quiet_loggers()


def _quiet_loggers() -> None:
    import tensorflow as tf

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    tf.get_logger().setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r".*shuffle=True.*")


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader with its start-up noise hidden."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        verbose = _prepare_environment()
        with contextlib.nullcontext() if verbose else _stderr_to_devnull():
            self._loader.exec_module(module)
        if not verbose:
            _quiet_loggers()


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` the usual way and hands it to `_QuietLoader`; used once, then removed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "tensorflow":
            return None
        uninstall_quiet_import_hook()
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


_HOOK = _QuietTensorFlowFinder()


def install_quiet_import_hook() -> None:
    """Makes the first `import tensorflow` of the process quiet, whoever imports it.

    `import tfbert` installs it, so that `from tfbert.tasks.classifier import BertClassifier`
    stays as quiet as the command line without importing TensorFlow before it is needed.
    """
    if "tensorflow" not in sys.modules and _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)


def uninstall_quiet_import_hook() -> None:
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_HOOK)
