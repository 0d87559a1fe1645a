"""The masked-LM head: tied decoder logits and their gradients, in float32 and bfloat16."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.config import BertConfig
from tfbert.modeling.heads import MaskedLMHead
from tfbert.modeling.precision import dtype_policy

CONFIG = BertConfig.from_preset("tiny", vocab_size=700, max_position_embeddings=64)


def head_and_reference(policy: str):
    """A head under `policy`, with the token embedding layer it decodes with."""
    keras.utils.set_random_seed(5)
    with dtype_policy(policy):
        embedding = keras.layers.Embedding(CONFIG.vocab_size, CONFIG.hidden_size, dtype="float32")
        embedding.build((None,))
        head = MaskedLMHead(CONFIG, embedding)
        head.build()
    head.output_bias.assign(np.random.default_rng(1).normal(0, 1, CONFIG.vocab_size))
    return head, embedding


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_decoder_logits_and_embedding_gradient(policy: str) -> None:
    head, embedding = head_and_reference(policy)
    x = np.random.default_rng(2).normal(0, 1, (3, 5, CONFIG.hidden_size)).astype(np.float32)
    # The transform (Dense, GELU, LayerNorm) in float32, then the tied decoder written out.
    with dtype_policy("float32"):
        transformed = head.layer_norm(head.activation(head.transform(tf.constant(x)))).numpy()
    table = np.asarray(embedding.embeddings, np.float64)
    expected = transformed.astype(np.float64) @ table.T + np.asarray(head.output_bias)
    with tf.GradientTape() as tape:
        logits = head(tf.constant(x))
        loss = tf.reduce_sum(logits * tf.range(CONFIG.vocab_size, dtype=tf.float32) / 700.0)
    assert logits.dtype == tf.float32 and logits.shape == (3, 5, CONFIG.vocab_size)
    gradient = tape.gradient(loss, embedding.embeddings)
    assert isinstance(gradient, tf.Tensor) and gradient.shape == embedding.embeddings.shape
    # d loss / d embeddings[v] = (v / 700) * sum over positions of the transformed vectors.
    summed = transformed.reshape(-1, CONFIG.hidden_size).sum(0)
    expected_gradient = np.arange(CONFIG.vocab_size)[:, None] / 700.0 * summed[None, :]
    if policy == "float32":
        np.testing.assert_allclose(logits.numpy(), expected, atol=2e-4)
        np.testing.assert_allclose(gradient.numpy(), expected_gradient, rtol=1e-4, atol=1e-4)
    else:  # bfloat16 matmuls: within a few bfloat16 steps of the magnitudes involved
        scale = np.abs(expected).max()
        assert np.abs(logits.numpy() - expected).max() < 0.03 * scale
        assert np.abs(logits.numpy() - expected).max() > 0  # it did round
        relative = (
            np.abs(gradient.numpy() - expected_gradient).max() / np.abs(expected_gradient).max()
        )
        assert relative < 0.03
