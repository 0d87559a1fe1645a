"""Callbacks that Keras does not ship."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import keras


class PeriodicProgress(keras.callbacks.Callback):
    """One progress line every `every_seconds` during an epoch, for logs and non-terminals.

    Keras's `verbose=2` prints only at the end of each epoch, which leaves long epochs (an hour
    on a CPU is common) silent; `verbose=1` redraws a bar that log files render badly.
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

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        if now - self.last < self.every_seconds:
            return
        self.last = now
        steps = batch + 1
        rate = steps * self.batch_size / (now - self.started)
        total = f"/{self.steps_per_epoch}" if self.steps_per_epoch else ""
        eta = ""
        if self.steps_per_epoch:
            remaining = (self.steps_per_epoch - steps) * (now - self.started) / steps
            eta = f", epoch ends in {remaining / 60:.0f} min"
        metrics = ", ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items())
        print(
            f"epoch {self.epoch + 1} step {steps}{total}: {metrics}, {rate:.1f} examples/s{eta}",
            file=self.stream,
            flush=True,
        )
