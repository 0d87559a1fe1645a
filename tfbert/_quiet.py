"""Keeps TensorFlow's start-up noise out of normal output.

TensorFlow 2.21 prints oneDNN and CUDA notices through absl *before* absl logging is
initialised, so `TF_CPP_MIN_LOG_LEVEL` does not hide them; the only reliable way is to point
file descriptor 2 elsewhere while TensorFlow and tensorflow-text load. Set `TFBERT_VERBOSE=1`
to see everything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings


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


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and tensorflow-text (whose ops exported models need) without noise."""
    verbose = os.environ.get("TFBERT_VERBOSE", "") not in ("", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # also hides cuInit errors on CPU hosts
    already = "tensorflow" in sys.modules
    with contextlib.nullcontext() if (verbose or already) else _stderr_to_devnull():
        import tensorflow as tf  # noqa: F401
        import tensorflow_text  # noqa: F401  (registers the ops of the in-graph tokenizer)
    if not verbose:
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
        tf.get_logger().setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message=r".*shuffle=True.*")
