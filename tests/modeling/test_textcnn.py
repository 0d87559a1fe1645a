"""TextCNN (tfbert.modeling.textcnn) as a classifier backbone on real Chinese reviews."""

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

from tfbert.modeling.textcnn import TextCNN, masked_max


@pytest.fixture(scope="module")
def trained():
    return train_on_reviews(lambda tokenizer: TextCNN.from_vocabulary(tokenizer, name="cnn"))


def test_textcnn_learns_real_reviews(trained) -> None:
    accuracy, majority = accuracy_and_majority(*trained)
    assert accuracy > majority + 0.15, (accuracy, majority)


def test_padding_does_not_change_its_outputs(trained) -> None:
    model, data = trained
    # "好" is shorter than the widest convolution
    check_padding_changes_nothing(model, ["好", *data.test.texts[:300]])


def test_it_reloads_and_serves_raw_strings_with_the_same_probabilities(trained, tmp_path) -> None:
    model, data = trained
    check_reload_and_export(model, list(data.test.texts[:16]), tmp_path)


def test_config_round_trip_and_sizes() -> None:
    backbone = TextCNN(500, embedding_size=16, filters=8, kernel_sizes=(2, 3), dropout=0.2)
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(backbone))
    assert isinstance(copy, TextCNN)
    assert copy.get_config() == backbone.get_config()
    assert (copy.output_size, copy.vocabulary_size) == (16, 500)
    outputs = copy(copy.dummy_inputs(batch=2, length=7))
    assert tuple(outputs["sequence_output"].shape) == (2, 7, 16)
    assert tuple(outputs["pooled_output"].shape) == (2, 16)


def test_the_max_ignores_padded_positions() -> None:
    values = np.array([[[1.0], [-2.0], [9.0]]], np.float32)  # position 2 is padding
    mask = np.array([[True, True, False]])
    assert float(masked_max(values, mask)[0, 0]) == 1.0


@pytest.mark.parametrize(
    "arguments", [{"vocabulary_size": 0}, {"kernel_sizes": ()}, {"dropout": 1.0}]
)
def test_bad_sizes_are_refused(arguments) -> None:
    with pytest.raises(ValueError):
        TextCNN(**{"vocabulary_size": 100, **arguments})
