"""Fixtures of the checkpoint tests: the real all-MiniLM-L6-v2 checkpoint and its outputs.

The parity tests need the `reference` extra (torch 2.13 CPU + transformers) and are skipped
without it; everything else runs on the real all-MiniLM-L6-v2 files alone.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from checkpoint_helpers import BATCHES, MAX_LENGTH, encoder_outputs

from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import PretrainedBert, load_encoder_weights, load_pretrained
from tfbert.tasks.classifier import classifier_from_pretrained
from tfbert.text.tokenizer import BertTokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the reference model is read from disk only


@pytest.fixture(scope="module")
def minilm() -> PretrainedBert:
    return load_pretrained("minilm-l6")


@pytest.fixture(scope="module")
def encoder(minilm: PretrainedBert) -> BertEncoder:
    layer = BertEncoder(minilm.config)
    load_encoder_weights(layer, minilm)
    return layer


@pytest.fixture(scope="module")
def tokenizer(minilm: PretrainedBert) -> BertTokenizer:
    return BertTokenizer(minilm.vocabulary, max_length=MAX_LENGTH, lowercase=minilm.lowercase)


@pytest.fixture(scope="module")
def features(tokenizer: BertTokenizer) -> dict[str, dict[str, np.ndarray]]:
    batches = {name: tokenizer(texts) for name, texts in BATCHES.items()}
    batches["pair"] = tokenizer((["Is the film any good?"], ["Yes, it is very good indeed."]))
    return {name: {k: np.asarray(v) for k, v in batch.items()} for name, batch in batches.items()}


@pytest.fixture(scope="module")
def baseline(encoder, features) -> dict[str, dict[str, np.ndarray]]:
    """tfbert's outputs for every batch with the real MiniLM weights: what round trips must give."""
    return {name: encoder_outputs(encoder, batch) for name, batch in features.items()}


@pytest.fixture(scope="module")
def classifier():
    return classifier_from_pretrained("minilm-l6", labels=["neg", "neu", "pos"], max_length=64)
