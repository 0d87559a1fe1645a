"""The fine-tuning optimiser: the fused AdamW step against Keras's own AdamW."""

from __future__ import annotations

import keras
import numpy as np

from tfbert.training.optimization import AdamW, create_optimizer


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
