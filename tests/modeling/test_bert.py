"""The BERT encoder: masking, dropout, shapes of every output, serialisation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.config import BertConfig
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.precision import emulated_bfloat16

CONFIG = BertConfig.from_preset("tiny", vocab_size=500, max_position_embeddings=64)


@pytest.fixture(scope="module")
def encoder() -> BertEncoder:
    keras.utils.set_random_seed(7)
    layer = BertEncoder(CONFIG)
    layer(layer.dummy_inputs())
    return layer


def features(token_ids, segment_ids=None, mask=None):
    token_ids = np.asarray(token_ids, np.int32)
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids)
        if segment_ids is None
        else np.asarray(segment_ids, np.int32),
        "padding_mask": np.ones_like(token_ids) if mask is None else np.asarray(mask, np.int32),
    }


def test_padding_does_not_change_real_positions(encoder: BertEncoder) -> None:
    real = [[2, 45, 77, 301, 3]]
    padded = [[2, 45, 77, 301, 3, 0, 0, 0, 0, 0, 0]]
    # Also garbage under the padding: the mask, not the pad id, must be what hides it.
    garbage = [[2, 45, 77, 301, 3, 99, 12, 450, 7, 7, 7]]
    mask = [[1] * 5 + [0] * 6]
    short = encoder(features(real))
    for ids in (padded, garbage):
        long = encoder(features(ids, mask=mask))
        np.testing.assert_allclose(long["pooled_output"], short["pooled_output"], atol=1e-5)
        np.testing.assert_allclose(
            long["sequence_output"][:, :5], short["sequence_output"], atol=1e-5
        )


def test_dropout_only_in_training(encoder: BertEncoder) -> None:
    batch = features([[2, 10, 20, 30, 3]])
    first, second = encoder(batch)["pooled_output"], encoder(batch)["pooled_output"]
    np.testing.assert_array_equal(first, second)
    trained = encoder(batch, training=True)["pooled_output"]
    assert np.abs(np.asarray(trained) - np.asarray(first)).max() > 1e-4


def test_segment_ids_and_positions_matter(encoder: BertEncoder) -> None:
    base = encoder(features([[2, 10, 20, 3]]))["pooled_output"]
    other_segment = encoder(features([[2, 10, 20, 3]], segment_ids=[[0, 0, 1, 1]]))["pooled_output"]
    swapped = encoder(features([[2, 20, 10, 3]]))["pooled_output"]
    assert np.abs(np.asarray(base) - np.asarray(other_segment)).max() > 1e-4
    assert np.abs(np.asarray(base) - np.asarray(swapped)).max() > 1e-4


def test_all_layer_outputs_on_request(encoder: BertEncoder) -> None:
    outputs = encoder(
        features([[2, 10, 20, 3], [2, 5, 3, 0]], mask=[[1, 1, 1, 1], [1, 1, 1, 0]]),
        return_all_layers=True,
    )
    states = outputs["hidden_states"]
    assert len(states) == CONFIG.num_layers + 1
    assert all(tuple(s.shape) == (2, 4, CONFIG.hidden_size) for s in states)
    np.testing.assert_array_equal(states[-1], outputs["sequence_output"])
    # The pooler is tanh(dense([CLS])), so its values lie strictly inside (-1, 1).
    assert np.abs(np.asarray(outputs["pooled_output"])).max() < 1.0


def test_post_layer_norm_outputs_are_normalised(encoder: BertEncoder) -> None:
    sequence = np.asarray(encoder(features([[2, 10, 20, 30, 40, 3]]))["sequence_output"])
    # LayerNorm with gamma=1, beta=0 at initialisation: mean 0, variance 1 over the hidden axis.
    np.testing.assert_allclose(sequence.mean(-1), 0.0, atol=1e-4)
    np.testing.assert_allclose(sequence.var(-1), 1.0, atol=1e-2)


def test_parameter_count_matches_the_bert_formula() -> None:
    c = BertConfig.from_preset("base")
    layer = BertEncoder(c)
    layer.build()
    h, f = c.hidden_size, c.intermediate_size
    embeddings = (c.vocab_size + c.max_position_embeddings + c.type_vocab_size) * h + 2 * h
    block = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 4 * h
    expected = embeddings + c.num_layers * block + (h * h + h)
    assert layer.count_params() == expected == 109_482_240  # BERT-base without the MLM head


def test_get_config_round_trip(encoder: BertEncoder) -> None:
    clone = BertEncoder.from_config(encoder.get_config())
    clone(clone.dummy_inputs())
    clone.set_weights(encoder.get_weights())
    batch = features([[2, 10, 20, 3]])
    np.testing.assert_allclose(
        clone(batch)["pooled_output"], encoder(batch)["pooled_output"], atol=1e-6
    )
    assert clone.config == CONFIG


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_dropout_drops_at_its_rate_and_keeps_the_expectation(rate: float) -> None:
    from tfbert.modeling.bert import Dropout

    layer = Dropout(rate, seed=3)
    ones = np.ones((64, 12, 128, 16), "float32")  # 1.6M values, odd counts handled below too
    out = np.asarray(layer(ones, training=True))
    dropped = float(np.mean(out == 0.0))
    assert abs(dropped - rate) < 0.003  # binomial sd ~2.4e-4 at 0.1
    assert np.allclose(out[out != 0.0], 1.0 / (1.0 - rate))
    assert abs(float(out.mean()) - 1.0) < 0.01
    # Each call draws a fresh mask; the layer is the identity at inference.
    again = np.asarray(layer(ones, training=True))
    assert np.mean((again == 0.0) != (out == 0.0)) > 0.5 * 2 * rate * (1 - rate)
    np.testing.assert_array_equal(np.asarray(layer(ones, training=False)), ones)
    odd = np.asarray(layer(np.ones((3, 5, 7), "float32"), training=True))
    assert odd.shape == (3, 5, 7)
    assert np.all(np.isclose(odd, 0.0) | np.isclose(odd, 1.0 / (1.0 - rate)))


def test_dropout_masks_follow_the_seed_generator_state() -> None:
    """Resume restores the seed generator's state: the same state must give the same mask."""
    from tfbert.modeling.bert import Dropout

    first, second = Dropout(0.2, seed=7), Dropout(0.2, seed=7)
    x = np.ones((8, 33), "float32")
    np.testing.assert_array_equal(first(x, training=True), second(x, training=True))
    state = np.asarray(first.seed_generator.state)
    after = np.asarray(first(x, training=True))
    first.seed_generator.state.assign(state)
    np.testing.assert_array_equal(first(x, training=True), after)
    restored = keras.layers.deserialize(keras.layers.serialize(first))
    assert isinstance(restored, Dropout) and restored.rate == 0.2


def test_exact_gelu_matches_the_erfc_form_and_its_gradient() -> None:
    import tensorflow as tf

    from tfbert.modeling.bert import exact_gelu

    x = tf.constant(np.linspace(-12.0, 12.0, 4001), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, reference = exact_gelu(x), tf.nn.gelu(x, approximate=False)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), atol=2e-6)
    np.testing.assert_allclose(
        tape.gradient(ours, x).numpy(), tape.gradient(reference, x).numpy(), atol=2e-6
    )
    # bfloat16: off by at most two bfloat16 steps at magnitude max(|gelu|, 1), as Keras's own
    # bfloat16 GELU is (1 + erf cancels for negative inputs, an absolute error below 0.008).
    x16 = tf.cast(x, tf.bfloat16)
    exact = tf.nn.gelu(tf.cast(x16, tf.float32), approximate=False).numpy()
    step = np.maximum(np.abs(exact), 1.0) * 2.0**-8
    for form in (exact_gelu, lambda t: tf.nn.gelu(t, approximate=False)):
        rounded = tf.cast(form(x16), tf.float32).numpy()
        assert np.all(np.abs(rounded - exact) <= 2 * step)


def test_fused_gelu_matches_exact_gelu_and_its_gradient() -> None:
    import tensorflow as tf

    from tfbert.modeling.bert import exact_gelu, fused_gelu

    x = tf.constant(np.linspace(-12.0, 12.0, 4001), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        fused, exact = fused_gelu(x), exact_gelu(x)
    np.testing.assert_allclose(fused.numpy(), exact.numpy(), atol=2e-6)
    np.testing.assert_allclose(tape.gradient(fused, x), tape.gradient(exact, x), atol=2e-6)
    # bfloat16 in and out: computed in float32 and rounded once, so within one bfloat16 step of
    # the exact value plus float32 cancellation (autodiff of the written-out form rounds after
    # every op: off by up to 0.008 for negative inputs).
    x16 = tf.cast(x * 0.37, tf.bfloat16)
    upstream = tf.cast(tf.cos(x), tf.bfloat16)
    wide = tf.cast(x16, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x16, wide])
        fused, exact = fused_gelu(x16), exact_gelu(wide)
    assert fused.dtype == tf.bfloat16
    for ours, reference in (
        (fused, exact),
        (
            tape.gradient(fused, x16, output_gradients=upstream),
            tape.gradient(exact, wide, output_gradients=tf.cast(upstream, tf.float32)),
        ),
    ):
        reference = reference.numpy()
        step = np.abs(reference) * 2.0**-8 + 1e-6
        assert np.all(np.abs(tf.cast(ours, tf.float32).numpy() - reference) <= step)


def test_training_uses_fused_gelu_and_learns_the_same_function(encoder: BertEncoder) -> None:
    # Without dropout, training mode (fused_gelu) and inference (exact_gelu, fusable into
    # the matmul) compute the same encoder.
    from tfbert.modeling.bert import BertEncoder

    quiet = BertEncoder(CONFIG.replace(hidden_dropout=0.0, attention_dropout=0.0))
    batch = features([[2, 10, 20, 30, 3, 0]], mask=[[1, 1, 1, 1, 1, 0]])
    quiet(batch)
    quiet.set_weights(encoder.get_weights())
    np.testing.assert_allclose(
        quiet(batch, training=True)["sequence_output"],
        quiet(batch)["sequence_output"],
        atol=1e-5,
    )


def test_dense_bias_gradient_is_summed_in_float32_under_bfloat16() -> None:
    import tensorflow as tf

    from tfbert.modeling.bert import Dense

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(0, 1, (4096, 64)), tf.float32)
    upstream = tf.constant(rng.normal(0, 1, (4096, 96)), tf.float32)
    ours = Dense(96, dtype="mixed_bfloat16")
    theirs = keras.layers.Dense(96, dtype="mixed_bfloat16")
    ours.build((None, 64))
    theirs.build((None, 64))
    theirs.set_weights(ours.get_weights())

    def gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
        return (y, *tape.gradient(loss, [x, layer.kernel, layer.bias]))

    (y, dx, dkernel, dbias), (y_ref, dx_ref, dkernel_ref, _) = (
        gradients(layer) for layer in (ours, theirs)
    )
    assert y.dtype == tf.bfloat16
    np.testing.assert_array_equal(tf.cast(y, tf.float32), tf.cast(y_ref, tf.float32))
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(dkernel, dkernel_ref, rtol=1e-2, atol=0.5)
    exact = tf.reduce_sum(tf.cast(tf.cast(upstream, tf.bfloat16), tf.float64), 0).numpy()
    # One rounding of the float32 sum to bfloat16: to nearest (within 2^-8 of the value) where
    # the CPU has native bfloat16, toward zero (within 2^-7) where the conversion is emulated.
    # TensorFlow's BiasAddGrad, summing in bfloat16, was off by ~10% of the largest value.
    bound = 2.0**-7 if emulated_bfloat16() else 2.0**-8
    assert np.all(np.abs(dbias.numpy() - exact) <= np.abs(exact) * bound + 1e-6)
    # Inference and float32 layers take Keras's own path.
    np.testing.assert_array_equal(tf.cast(ours(x), tf.float32), tf.cast(theirs(x), tf.float32))


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_attention_dropout_keeps_the_expectation(precision: str) -> None:
    import tensorflow as tf

    from tfbert.modeling.bert import SelfAttention
    from tfbert.training.precision import set_precision

    set_precision(precision)
    try:
        keras.utils.set_random_seed(5)
        attention = SelfAttention(CONFIG.replace(attention_dropout=0.3))
        attention.build()
        rng = np.random.default_rng(1)
        x = tf.constant(rng.normal(0, 1, (2 * 16, CONFIG.hidden_size)), tf.float32)
        key_bias = tf.constant([[0.0] * 16, [0.0] * 10 + [-30000.0] * 6])
        draws = 400  # as many copies of the batch in one call: each draws its own mask
        copies = attention(tf.tile(x, [draws, 1]), tf.tile(key_bias, [draws, 1]), training=True)
        samples = tf.reshape(copies, (draws, *x.shape)).numpy()
    finally:
        set_precision("float32")
    expected = attention(x, key_bias).numpy()
    mean = samples.mean(axis=0)
    assert np.abs(samples[0] - expected).max() > 0.1 * np.abs(expected).max()  # dropout acted
    # The training output is linear in the kept probabilities, so its mean is the inference
    # output: the same scale (a missing 1 / (1 - rate) would give 0.7) and within 6 standard
    # errors everywhere.
    slope = float(np.sum(mean * expected) / np.sum(expected**2))
    assert abs(slope - 1.0) < 0.03
    standard_error = samples.std(axis=0) / np.sqrt(draws)
    assert np.all(np.abs(mean - expected) <= 6 * standard_error + 1e-6)


def test_bfloat16_inference_softmax_is_bit_identical_to_the_float32_one() -> None:
    from tfbert.modeling.bert import SelfAttention
    from tfbert.training.precision import set_precision

    set_precision("bfloat16")
    try:
        keras.utils.set_random_seed(6)
        attention = SelfAttention(CONFIG.replace(attention_dropout=0.0))
        attention.build()
    finally:
        set_precision("float32")
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(0, 3, (2 * 16, CONFIG.hidden_size)), tf.float32)
    key_bias = tf.constant([[0.0] * 16, [0.0] * 10 + [-30000.0] * 6])
    # training=True without dropout is the same computation with the softmax in float32.
    inference = tf.function(lambda x, b: attention(x, b, training=False))
    softmaxes = [
        op for op in inference.get_concrete_function(x, key_bias).graph.get_operations()
        if op.type == "Softmax"
    ]  # fmt: skip
    assert [op.get_attr("T") for op in softmaxes] == [tf.bfloat16]
    float32_softmax = attention(x, key_bias, training=True).numpy()
    if emulated_bfloat16():  # no oneDNN bfloat16 kernel: the same up to bfloat16 rounding
        np.testing.assert_allclose(inference(x, key_bias).numpy(), float32_softmax, atol=2.0**-10)
    else:
        np.testing.assert_array_equal(inference(x, key_bias).numpy(), float32_softmax)


def test_layer_norm_equals_keras_layer_normalization_and_its_gradients() -> None:
    from tfbert.modeling.bert import LayerNorm

    rng = np.random.default_rng(0)
    # Real-looking activations: an offset and a few large features, as BERT's residual stream has.
    x = rng.normal(0.3, 1.0, (2, 7, 48)).astype(np.float32)
    x[..., 5] *= 20.0
    ours, keras_norm = LayerNorm(epsilon=1e-12), keras.layers.LayerNormalization(epsilon=1e-12)
    for layer in (ours, keras_norm):
        layer.build((None, None, 48))
    weights = [
        rng.normal(1.0, 0.2, 48).astype(np.float32),
        rng.normal(0, 0.2, 48).astype(np.float32),
    ]
    ours.set_weights(weights)
    keras_norm.set_weights(weights)
    upstream = tf.constant(rng.normal(size=x.shape).astype(np.float32))
    results = []
    for layer in (ours, keras_norm):
        inputs = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = layer(inputs)
            loss = tf.reduce_sum(y * upstream)
        results.append((y, *tape.gradient(loss, [inputs, layer.gamma, layer.beta])))
    for mine, reference in zip(results[0], results[1], strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=2e-5)
    normed = (results[0][0].numpy() - weights[1]) / weights[0]  # per row: mean 0, variance 1
    np.testing.assert_allclose(normed.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(normed.var(-1), 1.0, rtol=1e-4)
    # Round-trips through its config like any Keras layer.
    clone = LayerNorm.from_config(ours.get_config())
    assert clone.epsilon == ours.epsilon and isinstance(clone, LayerNorm)


@pytest.mark.parametrize("rate", [0.0, 0.25])
def test_add_dropout_norm_matches_keras_layer_norm_and_its_gradients(rate: float) -> None:
    import tensorflow as tf

    from tfbert.modeling.bert import Dropout, add_dropout_norm

    rng = np.random.default_rng(3)
    norm = keras.layers.LayerNormalization(epsilon=1e-12)
    norm.build((None, 64))
    norm.set_weights([rng.normal(1, 0.3, 64), rng.normal(0, 0.3, 64)])
    x, branch, upstream = (tf.constant(rng.normal(0, 2, (300, 64)), tf.float32) for _ in "xbu")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, branch])
        fused = add_dropout_norm(x, branch, norm, Dropout(rate, seed=1))
        loss = tf.reduce_sum(fused * upstream)
    d_x, d_branch, d_gamma, d_beta = tape.gradient(loss, [x, branch, norm.gamma, norm.beta])
    scale = 1.0 / (1.0 - rate)
    kept = (d_branch.numpy() != 0.0) if rate else np.ones(branch.shape, bool)
    if rate:  # the gradient drops what the forward pass dropped: one mask for both
        assert abs(1.0 - kept.mean() - rate) < 0.02
        np.testing.assert_allclose(d_branch.numpy()[kept], d_x.numpy()[kept] * scale, rtol=1e-6)
    # Keras's LayerNormalization under autodiff, given the same kept positions.
    dropped = tf.where(kept, branch * scale, 0.0)
    with tf.GradientTape() as tape:
        tape.watch([x, dropped])
        reference = norm(x + dropped)
        reference_loss = tf.reduce_sum(reference * upstream)
    ref_x, ref_dropped, ref_gamma, ref_beta = tape.gradient(
        reference_loss, [x, dropped, norm.gamma, norm.beta]
    )
    np.testing.assert_allclose(fused, reference, atol=2e-5)
    np.testing.assert_allclose(d_x, ref_x, atol=2e-5)
    np.testing.assert_allclose(d_branch, np.where(kept, ref_dropped * scale, 0.0), atol=2e-5)
    np.testing.assert_allclose(d_gamma, ref_gamma, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(d_beta, ref_beta, rtol=1e-4, atol=1e-3)


def test_output_positions_compute_those_positions_alone_with_the_same_values_and_gradients(
    encoder: BertEncoder,
) -> None:
    # Training mode without dropout exercises the training kernels (fused GELU, add-norm).
    quiet = BertEncoder(CONFIG.replace(hidden_dropout=0.0, attention_dropout=0.0))
    batch = features(
        [[2, 10, 20, 30, 3, 0, 0], [2, 40, 50, 60, 70, 80, 3], [2, 7, 3, 0, 0, 0, 0]],
        segment_ids=[[0, 0, 0, 1, 1, 0, 0], [0] * 7, [0] * 7],
        mask=[[1] * 5 + [0] * 2, [1] * 7, [1] * 3 + [0] * 4],
    )
    quiet(batch)
    quiet.set_weights(encoder.get_weights())
    last = quiet.blocks[-1]
    rows_seen = []
    forward = last.intermediate.call
    last.intermediate.call = lambda x, **kw: rows_seen.append(x.shape[0]) or forward(x, **kw)
    weights = np.linspace(-1, 1, CONFIG.hidden_size)

    def run(positions, training: bool):
        with tf.GradientTape() as tape:
            out = quiet(batch, training=training, output_positions=positions)
            sequence = out["sequence_output"]
            if positions is None:  # the same positions, gathered from the full output
                sequence = tf.gather(sequence, chosen, batch_dims=1)
            loss = tf.reduce_sum(out["pooled_output"] * weights) + tf.reduce_sum(
                tf.tanh(sequence) * weights
            )
        return out["pooled_output"], sequence, tape.gradient(loss, quiet.trainable_variables)

    # [CLS] alone (a classifier), and [CLS] plus positions in any order (masked-LM).
    for chosen in (np.zeros((3, 1), np.int32), np.array([[0, 4, 1], [0, 6, 6], [0, 2, 0]])):
        for training in (False, True):
            pooled, sequence, grads = run(chosen, training)
            assert rows_seen[-1] == chosen.size  # the last block's feed-forward saw p per text
            pooled_ref, sequence_ref, grads_ref = run(None, training)
            assert rows_seen[-1] == 3 * 7
            np.testing.assert_allclose(pooled, pooled_ref, atol=1e-5)
            np.testing.assert_allclose(sequence, sequence_ref, atol=1e-5)
            pairs = zip(quiet.trainable_variables, grads, grads_ref, strict=True)
            for variable, grad, grad_ref in pairs:
                dense = [tf.convert_to_tensor(g) for g in (grad, grad_ref)]  # embeddings: sparse
                np.testing.assert_allclose(*dense, rtol=1e-5, atol=1e-5, err_msg=variable.path)
    with pytest.raises(ValueError, match="return_all_layers"):
        quiet(batch, output_positions=chosen, return_all_layers=True)
