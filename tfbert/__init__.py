"""tfbert: BERT from raw text to a served classifier, built from Keras 3 layers on TensorFlow."""

from tfbert._quiet import import_tensorflow_quietly

import_tensorflow_quietly()

from tfbert.config import PRESETS, BertConfig  # noqa: E402

__version__ = "0.1.0"
__all__ = ["PRESETS", "BertConfig", "__version__"]
