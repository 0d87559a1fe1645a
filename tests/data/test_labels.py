"""Label names <-> class ids (tfbert.data.labels)."""

from __future__ import annotations

import numpy as np
import pytest

from tfbert.data import LabelVocabulary
from tfbert.data import readers as readers_module
from tfbert.data.labels import is_missing_label, unify_numeric_spellings
from tfbert.errors import DataError


def test_the_old_import_paths_still_work() -> None:
    assert readers_module.LabelVocabulary is LabelVocabulary


def test_vocabulary_sorts_numbers_numerically() -> None:
    vocab = LabelVocabulary.from_labels(["10", "2", "1", "2", "-1", "0.5"])
    assert vocab.names == ["-1", "0.5", "1", "2", "10"]
    mixed = LabelVocabulary.from_labels(["neg", "3", "pos", "20"])
    assert mixed.names == ["3", "20", "neg", "pos"]
    assert len(mixed) == 4


def test_vocabulary_encode_decode_round_trip() -> None:
    vocab = LabelVocabulary.from_labels(["pos", "neg", "pos"])
    ids = vocab.encode(["pos", "neg", "neg"])
    assert ids.dtype == np.int32
    assert ids.tolist() == [1, 0, 0]
    assert vocab.decode(ids) == ["pos", "neg", "neg"]
    assert vocab.decode(np.array([[1], [0]])) == ["pos", "neg"]
    with pytest.raises(DataError, match="class id 5 is out of range for 2 labels"):
        vocab.decode([5])


def test_vocabulary_multi_hot() -> None:
    labels = [["b", "a"], [], ["c"]]
    vocab = LabelVocabulary.from_labels(labels, multi_label=True)
    assert vocab.names == ["a", "b", "c"]
    hot = vocab.encode(labels, multi_label=True)
    assert hot.dtype == np.float32
    assert hot.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]


def test_vocabulary_unknown_label_message() -> None:
    vocab = LabelVocabulary(["negative", "positive"])
    with pytest.raises(DataError) as err:
        vocab.encode(["positive", "neutral", "neutral", "mixed"])
    message = str(err.value)
    assert "3 rows" in message
    assert "'neutral' (2 rows)" in message
    assert "'mixed' (1 rows)" in message
    assert "Known labels: negative, positive" in message


def test_vocabulary_unknown_labels_shows_at_most_five() -> None:
    vocab = LabelVocabulary(["a", "b"])
    with pytest.raises(DataError, match=r"and 2 more"):
        vocab.encode(["u1", "u2", "u3", "u4", "u5", "u6", "u7"])


def test_vocabulary_needs_two_classes_and_unique_names() -> None:
    with pytest.raises(DataError, match="only one class 'pos' in the training labels.*two"):
        LabelVocabulary.from_labels(["pos", "pos"])
    with pytest.raises(DataError, match="repeated: a"):
        LabelVocabulary(["a", "b", "a"])
    with pytest.raises(DataError, match="--multi-label"):
        LabelVocabulary.from_labels([["a", "b"], ["c"]])


def test_numerically_equal_names_are_one_class() -> None:
    vocab = LabelVocabulary.from_labels(["1", "1.0", "0", "1", "0.0", "0", "pos"])
    assert vocab.names == ["0", "1", "pos"]  # the most frequent spelling names the class
    assert vocab.encode(["1.0", "1", "1e0", " 0.00 ", "pos"]).tolist() == [1, 1, 1, 0, 2]
    assert LabelVocabulary.from_labels([["2.0", "b"], ["2"], ["2.0"]], multi_label=True).names == [
        "2.0",
        "b",
    ]
    assert LabelVocabulary.from_labels([1, 1.0, 0]).names == ["0", "1"]
    with pytest.raises(DataError, match=r"'1' and '1\.0' are the same number.*keep one spelling"):
        LabelVocabulary(["0", "1", "1.0"])
    assert unify_numeric_spellings(["1", "1", "1.0", "01", "x", "2"]) == {"1.0": "1", "01": "1"}
    assert unify_numeric_spellings(["1.0", "1"]) == {"1": "1.0"}  # a tie keeps the first seen


def test_missing_values_are_not_class_names() -> None:
    for value in ("NaN", "nan", " -nan ", "<NA>", "#N/A", "n/a", None, float("nan")):
        assert is_missing_label(value), value
    for value in ("none", "null", "NA", "0", "", "nano", 0.5):
        assert not is_missing_label(value), value
    with pytest.raises(DataError, match=r"a label is 'NaN', a missing value"):
        LabelVocabulary.from_labels(["pos", "neg", "NaN"])
    with pytest.raises(DataError, match=r"a label is nan, a missing value"):
        LabelVocabulary.from_labels([1.0, 0.0, float("nan")])
    with pytest.raises(DataError, match="missing value"):
        LabelVocabulary.from_labels([["a"], ["b", None]], multi_label=True)
