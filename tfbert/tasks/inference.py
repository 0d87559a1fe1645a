"""The inference graph a task shares between `predict_texts` and its export.

- `numeric_function`: a task's numeric part (features -> float32 outputs) traced once for any
  batch and length, optionally with its weights frozen in as constants (`weights_as_constants`).
- `length_sorted_rows`: runs a padded batch in micro-batches of similar length, so a request
  mixing short and long texts does not pay for its longest text in every row; each micro-batch
  runs at a multiple of `MICRO_BATCH_LENGTH_STEP` tokens (or the maximum length), so a server
  runs few distinct shapes whatever the requests' lengths.
- `predict_in_length_order`: the Python side of `predict_texts`: batches of strings in order of
  length, each padded to its longest, results put back in the caller's order.

    numeric = numeric_function(model, micro_batch=8, constant_weights=True)
    logits = numeric(preprocessor(texts))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfbert.contract import FEATURE_NAMES

# Micro-batch widths are rounded up to a multiple of this many tokens (never beyond the maximum
# length). Every distinct shape a served graph runs leaves oneDNN state (primitives, scratch
# memory) behind, so requests of any length 1..max_length would grow a server's memory with the
# number of lengths seen; rounded, at most max_length / step widths occur. The padding costs
# compute (half a step per text on average, most felt on short texts), so the step is small.
MICRO_BATCH_LENGTH_STEP = 8


def numeric_function(
    model: keras.Model,
    micro_batch: int | None = None,
    constant_weights: bool = False,
    width: int | None = None,
    max_length: int | None = None,
) -> Callable[[dict[str, tf.Tensor]], tf.Tensor]:
    """`model` (features -> one output row per text) as a traced function returning float32.

    With `micro_batch` (rows) the batch runs in length-sorted micro-batches
    (`length_sorted_rows`; `width` is the output row's size, `max_length` the tokenizer's, up
    to which micro-batches may be padded to a rounded width); with `constant_weights` the
    weights are frozen into the graph (`weights_as_constants`). The same function serves a
    task's `predict_texts` and its export, so both run one graph.
    """

    def rows(*columns: tf.Tensor) -> tf.Tensor:  # FEATURE_NAMES order: frozen functions
        features = dict(zip(FEATURE_NAMES, columns, strict=True))  # take positional tensors
        if micro_batch is None:
            return tf.cast(model(features, training=False), tf.float32)
        return length_sorted_rows(
            model, features, micro_batch, width, MICRO_BATCH_LENGTH_STEP, max_length
        )

    feature = tf.TensorSpec([None, None], tf.int32)
    concrete = tf.function(rows, autograph=False).get_concrete_function(
        *[feature] * len(FEATURE_NAMES)
    )
    if constant_weights:
        concrete = weights_as_constants(concrete)

    def call(features: dict[str, tf.Tensor]) -> tf.Tensor:
        result = concrete(*(features[name] for name in FEATURE_NAMES))
        if isinstance(result, (list, tuple)):  # a frozen function returns a flat list
            (result,) = result
        return result

    return call


def weights_as_constants(function: Any) -> Any:
    """`function` (a concrete function) with every variable it reads baked in as a constant.

    Exports and `predict_texts` read variables by default: stored once and shared by every
    signature. Frozen constants are copied by the runtime into each function that calls them
    (per signature, per optimized graph), which multiplies a served model's memory and its
    first-call time (benchmarks/footprint.py measures both); outputs agree up to bfloat16
    rounding. Kept for exports asked for with `constant_weights=True`.
    """
    # TensorFlow's own freezing pass (the TFLite converter's); not under tf.* in TF 2.21.
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    return convert_variables_to_constants_v2(function)


def length_sorted_rows(
    model: keras.Model,
    features: dict[str, tf.Tensor],
    micro_batch: int,
    width: int | None,
    length_step: int = 1,
    max_length: int | None = None,
) -> tf.Tensor:
    """`model`'s float32 output rows for a padded batch, computed `micro_batch` rows at a time
    in order of length, each micro-batch cut to its own longest row rounded up to a multiple
    of `length_step` tokens, then put back in order.

    The rounded width never exceeds the batch's padded width, or `max_length` when given: a
    batch padded to its longest text (one text, say) is first padded further, up to its width
    rounded up but at most `max_length`, so that every micro-batch runs at a multiple of
    `length_step` or at `max_length`, however long the texts are.

    A micro-batch also takes in every following row exactly as long as its longest (no padding
    added), so a request of equally long texts (long texts truncated to the maximum length)
    runs as one batch: small micro-batches cost matmul efficiency. Exact: outputs at real
    tokens do not depend on padding, so `length_step` only bounds the shapes that run.
    """
    if length_step < 1:
        raise ValueError(f"length_step must be at least 1, got {length_step}.")
    width = int(width if width is not None else model.outputs[0].shape[-1])
    lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), axis=1)
    order = tf.argsort(lengths, stable=True)
    ordered = {name: tf.gather(value, order) for name, value in features.items()}
    ordered_lengths = tf.gather(lengths, order)
    batch = tf.shape(lengths)[0]
    padded = tf.shape(features["padding_mask"])[1]
    if max_length is not None:  # pad (masked columns) up to the rounded width
        extra = tf.maximum(tf.minimum(_round_up(padded, length_step), max_length) - padded, 0)
        ordered = {name: tf.pad(value, [[0, 0], [0, extra]]) for name, value in ordered.items()}
        padded += extra

    def step(start: tf.Tensor, results: tf.TensorArray) -> tuple[tf.Tensor, tf.TensorArray]:
        longest = ordered_lengths[tf.minimum(start + micro_batch, batch) - 1]  # ascending order
        end = tf.searchsorted(ordered_lengths, longest[None], side="right")[0]
        cut = tf.minimum(_round_up(longest, length_step), padded)
        chunk = {name: value[start:end, :cut] for name, value in ordered.items()}
        rows = tf.cast(model(chunk, training=False), tf.float32)
        return end, results.write(results.size(), rows)

    results = tf.TensorArray(
        tf.float32, size=0, dynamic_size=True, infer_shape=False,
        element_shape=tf.TensorShape([None, width]),
    )  # fmt: skip
    _, results = tf.while_loop(
        lambda start, _: start < batch, step, (tf.constant(0), results), parallel_iterations=1
    )
    sorted_rows = tf.reshape(results.concat(), [batch, width])
    return tf.scatter_nd(order[:, None], sorted_rows, [batch, width])


def _round_up(value: tf.Tensor, step: int) -> tf.Tensor:
    """`value` rounded up to a multiple of `step`."""
    return (value + step - 1) // step * step


def check_texts(texts: Any, text_pairs: Any = None) -> tuple[list[str], list[str] | None]:
    """The texts (and pairs) as lists of str, or a clear error for anything else."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    pairs = None if text_pairs is None else list(text_pairs)
    if pairs is not None and len(pairs) != len(texts):
        raise ValueError(f"Got {len(texts)} texts but {len(pairs)} text_pairs; pass one each.")
    for name, values in (("texts", texts), ("text_pairs", pairs or [])):
        for value in values:
            if not isinstance(value, str):  # None included
                raise TypeError(f"{name} must be strings, got {type(value).__name__}: {value!r}.")
    return texts, pairs


def predict_in_length_order(
    function: Callable[..., tf.Tensor],
    texts: Sequence[str],
    pairs: Sequence[str] | None,
    batch_size: int,
    verbose: int | str = 0,
) -> np.ndarray:
    """`function(texts[, pairs])` over batches of strings in order of length, its output rows
    returned in the order of `texts`.

    Each batch then pads to a similar longest text, so little compute goes to padding.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    lengths = [len(t) + (len(pairs[i]) if pairs else 0) for i, t in enumerate(texts)]
    order = np.argsort(lengths, kind="stable")
    progress = keras.utils.Progbar(len(texts)) if verbose in (1, "auto") else None
    chunks = []
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        batch = [tf.constant([texts[i] for i in rows], tf.string)]
        if pairs is not None:
            batch.append(tf.constant([pairs[i] for i in rows], tf.string))
        chunks.append(function(*batch).numpy())
        if progress is not None:
            progress.add(len(rows))
    sorted_rows = np.concatenate(chunks)
    result = np.empty_like(sorted_rows)
    result[order] = sorted_rows
    return result
