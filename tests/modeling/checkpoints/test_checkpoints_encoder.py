"""Assigning a checkpoint to a BertEncoder: strict about sizes, settings and missing tensors."""

from __future__ import annotations

import numpy as np
import pytest

from tfbert.errors import ModelFileError
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import load_encoder_weights, shared_token_rows


def test_loading_into_a_differently_configured_encoder_fails(minilm) -> None:
    smaller = BertEncoder(minilm.config.replace(num_layers=4, intermediate_size=1024))
    with pytest.raises(
        ModelFileError, match=r"mis-shaped: .*intermediate.*\| unexpected .*\(32\): .*layer_4"
    ):
        load_encoder_weights(smaller, minilm)
    heads = BertEncoder(minilm.config.replace(num_heads=6))
    with pytest.raises(ModelFileError, match=r"num_heads 6 vs 12.*checkpoint's config"):
        load_encoder_weights(heads, minilm)


def test_missing_tensors_are_reported_unless_allowed(minilm) -> None:
    import dataclasses

    without_pooler = dataclasses.replace(
        minilm,
        encoder_weights={
            k: v for k, v in minilm.encoder_weights.items() if not k.startswith("pooler/")
        },
    )
    layer = BertEncoder(minilm.config)
    with pytest.raises(ModelFileError, match=r"missing from the .*\(2\): .*pooler/bias"):
        load_encoder_weights(layer, without_pooler)
    load_encoder_weights(layer, without_pooler, allow_missing=True)
    np.testing.assert_array_equal(
        layer.blocks[5].output_layer_norm.gamma.numpy(),
        minilm.encoder_weights["layer_5/output_layer_norm/gamma"],
    )


def test_shared_token_rows_pair_the_tokens_both_vocabularies_spell_alike() -> None:
    old = ["[PAD]", "[UNK]", "the", "##s", "的"]
    new = ["[PAD]", "[UNK]", "的", "是", "##s", "The"]
    rows, old_rows = shared_token_rows(old, new)
    assert rows.tolist() == [0, 1, 2, 4] and old_rows.tolist() == [0, 1, 4, 3]
    none, _ = shared_token_rows(old, ["是"])
    assert none.dtype == np.int64 and none.size == 0
