"""The fine-tuning optimiser: the fused AdamW step against Keras's own AdamW; layer-wise
learning-rate decay."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.training.optimization import AdamW, create_optimizer, layer_decay_multipliers


def _model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(50, 8)(tokens)  # a sparse (IndexedSlices) gradient
    x = keras.layers.LayerNormalization()(keras.layers.GlobalAveragePooling1D()(x))
    return keras.Model(tokens, keras.layers.Dense(3)(x))


def _train(optimizer: keras.optimizers.Optimizer, steps: int = 6) -> list[np.ndarray]:
    model = _model(0)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(True))
    rng = np.random.default_rng(1)
    for _ in range(steps):
        model.train_on_batch(rng.integers(0, 50, (16, 6)), rng.integers(0, 3, 16))
    return [w.numpy() for w in model.weights]


def test_fused_step_matches_keras_adamw() -> None:
    settings = dict(learning_rate=1e-2, weight_decay=0.1, epsilon=1e-6, global_clipnorm=1.0)
    ours = AdamW(**settings)
    reference = keras.optimizers.AdamW(**settings)
    for optimizer in (ours, reference):
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    trained, expected = _train(ours), _train(reference)
    initial = [w.numpy() for w in _model(0).weights]
    for got, want, start in zip(trained, expected, initial, strict=True):
        assert np.abs(want - start).max() > 1e-3  # the step did move every weight
        np.testing.assert_allclose(got, want, atol=2e-6)


def test_create_optimizer_uses_the_fused_step_and_round_trips() -> None:
    optimizer = create_optimizer(3e-5, total_steps=100)
    assert isinstance(optimizer, AdamW)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, AdamW) and restored.weight_decay == optimizer.weight_decay
    assert float(restored.learning_rate) == float(optimizer.learning_rate)


# ----- layer-wise learning-rate decay -----------------------------------------------------------


def _tiny_bert(english_vocab):
    from tfbert.tasks.classifier import BertClassifier

    keras.utils.set_random_seed(3)
    return BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=["neg", "pos"], max_length=32,
        hidden_dropout=0.0, attention_dropout=0.0,
    )  # fmt: skip


def _groups(model):
    """{name: variables} for the embeddings, each block and the rest (pooler and head)."""
    groups = model.backbone.layer_groups()
    named = {"embeddings": groups[0], **{f"layer_{i}": g for i, g in enumerate(groups[1:])}}
    grouped = {id(v) for g in groups for v in g}
    named["top"] = [v for v in model.trainable_weights if id(v) not in grouped]
    return named


def test_layer_decay_multipliers_follow_the_layers(english_vocab) -> None:
    model = _tiny_bert(english_vocab)  # 2 blocks
    multipliers = layer_decay_multipliers(model, 0.5)
    expected = {"embeddings": 0.25, "layer_0": 0.5, "layer_1": 1.0, "top": 1.0}
    for name, variables in _groups(model).items():
        assert variables
        for variable in variables:
            assert multipliers.get(variable.path, 1.0) == expected[name], variable.path
    with pytest.raises(ValueError, match="layer decay"):
        layer_decay_multipliers(model, 1.5)
    with pytest.raises(ValueError, match="layer_groups"):
        layer_decay_multipliers(_model(0), 0.9)  # a network that does not list its layers


def _one_step(model, imdb_texts, decay, weight_decay, zero_gradients=False):
    optimizer = create_optimizer(
        1e-3, weight_decay=weight_decay, clip_norm=None,
        learning_rate_multipliers=layer_decay_multipliers(model, decay),
    )  # fmt: skip
    optimizer.exclude_from_weight_decay(var_names=[])
    features = model.preprocessor(imdb_texts[:8])
    targets = np.array([[0.0], [1.0]] * 4, np.float32)
    with tf.GradientTape() as tape:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)(targets, model(features))
    gradients = tape.gradient(loss, model.trainable_weights)
    if zero_gradients:
        gradients = [tf.zeros_like(v) for v in model.trainable_weights]
    before = {v.path: v.numpy() for v in model.trainable_weights}
    optimizer.apply_gradients(zip(gradients, model.trainable_weights, strict=True))
    return before, gradients


def test_layer_decay_scales_each_layers_adam_step(english_vocab, imdb_texts) -> None:
    """The same model and batch, one AdamW step with decay 0.5 and one without: every weight's
    step is its layer's multiplier (0.5 ** depth below the top layer) times the plain step,
    which is what a separate Adam at that learning rate would take (scaling the gradient
    instead would leave Adam's step unchanged)."""
    plain_model = _tiny_bert(english_vocab)
    plain_before, _ = _one_step(plain_model, imdb_texts, decay=1.0, weight_decay=0.0)
    plain = {v.path: v.numpy() - plain_before[v.path] for v in plain_model.trainable_weights}
    model = _tiny_bert(english_vocab)
    before, _ = _one_step(model, imdb_texts, decay=0.5, weight_decay=0.0)
    multipliers = {"embeddings": 0.25, "layer_0": 0.5, "layer_1": 1.0, "top": 1.0}
    for name, variables in _groups(model).items():
        moved = 0
        for v in variables:
            step = v.numpy() - before[v.path]
            # atol: two float32 steps (ulps) of a weight near 1 (LayerNorm scales)
            np.testing.assert_allclose(
                step, multipliers[name] * plain[v.path], rtol=1e-4, atol=1.2e-7, err_msg=v.path
            )
            moved += np.abs(step).max() > 1e-5
        assert moved, name  # the layer did learn


def test_layer_decay_scales_weight_decay_too(english_vocab, imdb_texts) -> None:
    """With zero gradients only the decoupled weight decay moves the weights:
    w -= w * weight_decay * lr * multiplier."""
    model = _tiny_bert(english_vocab)
    before, _ = _one_step(model, imdb_texts, decay=0.5, weight_decay=0.1, zero_gradients=True)
    multipliers = {"embeddings": 0.25, "layer_0": 0.5, "layer_1": 1.0, "top": 1.0}
    for name, variables in _groups(model).items():
        for v in variables:
            want = before[v.path] * (1 - 0.1 * 1e-3 * multipliers[name])
            np.testing.assert_allclose(v.numpy(), want, rtol=1e-6, atol=1e-9, err_msg=v.path)


def test_layer_decay_multipliers_survive_serialization() -> None:
    optimizer = create_optimizer(3e-5, learning_rate_multipliers={"a/b": 0.5})
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert restored.learning_rate_multipliers == {"a/b": 0.5}
