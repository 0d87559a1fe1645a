"""The fused training kernels of tfbert.modeling.kernels against TensorFlow's own ops."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfbert.modeling.kernels import sparse_cross_entropy


def test_sparse_cross_entropy_matches_tensorflow_and_its_gradient() -> None:
    rng = np.random.default_rng(3)
    # Wide logits (a confident model) and every label, first and last class included.
    logits = tf.constant(rng.normal(0.0, 8.0, (3, 7, 301)), tf.float32)
    labels = tf.constant(rng.integers(0, 301, (3, 7)), tf.int32)
    labels = tf.tensor_scatter_nd_update(labels, [[0, 0], [2, 6]], [0, 300])
    upstream = tf.constant(rng.uniform(0.0, 1.0, (3, 7)), tf.float32)  # e.g. mask weights
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        ours = sparse_cross_entropy(labels, logits)
        reference = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    assert ours.shape == (3, 7) and ours.dtype == tf.float32
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-5, atol=1e-5)
    ours_gradient = tape.gradient(ours, logits, output_gradients=upstream)
    reference_gradient = tape.gradient(reference, logits, output_gradients=upstream)
    np.testing.assert_allclose(ours_gradient.numpy(), reference_gradient.numpy(), atol=1e-6)
    # A gradient that cannot be the reference's: labels shifted by one class.
    shifted = sparse_cross_entropy((labels + 1) % 301, logits)
    assert np.abs(shifted.numpy() - reference.numpy()).max() > 1.0
