"""The name and shape tables agree with the encoder's real variables."""

from __future__ import annotations

from tfbert.config import BertConfig
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import (
    encoder_weight_shapes,
)
from tfbert.modeling.checkpoints.encoder import _encoder_variables


def test_weight_shape_table_matches_the_encoder_variables() -> None:
    config = BertConfig.from_preset("tiny", vocab_size=120, max_position_embeddings=64)
    layer = BertEncoder(config, name="some_encoder")
    prefix, variables = _encoder_variables(layer)  # builds it
    assert prefix == "some_encoder/"
    assert {k: tuple(v.shape) for k, v in variables.items()} == encoder_weight_shapes(config)
