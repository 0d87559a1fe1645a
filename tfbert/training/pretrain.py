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
) -> keras.callbacks.History:
    """Masked-LM + NSP pretraining for `steps` updates, in epochs of `steps_per_epoch`.

    With `output_dir`: TensorBoard logs, a step-level backup so that rerunning resumes, and
    `history.json` with the throughput of every epoch.
    """
    keras.utils.set_random_seed(seed)
    dataset = pretrainer.pretraining_dataset(
        source, batch_size=batch_size, repeat=True, whole_word_masking=whole_word_masking, seed=seed
    )
    tokens_per_example = mean_tokens_per_example(dataset)
    epochs = max(1, -(-steps // steps_per_epoch))
    with pretrainer.distribute_strategy.scope():
        pretrainer.compile(
            optimizer=create_optimizer(
                learning_rate, total_steps=epochs * steps_per_epoch, warmup_fraction=warmup_fraction
            )
        )
    callbacks: list[keras.callbacks.Callback] = [Throughput(batch_size, tokens_per_example)]
    if verbose == 2:
        callbacks.append(PeriodicProgress(steps_per_epoch, batch_size))
    if output_dir is not None:
        output_dir = Path(output_dir)
        callbacks += [
            keras.callbacks.TensorBoard(log_dir=str(output_dir / "logs")),
            keras.callbacks.BackupAndRestore(
                str(output_dir / "backup"), save_freq=min(200, steps_per_epoch)
            ),
        ]
    history = pretrainer.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,
    )
    if output_dir is not None:
        record = {
            "steps": epochs * steps_per_epoch,
            "batch_size": batch_size,
            "tokens_per_example": tokens_per_example,
            "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        }
        (output_dir / "pretrain_history.json").write_text(
            json.dumps(record, indent=2) + "\n", encoding="utf-8"
        )
    return history
