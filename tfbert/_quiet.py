"""Keeps TensorFlow's start-up noise out of normal output.

Must run before TensorFlow is imported: the C++ log level is read once, at import.
"""

import logging
import os
import warnings


def silence_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide INFO and WARNING from C++
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r".*shuffle=True.*", category=UserWarning)
