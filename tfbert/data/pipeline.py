"""tf.data pipelines that feed a classifier: tokenize in `map`, batch, prefetch.

Tokenization runs inside the input pipeline, not the model, so that `fit` only ever sees numeric
tensors (this is what makes every `tf.distribute` strategy work, see RESOURCES trap 1) and so that
tokenizing the next batches overlaps with training on the current one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from tfbert.data.readers import TextClassificationData

if TYPE_CHECKING:
    from tfbert.tasks.classifier import BertClassifier


def classification_dataset(
    classifier: BertClassifier,
    data: TextClassificationData,
    batch_size: int = 32,
    *,
    shuffle: bool = False,
    seed: int | None = None,
    with_labels: bool = True,
    drop_remainder: bool = False,
    bucket_by_length: bool = False,
    num_buckets: int = 8,
) -> tf.data.Dataset:
    """(features, targets) batches for `fit`/`evaluate`, or features only for `predict`.

    Shuffling happens on whole examples before batching, reshuffled every epoch with `seed`.
    With `bucket_by_length`, each batch is drawn from examples of similar length (character
    count, a cheap stand-in for token count; bucket edges at length quantiles), so that with a
    tokenizer padding to the batch's longest sequence little compute is spent on padding. The
    batches are shuffled again, so training still sees lengths in random order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    texts = list(data.texts)
    inputs = (
        texts if data.text_pairs is None else {"text": texts, "text_pair": list(data.text_pairs)}
    )
    if with_labels:
        if data.labels is None:
            raise ValueError(
                "these examples have no labels; pass labelled data to train or evaluate."
            )
        elements = (inputs, classifier.encode_labels(data.labels))
    else:
        elements = inputs
    if bucket_by_length:
        lengths = np.array([len(t) for t in texts], np.int64)
        if data.text_pairs is not None:
            lengths += np.array([len(t) for t in data.text_pairs], np.int64)
        buckets = _length_buckets(lengths, num_buckets)
        elements = (elements, buckets)
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        dataset = dataset.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    if bucket_by_length:
        dataset = dataset.group_by_window(
            key_func=lambda element, bucket: bucket,
            reduce_func=lambda _, window: window.batch(batch_size, drop_remainder=drop_remainder),
            window_size=batch_size,
        ).map(lambda element, bucket: element)
        # group_by_window hides the batch count; state it, so that learning-rate schedules and
        # Keras's progress bars see the real number of steps (partial batches included).
        sizes = np.bincount(buckets)
        steps = int(sum(n // batch_size if drop_remainder else -(-n // batch_size) for n in sizes))
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
        if shuffle:  # mix the buckets: neighbouring batches otherwise share a length range
            dataset = dataset.shuffle(64, seed=seed, reshuffle_each_iteration=True)
    else:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    tokenizer = classifier.tokenizer
    if with_labels:
        dataset = dataset.map(lambda x, y: (tokenizer(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = dataset.map(tokenizer, num_parallel_calls=tf.data.AUTOTUNE)
    # Under multi-worker strategies, shard by element: the data is in memory, not in files, so
    # the default (FILE, falling back to DATA with a warning) has nothing to shard by file.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def _length_buckets(lengths: np.ndarray, num_buckets: int) -> np.ndarray:
    """Bucket id of each example: edges at the length quantiles, so buckets are equally full."""
    edges = np.unique(np.quantile(lengths, np.linspace(0, 1, num_buckets + 1)[1:-1]))
    return np.searchsorted(edges, lengths, side="right").astype(np.int64)
