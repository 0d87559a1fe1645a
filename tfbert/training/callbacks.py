"""Callbacks that Keras does not ship."""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any, TextIO

import keras


class PeriodicProgress(keras.callbacks.Callback):
    """One progress line every `every_seconds` during an epoch, for logs and non-terminals.

    Keras's `verbose=2` prints only at the end of each epoch, which leaves long epochs (an hour
    on a CPU is common) silent; `verbose=1` redraws a bar that log files render badly.

    The rate and the time left come from the steps after the epoch's first one: the first step
    of a run also traces the training step and fills the input pipeline (seconds to minutes),
    and counting it would understate the rate for most of the epoch.
    """

    def __init__(
        self,
        steps_per_epoch: int | None,
        batch_size: int,
        every_seconds: float = 60.0,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.every_seconds = every_seconds
        self.stream = stream or sys.stderr

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch
        self.started = self.last = time.monotonic()
        self.first_step_ended: float | None = None

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        if self.first_step_ended is None:
            self.first_step_ended = now
        if now - self.last < self.every_seconds:
            return
        self.last = now
        steps = batch + 1  # in this call of fit
        # A resumed epoch starts after the batches trained before the interruption.
        step = steps + int((getattr(self, "params", None) or {}).get("initial_step", 0))
        if steps > 1 and now > self.first_step_ended:  # the steady rate, after the first step
            seconds_per_step = (now - self.first_step_ended) / (steps - 1)
        else:
            seconds_per_step = (now - self.started) / steps
        rate = self.batch_size / seconds_per_step if seconds_per_step > 0 else math.inf
        total = f"/{self.steps_per_epoch}" if self.steps_per_epoch else ""
        eta = ""
        if self.steps_per_epoch:
            remaining = (self.steps_per_epoch - step) * seconds_per_step
            eta = f", epoch ends in {remaining / 60:.0f} min"
        metrics = ", ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items())
        print(
            f"epoch {self.epoch + 1} step {step}{total}: {metrics}, {rate:.1f} examples/s{eta}",
            file=self.stream,
            flush=True,
        )


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the lowest `monitor` in `path`.

    Unlike Keras's ModelCheckpoint it writes atomically (a kill while saving leaves the previous
    best intact, not a torn file), and its `best` is part of the resume state: a resumed run
    does not replace the best checkpoint with a worse epoch because its memory of the best
    value was reset.
    """

    def __init__(self, path: str | Path, monitor: str = "val_loss") -> None:
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from tfbert.training.resume import save_weights_atomically

        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"BestWeights: no {self.monitor!r} in the logs.", stacklevel=2)
            return
        value = float(value)
        if math.isnan(value) or (self.best is not None and not value < self.best):
            return
        self.best, self.best_epoch = value, epoch
        save_weights_atomically(self.model, self.path)

    def get_resume_state(self) -> tuple[dict[str, Any], list]:
        return {"best": self.best, "best_epoch": self.best_epoch}, []

    def set_resume_state(self, meta: dict[str, Any], arrays: list) -> None:
        self.best, self.best_epoch = meta["best"], meta["best_epoch"]
