"""classification_dataset: the tf.data pipeline that feeds `fit`, `evaluate` and `predict`."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.contract import FEATURE_NAMES
from tfbert.data import TextClassificationData
from tfbert.data.pipeline import classification_dataset
from tfbert.tasks.classifier import BertClassifier


@pytest.fixture(scope="module")
def reviews(imdb_reviews) -> TextClassificationData:
    """22 real IMDB reviews (11 per label), named by sentiment; 22 is not a multiple of 4."""
    names = {"0": "negative", "1": "positive"}
    negative = [(t, names[y]) for t, y in imdb_reviews if y == "0"][:11]
    positive = [(t, names[y]) for t, y in imdb_reviews if y == "1"][:11]
    rows = [row for pair in zip(negative, positive, strict=True) for row in pair]
    return TextClassificationData([t for t, _ in rows], [y for _, y in rows])


@pytest.fixture(scope="module")
def binary(english_vocab) -> BertClassifier:
    keras.utils.set_random_seed(1)
    return BertClassifier.from_preset(
        "tiny",
        vocabulary=english_vocab,
        labels=["negative", "positive"],
        max_length=24,
        tokenizer_options={"pad_to": "longest"},
    )


@pytest.fixture(scope="module")
def one_label_per_review(english_vocab, reviews) -> tuple[BertClassifier, TextClassificationData]:
    """A multiclass model whose labels identify the reviews, so targets reveal the order."""
    names = [f"review-{i}" for i in range(len(reviews))]
    model = BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=names, max_length=24
    )
    return model, TextClassificationData(list(reviews.texts), names)


def _batches(dataset: tf.data.Dataset) -> list:
    return list(dataset.as_numpy_iterator())


def _unpadded(features: dict, row: int) -> list[int]:
    mask = features["padding_mask"][row].astype(bool)
    return features["token_ids"][row][mask].tolist()


def test_features_and_targets_match_the_tokenizer_and_encode_labels(binary, reviews) -> None:
    dataset = classification_dataset(binary, reviews, batch_size=4)
    features_spec, target_spec = dataset.element_spec
    assert sorted(features_spec) == sorted(FEATURE_NAMES)
    for name in FEATURE_NAMES:
        assert features_spec[name].dtype == tf.int32
        assert features_spec[name].shape.as_list() == [None, None]
    assert target_spec.dtype == tf.float32  # binary: one float target per example

    batches = _batches(dataset)
    assert [len(y) for _, y in batches] == [4, 4, 4, 4, 4, 2]
    targets = np.concatenate([y for _, y in batches])
    np.testing.assert_array_equal(targets, binary.encode_labels(reviews.labels))
    assert targets.shape == (22, 1) and set(targets.ravel()) == {0.0, 1.0}

    expected = binary.tokenizer(reviews.texts[:4])
    first_features = batches[0][0]
    for name in FEATURE_NAMES:
        assert first_features[name].dtype == np.int32
        np.testing.assert_array_equal(first_features[name], expected[name].numpy())
    # Real reviews are long: every one fills max_length, [CLS] first, [SEP] last.
    ids = first_features["token_ids"]
    assert ids.shape == (4, 24)
    assert (ids[:, 0] == binary.tokenizer.cls_id).all()
    assert (ids[:, -1] == binary.tokenizer.sep_id).all()
    assert (first_features["segment_ids"] == 0).all()

    dropped = classification_dataset(binary, reviews, batch_size=4, drop_remainder=True)
    assert [len(y) for _, y in _batches(dropped)] == [4] * 5


def test_multiclass_targets_are_int32_class_ids(one_label_per_review) -> None:
    model, data = one_label_per_review
    dataset = classification_dataset(model, data, batch_size=8)
    assert dataset.element_spec[1].dtype == tf.int32
    targets = np.concatenate([y for _, y in _batches(dataset)])
    np.testing.assert_array_equal(targets, np.arange(len(data)))
    np.testing.assert_array_equal(targets, model.encode_labels(data.labels))


def test_shuffle_is_seeded_covers_every_example_and_keeps_texts_with_labels(
    one_label_per_review,
) -> None:
    model, data = one_label_per_review
    n = len(data)

    def epoch_orders(seed: int, epochs: int = 2) -> list[list[int]]:
        dataset = classification_dataset(model, data, batch_size=5, shuffle=True, seed=seed)
        return [np.concatenate([y for _, y in _batches(dataset)]).tolist() for _ in range(epochs)]

    first, second = epoch_orders(7)
    assert sorted(first) == list(range(n)) and sorted(second) == list(range(n))
    assert first != list(range(n))  # actually shuffled
    assert first != second  # reshuffled every epoch (iteration)
    assert epoch_orders(7) == [first, second]  # same seed, same orders
    assert epoch_orders(8)[0] != first

    # Each text travels with its own label: the features of a shuffled row are the tokens of
    # the review its target names.
    dataset = classification_dataset(model, data, batch_size=5, shuffle=True, seed=7)
    checked = 0
    for features, targets in _batches(dataset):
        expected = model.tokenizer([data.texts[i] for i in targets])
        for row in range(len(targets)):
            assert _unpadded(features, row) == _unpadded(
                {k: v.numpy() for k, v in expected.items()}, row
            )
            checked += 1
    assert checked == n


def test_sentence_pairs_get_segment_ids_one(binary) -> None:
    data = TextClassificationData(
        ["A wonderful film.", "Dull."],
        ["positive", "negative"],
        text_pairs=["I would watch it again tomorrow.", "Two hours I will never get back."],
    )
    features, targets = next(iter(classification_dataset(binary, data, batch_size=2)))
    features = {k: v.numpy() for k, v in features.items()}
    np.testing.assert_array_equal(targets.numpy(), [[1.0], [0.0]])
    for row, (text, pair) in enumerate(zip(data.texts, data.text_pairs, strict=True)):
        tokens = binary.tokenizer.tokenize_to_strings(text, pair)
        first_sep = tokens.index("[SEP]")
        mask = features["padding_mask"][row].astype(bool)
        segments = features["segment_ids"][row]
        expected = [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)
        assert segments[mask].tolist() == expected
        assert (segments[~mask] == 0).all()
        assert [binary.tokenizer.id_to_token(i) for i in _unpadded(features, row)] == tokens
    assert features["segment_ids"].max() == 1


def test_without_labels_gives_features_only_and_unlabelled_data_is_refused(binary, reviews) -> None:
    dataset = classification_dataset(binary, reviews, batch_size=8, with_labels=False)
    assert isinstance(dataset.element_spec, dict)
    assert sorted(dataset.element_spec) == sorted(FEATURE_NAMES)
    batches = _batches(dataset)
    assert sum(len(b["token_ids"]) for b in batches) == len(reviews)
    logits = binary.predict(dataset, verbose=0)
    assert logits.shape == (len(reviews), 1)

    unlabelled = TextClassificationData(reviews.texts[:3], None)
    assert len(_batches(classification_dataset(binary, unlabelled, with_labels=False))) == 1
    with pytest.raises(ValueError, match="no labels; pass labelled data"):
        classification_dataset(binary, unlabelled)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        classification_dataset(binary, reviews, batch_size=0)


def test_length_buckets_batch_similar_lengths_and_cover_every_example(
    one_label_per_review,
) -> None:
    model, data = one_label_per_review
    n = len(data)
    by_length = sorted(range(n), key=lambda i: len(data.texts[i]))
    rank = {index: position for position, index in enumerate(by_length)}
    assert len({len(t) for t in data.texts}) == n  # distinct lengths: ranks are unambiguous

    def batches(seed: int) -> list[list[int]]:
        dataset = classification_dataset(
            model, data, batch_size=4, shuffle=True, seed=seed, bucket_by_length=True
        )
        return [y.tolist() for _, y in _batches(dataset)]

    first = batches(3)
    assert sorted(i for batch in first for i in batch) == list(range(n))
    assert all(1 <= len(batch) <= 4 for batch in first)
    # 22 examples in 8 quantile buckets of 2-3: every batch is one bucket, i.e. a run of
    # consecutive lengths.
    for batch in first:
        ranks = sorted(rank[i] for i in batch)
        assert ranks == list(range(ranks[0], ranks[0] + len(ranks))), batch
    assert batches(3) == first  # seeded
    unshuffled = classification_dataset(model, data, batch_size=4, bucket_by_length=True)
    assert sorted(i for _, y in _batches(unshuffled) for i in y.tolist()) == list(range(n))
