"""CPU kernels with hand-written gradients for the BERT training step.

Each replaces a chain of element-wise ops that autodiff would run as many passes over memory
with one XLA-fused loop forward and one backward, or fixes a precision problem of TensorFlow's
own gradient. They compute the same function as the plain ops that inference uses (where
TensorFlow fuses activations into the matmul instead): `fused_gelu` (exact GELU),
`matmul_add_bias` (a Dense layer's matmul and bias with a float32-accumulated bias gradient)
and `add_dropout_norm` (residual add, dropout and LayerNorm). `tfbert.modeling.layers` and
`tfbert.modeling.bert` call them only when training. `sparse_cross_entropy` (softmax
cross-entropy against integer labels) is the masked-LM loss and perplexity of the pretraining
tasks (`tfbert.tasks.pretrainer`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

_INV_SQRT_2PI = 0.3989422804014327


@tf.function(jit_compile=True, reduce_retracing=True)
def _fused_gelu_forward(x):
    wide = tf.cast(x, tf.float32)
    return tf.cast(0.5 * wide * (1.0 + tf.math.erf(wide * 0.7071067811865476)), x.dtype)


@tf.function(jit_compile=True, reduce_retracing=True)
def _fused_gelu_backward(x, upstream):
    wide = tf.cast(x, tf.float32)
    cdf = 0.5 * (1.0 + tf.math.erf(wide * 0.7071067811865476))
    pdf = tf.exp(-0.5 * wide * wide) * _INV_SQRT_2PI
    return tf.cast(tf.cast(upstream, tf.float32) * (cdf + wide * pdf), x.dtype)


@tf.custom_gradient
def fused_gelu(x):
    """exact_gelu for training: the forward pass and the gradient each one XLA-fused loop.

    Autodiff of the written-out GELU runs ~14 element-wise ops over the [tokens, intermediate]
    activations, each a full pass in memory (a third of the element-wise time of a bfloat16
    training step); fused, forward and gradient take less than half the time, computed in
    float32 and rounded once. Not for inference: there TensorFlow fuses exact_gelu into the
    matmul itself, which this custom gradient would block.
    """
    return _fused_gelu_forward(x), lambda upstream: _fused_gelu_backward(x, upstream)


@tf.custom_gradient
def matmul_add_bias(x, kernel, bias):
    """x @ kernel + bias for 2-D x, whose bias gradient sums the rows with a float32 accumulator.

    TensorFlow's BiasAddGrad (what autodiff of a Dense layer's bias becomes) accumulates a
    bfloat16 gradient in bfloat16 on CPUs: over the 4,096 rows of a 32 x 128 batch, a bias
    gradient of magnitude ~270 came out up to 25 off. A [1, rows] x [rows, units] matmul sums
    in float32 inside oneDNN (only the result is rounded) and is faster as well. The matmul
    stays one op feeding the bias add, so the forward pass still fuses into one kernel.
    """
    y = tf.nn.bias_add(tf.matmul(x, kernel), bias)

    def gradient(upstream):
        ones = tf.ones([1, tf.shape(upstream)[0]], upstream.dtype)
        return (
            tf.matmul(upstream, kernel, transpose_b=True),
            tf.matmul(x, upstream, transpose_a=True),
            tf.reshape(tf.matmul(ones, upstream), [-1]),
        )

    return y, gradient


@tf.function(jit_compile=True, reduce_retracing=True)
def _add_norm_forward(x, branch, keep, scale, gamma, beta, epsilon):
    branch = tf.cast(branch, tf.float32)
    if keep is not None:
        branch = tf.where(keep, branch * scale, 0.0)
    summed = x + branch
    centered = summed - tf.reduce_mean(summed, axis=-1, keepdims=True)
    inverse_std = tf.math.rsqrt(tf.reduce_mean(tf.square(centered), -1, keepdims=True) + epsilon)
    normed = centered * inverse_std
    return normed * gamma + beta, normed, inverse_std


@tf.function(jit_compile=True, reduce_retracing=True)
def _add_norm_backward(upstream, normed, inverse_std, keep, scale, gamma, branch_dtype):
    d_normed = upstream * gamma
    d_summed = inverse_std * (
        d_normed
        - tf.reduce_mean(d_normed, axis=-1, keepdims=True)
        - normed * tf.reduce_mean(d_normed * normed, axis=-1, keepdims=True)
    )
    d_branch = d_summed if keep is None else tf.where(keep, d_summed * scale, 0.0)
    return (
        d_summed,
        tf.cast(d_branch, branch_dtype),
        tf.reduce_sum(upstream * normed, axis=0),
        tf.reduce_sum(upstream, axis=0),
    )


def add_dropout_norm(
    x, branch, norm: keras.layers.LayerNormalization, dropout: keras.layers.Dropout
):
    """norm(x + dropout(branch)) for training, forward and gradient each one XLA-fused loop.

    The residual add, dropout and LayerNorm run ~25 element-wise passes over the
    [tokens, hidden] activations under autodiff; fused they are two, and the branch (a Dense
    output, possibly bfloat16) is widened inside. x: [rows, hidden] float32.
    """
    keep = dropout.keep_mask(tf.shape(branch)) if dropout.rate > 0 else None
    scale = 1.0 / (1.0 - dropout.rate)

    @tf.custom_gradient
    def fused(x, branch, gamma, beta):
        y, normed, inverse_std = _add_norm_forward(
            x, branch, keep, scale, gamma, beta, norm.epsilon
        )

        def gradient(upstream):
            return _add_norm_backward(
                upstream, normed, inverse_std, keep, scale, gamma, branch.dtype
            )

        return y, gradient

    return fused(x, branch, tf.convert_to_tensor(norm.gamma), tf.convert_to_tensor(norm.beta))


@tf.function(jit_compile=True, reduce_retracing=True)
def _cross_entropy_forward(labels, logits):
    peak = tf.stop_gradient(tf.reduce_max(logits, axis=-1, keepdims=True))
    log_total = tf.math.log(tf.reduce_sum(tf.exp(logits - peak), axis=-1)) + peak[..., 0]
    picked = tf.gather(logits, labels, batch_dims=len(labels.shape))
    return log_total - picked, log_total


@tf.function(jit_compile=True, reduce_retracing=True)
def _cross_entropy_backward(labels, logits, log_total, upstream):
    probabilities = tf.exp(logits - log_total[..., None])
    target = tf.one_hot(labels, tf.shape(logits)[-1], dtype=logits.dtype)
    return (probabilities - target) * upstream[..., None]


def sparse_cross_entropy(labels, logits):
    """Per-position cross-entropy of float32 `logits` [..., classes] against int `labels` [...].

    The function of `tf.nn.sparse_softmax_cross_entropy_with_logits`, forward and gradient
    each one XLA-fused loop. That op runs single-threaded over the logits and always computes
    its gradient too, which makes it the slowest part of a masked-LM training step over a
    21k-token vocabulary, and it runs twice there (the loss and the perplexity metric). Labels
    must lie in [0, classes) (the op would raise on others; a gather here clamps them).
    """
    labels = tf.cast(labels, tf.int32)
    logits = tf.convert_to_tensor(logits)

    @tf.custom_gradient
    def fused(logits):
        loss, log_total = _cross_entropy_forward(labels, logits)

        def gradient(upstream):
            return _cross_entropy_backward(labels, logits, log_total, upstream)

        return loss, gradient

    return fused(logits)
