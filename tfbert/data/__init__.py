"""Reading labelled text files, label vocabularies and the built-in real datasets."""

from tfbert.data.datasets import DatasetSplits, available_datasets, cache_dir, load_dataset
from tfbert.data.labels import LabelVocabulary
from tfbert.data.readers import (
    SUPPORTED_FORMATS,
    TextClassificationData,
    clean_text,
    detect_format,
    read_examples,
    train_validation_split,
)

__all__ = [
    "SUPPORTED_FORMATS",
    "DatasetSplits",
    "LabelVocabulary",
    "TextClassificationData",
    "available_datasets",
    "cache_dir",
    "clean_text",
    "detect_format",
    "load_dataset",
    "read_examples",
    "train_validation_split",
]
