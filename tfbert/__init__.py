"""tfbert: BERT from raw text to a served classifier, built from Keras 3 layers on TensorFlow.

`import tfbert` is cheap: it does not import TensorFlow. The names below load their module on
first use, and the first import of TensorFlow in the process is made quiet (no oneDNN or CUDA
notices; set TFBERT_VERBOSE=1 to see them)::

    import tfbert

    splits = tfbert.load_dataset("imdb", max_examples_per_split=2000)
    classifier = tfbert.BertClassifier.from_pretrained("minilm-l6", labels=splits.label_names)
"""

from __future__ import annotations

import importlib
from typing import Any

from tfbert._quiet import install_quiet_import_hook

install_quiet_import_hook()

__version__ = "0.1.0"

# Public name -> the module that defines it (imported on first access).
_EXPORTS = {
    "PRESETS": "tfbert.config",
    "BertConfig": "tfbert.config",
    "TfbertError": "tfbert.errors",
    "DataError": "tfbert.errors",
    "ModelFileError": "tfbert.errors",
    "BertTokenizer": "tfbert.text.tokenizer",
    "learn_vocabulary": "tfbert.text.vocab",
    "load_vocabulary": "tfbert.text.vocab",
    "save_vocabulary": "tfbert.text.vocab",
    "load_dataset": "tfbert.data",
    "read_examples": "tfbert.data",
    "train_validation_split": "tfbert.data",
    "TextClassificationData": "tfbert.data",
    "BertClassifier": "tfbert.tasks.classifier",
    "TextClassifier": "tfbert.tasks.classifier",
    "evaluate_saved_model": "tfbert.evaluation",
    "BertPretrainer": "tfbert.tasks.pretrainer",
    "TrainingConfig": "tfbert.training.fine_tune",
    "fine_tune": "tfbert.training.fine_tune",
    "pretrain": "tfbert.training.pretrain",
    "RunConfig": "tfbert.training.run",
    "train_classifier": "tfbert.training.run",
    "evaluate_classifier": "tfbert.evaluation",
    "export_saved_model": "tfbert.export",
    "load_exported": "tfbert.export",
    "PredictionClient": "tfbert.serving.client",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    """Imports the module behind a public name the first time the name is used."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tfbert' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
