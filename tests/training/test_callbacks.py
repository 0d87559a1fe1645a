"""PeriodicProgress: progress lines during long epochs."""

from __future__ import annotations

import io

import keras
import numpy as np

from tfbert.training.callbacks import PeriodicProgress


def test_periodic_progress_reports_steps_rate_and_eta() -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.random.rand(40, 4), np.random.rand(40, 1)
    stream = io.StringIO()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[PeriodicProgress(5, 8, every_seconds=0.0, stream=stream)],
    )
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10  # every step of both epochs, with every_seconds=0
    assert lines[0].startswith("epoch 1 step 1/5: loss ")
    assert lines[-1].startswith("epoch 2 step 5/5: ")
    assert all("examples/s, epoch ends in" in line for line in lines)

    quiet = io.StringIO()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        verbose=0,
        callbacks=[PeriodicProgress(5, 8, every_seconds=3600, stream=quiet)],
    )
    assert quiet.getvalue() == ""


def test_periodic_progress_counts_from_the_resumed_step() -> None:
    progress = PeriodicProgress(10, 8, every_seconds=0.0, stream=io.StringIO())
    progress.set_params({"verbose": 2, "epochs": 3, "steps": 6, "initial_step": 4})
    progress.on_epoch_begin(1)
    progress.on_train_batch_end(0, {"loss": 0.5})
    assert progress.stream.getvalue().startswith("epoch 2 step 5/10: loss 0.5000")


def test_rate_and_time_left_leave_out_the_first_step(monkeypatch) -> None:
    """A first step of 300 s (tracing) then steps of 60 s: 8 examples per 60 s, not per 140 s."""
    clock = iter([0.0, 300.0, 360.0, 420.0])  # epoch begins; steps 1, 2 and 3 end
    monkeypatch.setattr("tfbert.training.callbacks.time.monotonic", lambda: next(clock))
    progress = PeriodicProgress(10, 8, every_seconds=0.0, stream=io.StringIO())
    progress.on_epoch_begin(0)
    for batch in range(3):
        progress.on_train_batch_end(batch, {"loss": 1.0})
    lines = progress.stream.getvalue().splitlines()
    assert lines[0].endswith("0.0 examples/s, epoch ends in 45 min")  # only the first step known
    assert lines[2].endswith("step 3/10: loss 1.0000, 0.1 examples/s, epoch ends in 7 min")


def test_best_weights_keeps_the_best_epoch_and_its_state(tmp_path) -> None:
    from tfbert.training.callbacks import BestWeights

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path / "best.weights.h5"
    best = BestWeights(path, monitor="val_loss")
    best.set_model(model)
    best.on_epoch_end(0, {"val_loss": 0.5})
    saved = [w.copy() for w in model.get_weights()]
    model.set_weights([w + 1 for w in saved])
    best.on_epoch_end(1, {"val_loss": 0.7})  # worse: the checkpoint keeps epoch 1
    best.on_epoch_end(2, {"val_loss": float("nan")})
    assert (best.best, best.best_epoch) == (0.5, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.weights.h5"]  # no temp files
    model.load_weights(path)
    for loaded, expected in zip(model.get_weights(), saved, strict=True):
        np.testing.assert_array_equal(loaded, expected)

    # What a resumed run restores: a worse epoch then still does not replace the checkpoint.
    resumed = BestWeights(path, monitor="val_loss")
    resumed.set_resume_state(*best.get_resume_state())
    resumed.set_model(model)
    model.set_weights([w + 1 for w in saved])
    resumed.on_epoch_end(3, {"val_loss": 0.6})
    model.load_weights(path)
    np.testing.assert_array_equal(model.get_weights()[0], saved[0])
