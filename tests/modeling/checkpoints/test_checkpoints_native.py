"""tfbert's own save_pretrained directories: their encoder is read back exactly."""

from __future__ import annotations

import numpy as np
from checkpoint_helpers import assert_same_outputs

from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import (
    load_encoder_weights,
    load_pretrained,
)


def test_tfbert_directory_round_trips(tmp_path, classifier, minilm, features, baseline) -> None:
    directory = classifier.save_pretrained(tmp_path / "tfbert")
    again = load_pretrained(directory)
    assert again.source.startswith("tfbert model")
    assert again.config == minilm.config and again.vocabulary == minilm.vocabulary
    assert again.lowercase is True and again.mlm_weights is None
    assert again.ignored == ["classifier/logits/bias", "classifier/logits/kernel"]
    for name, value in minilm.encoder_weights.items():
        np.testing.assert_array_equal(again.encoder_weights[name], value, err_msg=name)
    layer = BertEncoder(again.config)
    load_encoder_weights(layer, again)
    assert_same_outputs(layer, features, baseline)
