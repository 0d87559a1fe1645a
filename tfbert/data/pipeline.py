"""tf.data pipelines that feed a classifier: tokenize in `map`, batch, prefetch.

Tokenization runs inside the input pipeline, not the model, so that `fit` only ever sees numeric
tensors (this is what makes every `tf.distribute` strategy work, see RESOURCES trap 1) and so that
tokenizing the next batches overlaps with training on the current one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
) -> tf.data.Dataset:
    """(features, targets) batches for `fit`/`evaluate`, or features only for `predict`.

    Shuffling happens on whole examples before batching, reshuffled every epoch with `seed`.
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
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        dataset = dataset.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    tokenizer = classifier.tokenizer
    if with_labels:
        dataset = dataset.map(lambda x, y: (tokenizer(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = dataset.map(tokenizer, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
