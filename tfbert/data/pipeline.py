"""tf.data pipelines that feed a task: tokenize in `map`, batch, prefetch.

`text_dataset` takes a preprocessor (the in-graph tokenizer) and optional targets, so any task
can use it; `classification_dataset` is the one for a task that encodes its own labels (a
classifier's `encode_labels`).

Tokenization runs inside the input pipeline, not the model, so that `fit` only ever sees numeric
tensors (this is what makes every `tf.distribute` strategy work, see RESOURCES trap 1) and so that
tokenizing the next batches overlaps with training on the current one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import tensorflow as tf

from tfbert.data.readers import TextClassificationData


class LabelledTask(Protocol):
    """What a pipeline needs of a task: its preprocessor and its label encoding."""

    preprocessor: Callable[[Any], dict[str, tf.Tensor]]

    def encode_labels(self, labels: Sequence[Any]) -> np.ndarray: ...


def classification_dataset(
    task: LabelledTask,
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
    """(features, targets) batches of `data` for `task`'s `fit`/`evaluate`, or features only
    (`with_labels=False`) for `predict`; the targets are `task.encode_labels(data.labels)`.
    The options are `text_dataset`'s."""
    targets = None
    if with_labels:
        if data.labels is None:
            raise ValueError(
                "these examples have no labels; pass labelled data to train or evaluate."
            )
        targets = task.encode_labels(data.labels)
    return text_dataset(
        task.preprocessor,
        data,
        targets,
        batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_remainder=drop_remainder,
        bucket_by_length=bucket_by_length,
        num_buckets=num_buckets,
    )


def text_dataset(
    preprocessor: Callable[[Any], dict[str, tf.Tensor]],
    data: TextClassificationData,
    targets: np.ndarray | None = None,
    batch_size: int = 32,
    *,
    shuffle: bool = False,
    seed: int | None = None,
    drop_remainder: bool = False,
    bucket_by_length: bool = False,
    num_buckets: int = 8,
) -> tf.data.Dataset:
    """(features, targets) batches for `fit`/`evaluate`, or features only without `targets`.

    `preprocessor` turns a batch of texts (or a {"text", "text_pair"} dict of them) into
    features inside the pipeline; `targets` has one row per text of `data`.

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
    with_labels = targets is not None
    if with_labels:
        if len(targets) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(targets)} targets; pass one each.")
        elements = (inputs, targets)
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
    tokenizer = preprocessor
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
