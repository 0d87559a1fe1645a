"""fine_tune, its artefacts and best-epoch restore; the warm-up schedule; AdamW; class weights."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tfbert.data import TextClassificationData
from tfbert.data.pipeline import classification_dataset
from tfbert.tasks.classifier import BertClassifier
from tfbert.training.fine_tune import TrainingConfig, balanced_class_weights, fine_tune
from tfbert.training.optimization import WarmupLinearDecay, create_optimizer

NAMES = {"0": "negative", "1": "positive"}


def _subset(imdb_reviews, start: int, per_label: int) -> TextClassificationData:
    """`per_label` real reviews of each label, interleaved, from position `start` of each."""
    negative = [t for t, y in imdb_reviews if y == "0"][start : start + per_label]
    positive = [t for t, y in imdb_reviews if y == "1"][start : start + per_label]
    texts = [t for pair in zip(negative, positive, strict=True) for t in pair]
    return TextClassificationData(texts, ["negative", "positive"] * per_label)


def _tiny(english_vocab, labels=("negative", "positive"), **kwargs) -> BertClassifier:
    keras.utils.set_random_seed(5)
    return BertClassifier.from_preset(
        "tiny",
        vocabulary=english_vocab,
        labels=list(labels),
        max_length=32,
        tokenizer_options={"pad_to": "longest"},
        **kwargs,
    )


class _SpoilLastValidation(keras.callbacks.Callback):
    """Scrambles the weights just before the last epoch's validation pass.

    That epoch then has by far the worst validation loss, so the weights fine_tune leaves in the
    model must come from an earlier epoch: the test cannot pass by keeping the last weights.
    """

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.last = epochs - 1
        self.epoch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_test_begin(self, logs=None):
        if self.epoch == self.last:
            rng = np.random.default_rng(0)
            for variable in self.model.head.trainable_weights:
                value = keras.ops.convert_to_numpy(variable)
                variable.assign(value + rng.normal(0.0, 5.0, value.shape).astype(value.dtype))


def test_fine_tune_writes_its_artefacts_and_restores_the_best_epoch(
    english_vocab, imdb_reviews, tmp_path
) -> None:
    train = _subset(imdb_reviews, 0, 48)
    validation = _subset(imdb_reviews, 100, 16)
    model = _tiny(english_vocab)
    config = TrainingConfig(epochs=3, batch_size=16, learning_rate=1e-3, backup_every_steps=2)
    history = fine_tune(
        model,
        train,
        validation,
        config=config,
        output_dir=tmp_path,
        verbose=0,
        extra_callbacks=[_SpoilLastValidation(config.epochs)],
    )

    val_loss = history.history["val_loss"]
    assert len(val_loss) == 3 and np.isfinite(val_loss).all()
    assert val_loss[-1] > max(val_loss[:-1])  # the spoiled epoch is the worst

    assert (tmp_path / "checkpoints" / "best.weights.h5").is_file()
    assert any((tmp_path / "logs").rglob("events.out.tfevents.*"))
    assert not (tmp_path / "backup").exists()  # deleted once training finished
    record = json.loads((tmp_path / "history.json").read_text(encoding="utf-8"))
    best_epoch = int(np.argmin(val_loss)) + 1
    assert record["best_epoch"] == best_epoch < 3
    assert record["config"]["epochs"] == 3 and record["config"]["learning_rate"] == 1e-3
    np.testing.assert_allclose(record["history"]["val_loss"], val_loss, rtol=1e-6)
    assert sorted(record["history"]) == sorted(history.history)

    # The model holds the best epoch's weights: its validation loss is the minimum recorded.
    restored = model.evaluate(
        classification_dataset(model, validation, config.batch_size), verbose=0, return_dict=True
    )
    np.testing.assert_allclose(restored["loss"], min(val_loss), rtol=1e-4, atol=1e-5)
    assert restored["loss"] < val_loss[-1]


def test_fine_tune_without_validation_or_output_dir(english_vocab, imdb_reviews) -> None:
    model = _tiny(english_vocab)
    history = fine_tune(
        model,
        _subset(imdb_reviews, 0, 16),
        None,
        config=TrainingConfig(epochs=1, batch_size=16, learning_rate=1e-3),
        verbose=0,
    )
    assert set(history.history) == {"loss", "accuracy"}
    assert np.isfinite(history.history["loss"]).all()


def test_warmup_linear_decay_values() -> None:
    schedule = WarmupLinearDecay(peak=1e-3, total_steps=100, warmup_steps=10)
    values = {step: float(schedule(step)) for step in (0, 5, 10, 55, 100, 150)}
    expected = {
        0: 1e-4,  # the first update already learns: 1e-3 * 1 / 10
        5: 6e-4,  # the sixth update: 1e-3 * 6 / 10
        10: 1e-3,  # end of warm-up: the peak
        55: 5e-4,  # half-way down: 1e-3 * (1 - 45 / 90)
        100: 0.0,  # the end
        150: 0.0,  # past the end it stays at `end`
    }
    for step, value in expected.items():
        assert values[step] == pytest.approx(value, rel=1e-6, abs=1e-10), step

    no_warmup = WarmupLinearDecay(peak=2e-5, total_steps=4, warmup_steps=0, end=1e-5)
    assert [float(no_warmup(s)) for s in range(5)] == pytest.approx(
        [2e-5, 1.75e-5, 1.5e-5, 1.25e-5, 1e-5], rel=1e-6
    )
    assert WarmupLinearDecay.from_config(schedule.get_config()).get_config() == {
        "peak": 1e-3,
        "total_steps": 100,
        "warmup_steps": 10,
        "end": 0.0,
    }
    with pytest.raises(ValueError, match="total_steps must be positive"):
        WarmupLinearDecay(1e-3, 0)
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupLinearDecay(1e-3, 10, warmup_steps=11)

    # create_optimizer wires it in with warmup_fraction of the total steps (here 10 of 100).
    optimizer = create_optimizer(1e-3, total_steps=100, warmup_fraction=0.1)
    assert float(optimizer.learning_rate) == pytest.approx(1e-4)
    optimizer.iterations.assign(10)
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)
    optimizer.iterations.assign(55)
    assert float(optimizer.learning_rate) == pytest.approx(5e-4)


def test_adamw_decays_weights_but_not_layer_norm_or_biases(english_vocab) -> None:
    """With zero gradients Adam's step is zero, so any change is weight decay alone."""
    model = _tiny(english_vocab)
    learning_rate, weight_decay = 0.1, 0.5
    optimizer = create_optimizer(learning_rate, weight_decay=weight_decay)
    variables = model.trainable_variables
    before = [keras.ops.convert_to_numpy(v).copy() for v in variables]
    optimizer.apply_gradients([(keras.ops.zeros_like(v), v) for v in variables])

    kinds = {"decayed": set(), "kept": set()}
    for variable, old in zip(variables, before, strict=True):
        new = keras.ops.convert_to_numpy(variable)
        if variable.name in ("gamma", "beta", "bias"):
            np.testing.assert_array_equal(new, old, err_msg=variable.path)
            kinds["kept"].add(variable.name)
        else:
            np.testing.assert_allclose(
                new, old * (1 - learning_rate * weight_decay), rtol=1e-6, err_msg=variable.path
            )
            kinds["decayed"].add(variable.name)
    # Both groups were really exercised: LayerNorm scale/offset and biases are kept, kernels
    # and all embeddings are decayed (as in BERT's reference optimiser).
    assert kinds["kept"] == {"gamma", "beta", "bias"}
    assert {"kernel", "embeddings", "position_embedding"} <= kinds["decayed"]


def test_balanced_class_weights_follow_sklearn_formula() -> None:
    # 30 of class 0, 10 of class 1, none of class 2: n / (k * count) with k = 2 present classes.
    targets = np.array([0] * 30 + [1] * 10)
    weights = balanced_class_weights(targets, num_labels=3)
    assert weights == pytest.approx({0: 40 / (2 * 30), 1: 40 / (2 * 10), 2: 1.0})
    # Binary targets come as [N, 1] floats: same result.
    assert balanced_class_weights(targets[:, None].astype(np.float32), 2) == pytest.approx(
        {0: 2 / 3, 1: 2.0}
    )


def test_fine_tune_passes_balanced_class_weights_and_rejects_multilabel(
    english_vocab, imdb_reviews, monkeypatch
) -> None:
    negative = [t for t, y in imdb_reviews if y == "0"][:24]
    positive = [t for t, y in imdb_reviews if y == "1"][:8]
    train = TextClassificationData(negative + positive, ["negative"] * 24 + ["positive"] * 8)
    model = _tiny(english_vocab)

    seen = {}
    real_fit = BertClassifier.fit

    def spy(self, *args, **kwargs):
        seen["class_weight"] = kwargs.get("class_weight")
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(BertClassifier, "fit", spy)
    config = TrainingConfig(epochs=1, batch_size=16, learning_rate=1e-3, class_weights=True)
    fine_tune(model, train, None, config=config, verbose=0)
    assert seen["class_weight"] == pytest.approx({0: 32 / (2 * 24), 1: 32 / (2 * 8)})

    seen.clear()
    fine_tune(model, train, None, config=TrainingConfig(epochs=1, batch_size=16), verbose=0)
    assert seen["class_weight"] is None

    multilabel = _tiny(english_vocab, labels=("negative", "positive"), problem_type="multilabel")
    with pytest.raises(ValueError, match="class weights apply to single-label problems"):
        fine_tune(
            multilabel,
            TextClassificationData(train.texts, [[label] for label in train.labels]),
            None,
            config=config,
            verbose=0,
        )


class _RecordLearningRate(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def test_no_training_step_runs_at_learning_rate_zero(english_vocab, imdb_reviews) -> None:
    model = _tiny(english_vocab)
    recorder = _RecordLearningRate()
    train = _subset(imdb_reviews, 0, 20)  # 40 examples: 3 batches of 16 without bucketing
    fine_tune(
        model,
        train,
        None,
        config=TrainingConfig(epochs=2, batch_size=16, learning_rate=1e-3),
        verbose=0,
        extra_callbacks=[recorder],
    )
    rates = recorder.rates  # (6 scheduled steps: warm-up int(0.6) = 0 steps, then decay)
    assert rates[0] == pytest.approx(1e-3)
    assert all(rate > 0 for rate in rates), rates
