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
