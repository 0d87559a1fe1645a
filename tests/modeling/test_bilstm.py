"""BiLSTM with attention pooling (tfbert.modeling.bilstm) as a classifier backbone on real
Chinese reviews."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from baseline_backbones import (
    accuracy_and_majority,
    check_padding_changes_nothing,
    check_reload_and_export,
    train_on_reviews,
)

from tfbert.modeling.bilstm import BiLSTM, attention_pool


@pytest.fixture(scope="module")
def trained():
    return train_on_reviews(
        lambda tokenizer: BiLSTM.from_vocabulary(
            tokenizer, embedding_size=64, units=48, attention_size=48, name="lstm"
        )
    )


def test_bilstm_learns_real_reviews(trained) -> None:
    accuracy, majority = accuracy_and_majority(*trained)
    assert accuracy > majority + 0.15, (accuracy, majority)


def test_padding_does_not_change_its_outputs(trained) -> None:
    model, data = trained
    check_padding_changes_nothing(model, ["好", *data.test.texts[:300]])


def test_it_reloads_and_serves_raw_strings_with_the_same_probabilities(trained, tmp_path) -> None:
    model, data = trained
    check_reload_and_export(model, list(data.test.texts[:16]), tmp_path)


def test_config_round_trip_and_sizes() -> None:
    backbone = BiLSTM(300, embedding_size=8, units=6, attention_size=5, dropout=0.1)
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(backbone))
    assert isinstance(copy, BiLSTM)
    assert copy.get_config() == backbone.get_config()
    assert (copy.output_size, copy.vocabulary_size) == (12, 300)
    outputs = copy(copy.dummy_inputs(batch=3, length=5))
    assert tuple(outputs["sequence_output"].shape) == (3, 5, 12)
    assert tuple(outputs["pooled_output"].shape) == (3, 12)


def test_attention_weights_only_real_tokens() -> None:
    states = np.array([[[2.0], [4.0], [100.0]]], np.float32)  # position 2 is padding
    scores = np.array([[0.0, 0.0, 50.0]], np.float32)  # equal scores on the real tokens
    mask = np.array([[True, True, False]])
    np.testing.assert_allclose(np.asarray(attention_pool(states, scores, mask)), [[3.0]])


def test_mean_pooling_has_no_pooling_weights_and_averages_real_tokens() -> None:
    # For token tagging: only the states are read, so no weight may be left without a gradient.
    backbone = BiLSTM(50, embedding_size=4, units=3, dropout=0.0, pooling="mean")
    features = {
        "token_ids": np.array([[5, 7, 9, 0]], np.int32),
        "segment_ids": np.zeros([1, 4], np.int32),
        "padding_mask": np.array([[1, 1, 1, 0]], np.int32),
    }
    outputs = backbone(features)
    assert not any("attention" in w.path or "query" in w.path for w in backbone.weights)
    states = np.asarray(outputs["sequence_output"])[0, :3]
    np.testing.assert_allclose(np.asarray(outputs["pooled_output"])[0], states.mean(0), atol=1e-6)
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(backbone))
    assert copy.pooling == "mean" and copy.get_config() == backbone.get_config()
    assert "pooling" not in BiLSTM(50).get_config()  # saved attention models are unchanged


@pytest.mark.parametrize("arguments", [{"units": 0}, {"dropout": -0.1}, {"pooling": "max"}])
def test_bad_sizes_are_refused(arguments) -> None:
    with pytest.raises(ValueError):
        BiLSTM(**{"vocabulary_size": 100, **arguments})
