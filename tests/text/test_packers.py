"""Packers: truncation, specials, padding and per-word label alignment."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfbert.text.packers import (
    IGNORE_LABEL,
    PairPacker,
    SinglePacker,
    TokenLabelPacker,
    longest_first_lengths,
)
from tfbert.text.tokenizer import BertTokenizer
from tfbert.text.wordpiece import WordPiece


def ints(values) -> list:
    return np.asarray(values).tolist()


def test_longest_first_keeps_part_of_both() -> None:
    lengths = [tf.constant([2, 30, 30, 0], tf.int64), tf.constant([30, 2, 30, 5], tf.int64)]
    keep_a, keep_b = longest_first_lengths(lengths, 9)
    assert ints(keep_a) == [2, 7, 5, 0] and ints(keep_b) == [7, 2, 4, 5]


def test_packers_give_the_tokenizer_features(english_vocab: list[str], imdb_texts: list[str]):
    tokenizer = BertTokenizer(english_vocab, max_length=40, truncation="head_tail")
    ids = tokenizer.wordpiece_ids(imdb_texts[:32])
    options = dict(cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id, pad_id=tokenizer.pad_id)
    single = SinglePacker(**options, max_length=40, truncation="head_tail")(ids)
    pair = PairPacker(**options, max_length=40, truncation="head_tail")(ids, ids[::-1])
    for name, value in tokenizer(imdb_texts[:32]).items():
        np.testing.assert_array_equal(single[name], value)
    for name, value in tokenizer((imdb_texts[:32], imdb_texts[:32][::-1])).items():
        np.testing.assert_array_equal(pair[name], value)


@pytest.fixture(scope="module")
def words_and_labels(english_vocab: list[str]):
    wordpiece = WordPiece(english_vocab)
    words = tf.ragged.constant([["Unaffordable", "rents", "in", "New", "York"], ["Hi"], []])
    labels = tf.ragged.constant([[0, 0, 0, 1, 2], [3], []])
    return wordpiece.tokenize_words(words), labels


def test_token_labels_go_to_the_first_piece_of_each_word(words_and_labels) -> None:
    (ids, word_ids), labels = words_and_labels
    features = TokenLabelPacker(101, 102, 0, max_length=12)(ids, word_ids, labels)
    x = IGNORE_LABEL
    # [CLS] una ##ff ##ord ##able rents in new york [SEP] [PAD] [PAD]
    assert ints(features["labels"][0]) == [x, 0, x, x, x, 0, 0, 1, 2, x, x, x]
    assert ints(features["word_ids"][0]) == [-1, 0, 0, 0, 0, 1, 2, 3, 4, -1, -1, -1]
    assert ints(features["labels"][1])[:4] == [x, 3, x, x]
    assert ints(features["labels"][2]) == [x] * 12
    assert ints(features["padding_mask"][0]) == [1] * 10 + [0] * 2
    without_labels = TokenLabelPacker(101, 102, 0, max_length=12)(ids, word_ids)
    assert "labels" not in without_labels
    np.testing.assert_array_equal(without_labels["word_ids"], features["word_ids"])


def test_truncation_drops_pieces_words_and_labels_together(words_and_labels) -> None:
    (ids, word_ids), labels = words_and_labels
    x = IGNORE_LABEL
    end = TokenLabelPacker(101, 102, 0, max_length=7, pad_to="longest")(ids, word_ids, labels)
    assert ints(end["word_ids"][0]) == [-1, 0, 0, 0, 0, 1, -1]
    assert ints(end["labels"][0]) == [x, 0, x, x, x, 0, x]
    # Head and tail: "una" then "##able rents in new york"... the tail starts mid-word, so
    # word 0's later pieces keep no label of their own.
    head_tail = TokenLabelPacker(
        101, 102, 0, max_length=7, truncation="head_tail", head_fraction=0.2
    )(ids, word_ids, labels)
    assert ints(head_tail["word_ids"][0]) == [-1, 0, 1, 2, 3, 4, -1]
    assert ints(head_tail["labels"][0]) == [x, 0, 0, 0, 1, 2, x]
    cut = TokenLabelPacker(101, 102, 0, max_length=8, truncation="head_tail", head_fraction=0.0)(
        ids, word_ids, labels
    )
    assert ints(cut["word_ids"][0]) == [-1, 0, 0, 1, 2, 3, 4, -1]
    assert ints(cut["labels"][0]) == [x, x, x, 0, 0, 1, 2, x]


def test_packer_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="max_length"):
        SinglePacker(1, 2, 0, max_length=2)
    with pytest.raises(ValueError, match="truncation"):
        PairPacker(1, 2, 0, max_length=8, truncation="middle")
    with pytest.raises(ValueError, match="head_fraction"):
        TokenLabelPacker(1, 2, 0, max_length=8, head_fraction=2.0)
