"""Pretraining a BertPretrainer with `model.fit`: schedule, callbacks, artefacts, throughput."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tfbert.tasks.pretrainer import BertPretrainer
from tfbert.training.callbacks import PeriodicProgress
from tfbert.training.optimization import create_optimizer
from tfbert.training.resume import TrainingBackup, atomic_write, resumable_fit


class Throughput(keras.callbacks.Callback):
    """Examples and tokens per second of each epoch, added to the logs (and TensorBoard)."""

    def __init__(self, batch_size: int, tokens_per_example: float) -> None:
        super().__init__()
        self.batch_size, self.tokens_per_example = batch_size, tokens_per_example

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started, self.steps = time.monotonic(), 0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.steps = batch + 1

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        examples = self.steps * self.batch_size / max(time.monotonic() - self.started, 1e-9)
        if logs is not None:
            logs["examples_per_second"] = examples
            logs["tokens_per_second"] = examples * self.tokens_per_example


def mean_tokens_per_example(dataset: Any, batches: int = 10) -> float:
    """Real (unpadded) tokens per example, measured on the first batches of `dataset`."""
    counts = [
        np.asarray(inputs["padding_mask"]).sum(axis=1) for inputs, *_ in dataset.take(batches)
    ]
    return float(np.concatenate(counts).mean()) if counts else 0.0


def pretrain(
    pretrainer: BertPretrainer,
    source: Any,
    *,
    steps: int,
    steps_per_epoch: int = 500,
    batch_size: int = 32,
    learning_rate: float = 1e-4,
    warmup_fraction: float = 0.01,
    whole_word_masking: bool = False,
    seed: int = 13,
    output_dir: str | Path | None = None,
    verbose: int | str = "auto",
    backup_every_steps: int | None = 200,
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
    keep_backup: bool = False,
) -> keras.callbacks.History:
    """Masked-LM + NSP pretraining for `steps` updates, in epochs of `steps_per_epoch`.

    With `output_dir`: TensorBoard logs, step-level backups so that rerunning the same call
    resumes exactly where the backup was taken, and `history.json` with the throughput of
    every epoch. The data is one endless stream, a pure function of `seed` (a fresh dataset is
    built for every `fit`); a resumed run skips the batches already trained on, which costs
    the time to generate them again but no training. The backup is removed at the end unless
    `keep_backup` (a caller that writes more files afterwards removes it once they exist).
    """
    keras.utils.set_random_seed(seed)

    def stream():
        return pretrainer.pretraining_dataset(
            source,
            batch_size=batch_size,
            repeat=True,
            whole_word_masking=whole_word_masking,
            seed=seed,
        )

    tokens_per_example = mean_tokens_per_example(stream())
    epochs = max(1, -(-steps // steps_per_epoch))
    with pretrainer.distribute_strategy.scope():
        pretrainer.compile(
            optimizer=create_optimizer(
                learning_rate, total_steps=epochs * steps_per_epoch, warmup_fraction=warmup_fraction
            )
        )
    callbacks: list[keras.callbacks.Callback] = list(extra_callbacks or [])
    callbacks.append(Throughput(batch_size, tokens_per_example))
    if verbose == 2:
        callbacks.append(PeriodicProgress(steps_per_epoch, batch_size))
    backup = None
    if output_dir is not None:
        output_dir = Path(output_dir)
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(output_dir / "logs")))
        backup = TrainingBackup(
            output_dir / "backup",
            steps_per_epoch=steps_per_epoch,
            every_steps=min(backup_every_steps or steps_per_epoch, steps_per_epoch),
            fingerprint={
                "steps": steps,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "warmup_fraction": warmup_fraction,
                "whole_word_masking": whole_word_masking,
                "seed": seed,
            },
            delete_at_end=not keep_backup,
        )
    history = resumable_fit(
        pretrainer,
        lambda epoch, skip: stream().skip(epoch * steps_per_epoch + skip),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        backup=backup,
        stream=True,
        verbose=verbose,
    )
    if output_dir is not None:
        record = {
            "steps": epochs * steps_per_epoch,
            "batch_size": batch_size,
            "tokens_per_example": tokens_per_example,
            "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        }
        atomic_write(
            output_dir / "pretrain_history.json",
            lambda path: path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8"),
        )
    return history
