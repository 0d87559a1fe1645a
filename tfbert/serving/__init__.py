"""Serving exported classifiers over TF Serving's APIs.

- `client`: gRPC and REST clients for TF Serving (or tfbert's embedded server): strings in,
  labels and probabilities out.
- `server`: the embedded server (`tfbert serve`), speaking TF Serving's gRPC and REST APIs.
- `models`: which models and versions are loaded; dynamic batching.
- `protocol`, `rest`: the wire formats.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "PredictionClient": "tfbert.serving.client",
    "GrpcClient": "tfbert.serving.client",
    "RestClient": "tfbert.serving.client",
    "Prediction": "tfbert.serving.client",
    "ServingError": "tfbert.serving.client",
    "ModelServer": "tfbert.serving.server",
    "ServerOptions": "tfbert.serving.server",
    "ModelConfig": "tfbert.serving.models",
    "BatchingOptions": "tfbert.serving.models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Imports lazily: the client does not need the server's TensorFlow-heavy modules."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfbert.serving' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
