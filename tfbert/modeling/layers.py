"""The Keras layers BERT is built from, tuned for CPUs: Dense, LayerNorm and Dropout with the
same weights and results as Keras's own, plus the initializer and activations the encoder uses.

Only the matmuls follow Keras's dtype policy (`dense_layer`); LayerNorm, dropout and the
residual stream stay float32 (see tfbert.modeling.bert's "Precision").
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops

from tfbert.config import BertConfig
from tfbert.modeling.kernels import matmul_add_bias


def weight_initializer(config: BertConfig) -> keras.initializers.Initializer:
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


def exact_gelu(x):
    """GELU in the exact erf form of the original BERT: x * Phi(x).

    Written out rather than Keras's gelu, which uses erfc: on CPUs a bfloat16 Erfc runs about
    10x slower than Erf on real activations (most of a training step's GELU cost), and this
    form is still the pattern TensorFlow's graph optimiser fuses into the Dense matmul at
    inference. Same function: equal to within 2e-6 in float32; in bfloat16 within two bfloat16
    steps at magnitude max(|gelu|, 1), as Keras's own bfloat16 GELU (1 + erf cancels for
    negative inputs).
    """
    return 0.5 * x * (1.0 + tf.math.erf(x * tf.constant(0.7071067811865476, x.dtype)))


def activation_function(name: str):
    if name == "gelu":
        return exact_gelu
    if name == "gelu_approximate":
        return lambda x: keras.activations.gelu(x, approximate=True)
    return keras.activations.get(name)


@keras.saving.register_keras_serializable(package="tfbert")
class Dense(keras.layers.Dense):
    """Keras's Dense; in training under a bfloat16/float16 policy its bias gradient is summed
    in float32 (see tfbert.modeling.kernels.matmul_add_bias). Same weights, same forward
    result, same inference graph.
    """

    def call(self, inputs, training=None):
        plain = (
            not training
            or self.bias is None
            or self.compute_dtype == "float32"
            or self.lora_enabled
            or self.quantization_mode is not None
        )
        if plain:
            return super().call(inputs, training=training)
        dtype = self.compute_dtype
        rows = ops.reshape(inputs, (-1, ops.shape(inputs)[-1]))
        x = matmul_add_bias(rows, ops.cast(self.kernel, dtype), ops.cast(self.bias, dtype))
        if len(inputs.shape) != 2:
            x = ops.reshape(x, (*ops.shape(inputs)[:-1], self.units))
        return x if self.activation is None else self.activation(x)


def dense_layer(config: BertConfig, units: int, name: str, **kwargs: Any) -> Dense:
    """A Dense layer under the global dtype policy: the one place lower precision applies."""
    return Dense(units, kernel_initializer=weight_initializer(config), name=name, **kwargs)


@keras.saving.register_keras_serializable(package="tfbert")
class LayerNorm(keras.layers.LayerNormalization):
    """Keras's LayerNormalization over the last axis (same weights and result), computed in
    float32 from a few plain ops: mean, centre, mean of squares, scale and shift.

    Keras's version runs about 1.7x slower on CPU (2.4 vs 1.4 ms on [32, 128, 384]), and a
    MiniLM-sized BERT has 13: the bfloat16 encoder's inference is ~5% faster this way (1 x 128
    and 32 x 128 tokens), a bfloat16 training step ~4% (the embeddings' LayerNorm; the blocks'
    run inside add_dropout_norm when training). Frozen exports gain less (0-3%).
    """

    def call(self, inputs):
        last_axis = self.axis in ([-1], [len(inputs.shape) - 1])
        if not last_axis or self.gamma is None or self.beta is None:
            return super().call(inputs)
        x = ops.cast(inputs, "float32")
        centered = x - ops.mean(x, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(centered), axis=-1, keepdims=True)
        normed = centered * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta
        return ops.cast(normed, self.compute_dtype)  # as Keras's layer returns


def layer_norm(config: BertConfig, name: str) -> LayerNorm:
    return LayerNorm(epsilon=config.layer_norm_epsilon, dtype="float32", name=name)


def float32(x):
    """Back to the float32 residual stream after a (possibly bfloat16) Dense layer."""
    return ops.cast(x, "float32")


@keras.saving.register_keras_serializable(package="tfbert")
class Dropout(keras.layers.Dropout):
    """Keras's Dropout, drawing 16 random bits per element instead of a 32-bit float.

    Random numbers are the main cost of dropout on CPUs (TensorFlow's Philox makes ~660M
    numbers/s on 2 cores), and BERT drops ~38M values per MiniLM-sized training step, most of
    them attention probabilities. Half the random words makes the attention dropout 40%
    faster; the drop probability is rounded to a multiple of 1/65536 (0.1 -> 0.100006). Same
    seed generator as Keras's layer, so checkpoints and resume see the same state.
    """

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0 or self.noise_shape is not None:
            return super().call(inputs, training=training)
        scale = tf.cast(1.0 / (1.0 - self.rate), inputs.dtype)
        return tf.where(self.keep_mask(tf.shape(inputs)), inputs * scale, tf.zeros_like(inputs))

    def keep_mask(self, shape) -> tf.Tensor:
        """A fresh boolean mask of `shape`, True with probability 1 - rate (no 1/(1 - rate)
        scaling: for callers that fold the scale into a smaller tensor)."""
        seed = self.seed_generator.next()
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)  # as Keras does
        count = tf.reduce_prod(shape)
        words = tf.random.stateless_uniform(
            [(count + 1) // 2], seed=seed, minval=None, maxval=None, dtype=tf.uint32
        )
        halves = tf.reshape(tf.bitcast(words, tf.uint16), [-1])[:count]
        threshold = tf.constant(round(self.rate * 65536), tf.uint16)
        return tf.reshape(halves >= threshold, shape)
