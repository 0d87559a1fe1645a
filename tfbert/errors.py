"""Exceptions that carry a message meant for the user: what is wrong and how to fix it.

The command line prints these without a traceback; everything else is a bug and keeps its traceback.
"""


class TfbertError(Exception):
    """Base class for user-facing errors."""


class DataError(TfbertError, ValueError):
    """Input data cannot be used as given (empty file, missing column, unknown label, ...)."""


class ModelFileError(TfbertError, ValueError):
    """A model directory, checkpoint or export is missing, incomplete or inconsistent."""


class MissingDependencyError(TfbertError, ImportError):
    """An optional package is needed; the message says how to install it."""


class DiskFullError(TfbertError, OSError):
    """The disk filled up while tfbert wrote a file; what was there before is kept."""
