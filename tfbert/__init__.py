"""tfbert: BERT from raw text to a served classifier, built from Keras 3 layers on TensorFlow."""

from tfbert.config import PRESETS, BertConfig

__version__ = "0.1.0"
__all__ = ["PRESETS", "BertConfig", "__version__"]
