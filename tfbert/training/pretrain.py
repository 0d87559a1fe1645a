"""Pretraining with `model.fit`: the objective, schedule, time budget, callbacks, artefacts.

Objectives (`OBJECTIVES`, `create_pretrainer`): "mlm-nsp" (BERT's masked LM + next sentence
prediction, `BertPretrainer`), "mlm" (masked LM alone, `BertPretrainer(...,
next_sentence_prediction=False)`) and "electra" (replaced-token detection,
`ElectraPretrainer`). `pretrain` trains any of them; each writes a directory that
`tfbert train --init-from` fine-tunes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tfbert.config import PRETRAINING_OBJECTIVES
from tfbert.contract import PRETRAIN_HISTORY_FILE, SNAPSHOT_PREFIX
from tfbert.files import fsync_directory, make_public
from tfbert.tasks.electra import ElectraPretrainer
from tfbert.tasks.pretrainer import BertPretrainer
from tfbert.training.callbacks import PeriodicProgress
from tfbert.training.distribute import is_chief
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


OBJECTIVES = PRETRAINING_OBJECTIVES


def create_pretrainer(
    objective: str = "mlm-nsp",
    *,
    preset: str | None = None,
    vocabulary: Sequence[str] | str | Path | None = None,
    init_from: str | Path | None = None,
    max_length: int = 128,
    lowercase: bool = True,
    dropout: float | None = None,
    seed: int | None = None,
    new_token_texts: Sequence[str] | None = None,
) -> BertPretrainer | ElectraPretrainer:
    """The pretraining model of `objective` (one of `OBJECTIVES`): from scratch (`preset`,
    default "mini", and `vocabulary`) or continuing a checkpoint (`init_from`); both
    `init_from` and `vocabulary` keep the checkpoint's transformer layers under new word
    embeddings for that vocabulary (another language): the tokens both vocabularies share keep
    theirs, and with `new_token_texts` (texts of the new language, e.g. the pretraining
    corpus) the others start from the shared ones by how alike the texts use them
    (`BertPretrainer.embed_new_tokens`), else at random. For ELECTRA
    the preset (or checkpoint) is the discriminator's size; `seed` seeds its sampling.
    `dropout` sets the hidden and attention dropout (default: the preset's or checkpoint's)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"Unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")
    if objective == "electra":
        kind, options = ElectraPretrainer, {"seed": seed}
    else:
        kind, options = BertPretrainer, {"next_sentence_prediction": objective == "mlm-nsp"}
    if init_from is not None:
        if vocabulary is not None:
            if kind is not BertPretrainer:
                raise ValueError(
                    "A new vocabulary for a checkpoint (init_from with vocabulary) needs the "
                    "mlm or mlm-nsp objective."
                )
            options["vocabulary"] = vocabulary
        model = kind.from_pretrained(init_from, max_length=max_length, dropout=dropout, **options)
        if vocabulary is not None and new_token_texts is not None:
            model.embed_new_tokens(new_token_texts, **({} if seed is None else {"seed": seed}))
        return model
    if vocabulary is None:
        raise ValueError("Pass a vocabulary to pretrain from scratch (or init_from).")
    overrides = {} if dropout is None else {"hidden_dropout": dropout, "attention_dropout": dropout}
    return kind.from_preset(
        preset or "mini",
        vocabulary=vocabulary,
        max_length=max_length,
        tokenizer_options={"lowercase": lowercase},
        **options,
        **overrides,
    )


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `minutes` of training wall time are spent, counting the time of
    earlier attempts of a resumed run (its state travels in the training backup).

    Time counts from the start of each attempt's training (`on_train_begin`) to each batch's
    end; the time between an attempt's last backup and its interruption is not counted, as
    that work is redone. The batch that crosses the budget ends training; the epoch ends there
    (its backup is written and the callbacks' epoch-end work runs), so the model can be saved.
    `clock` (seconds) is for tests.
    """

    def __init__(self, minutes: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        if not minutes > 0:
            raise ValueError(f"The time budget must be positive, got {minutes} minutes.")
        self.budget = 60.0 * minutes
        self.clock = clock
        self.earlier = 0.0  # seconds spent by earlier attempts
        self.started: float | None = None
        self.exhausted = False

    def elapsed(self) -> float:
        """Training seconds spent so far, this attempt and earlier ones together."""
        return self.earlier + (0.0 if self.started is None else self.clock() - self.started)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.started = self.clock()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.elapsed() >= self.budget:
            self.exhausted = True
            self.model.stop_training = True

    def get_resume_state(self) -> tuple[dict[str, Any], list[np.ndarray]]:
        return {"elapsed": self.elapsed(), "exhausted": self.exhausted}, []

    def set_resume_state(self, meta: dict[str, Any], arrays: list[np.ndarray]) -> None:
        self.earlier, self.exhausted = float(meta["elapsed"]), bool(meta["exhausted"])
        self.started = self.clock()


class StepLimit(keras.callbacks.Callback):
    """Ends training once the optimizer has made `steps` updates (the last epoch ends there)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if int(self.model.optimizer.iterations.numpy()) >= self.steps:
            self.model.stop_training = True


def mean_tokens_per_example(dataset: Any, batches: int = 10) -> float:
    """Real (unpadded) tokens per example, measured on the first batches of `dataset`."""
    counts = [
        np.asarray(inputs["padding_mask"]).sum(axis=1) for inputs, *_ in dataset.take(batches)
    ]
    return float(np.concatenate(counts).mean()) if counts else 0.0


class Snapshots(keras.callbacks.Callback):
    """Saves the model being pretrained every `every_epochs` epochs to `directory/step-<N>` (N
    = updates so far), each a directory that `tfbert train --init-from` and
    `from_pretrained` read, so a long run can be fine-tuned and scored while it goes on.

    Each snapshot is written to a hidden temporary directory and renamed into place: a kill
    leaves whole snapshots only. Under multi-worker training only the chief writes.
    """

    def __init__(self, directory: str | Path, every_epochs: int) -> None:
        super().__init__()
        if every_epochs < 1:
            raise ValueError(f"every_epochs must be at least 1, got {every_epochs}.")
        self.directory = Path(directory)
        self.every_epochs = every_epochs

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every_epochs or not is_chief(self.model.distribute_strategy):
            return
        step = int(self.model.optimizer.iterations.numpy())
        target = self.directory / f"{SNAPSHOT_PREFIX}{step}"
        if target.exists():
            return  # a resumed run passing a snapshot it already wrote
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=self.directory))
        try:
            self.model.save_pretrained(staging)
            make_public(staging)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        fsync_directory(self.directory)


def pretrain(
    pretrainer: BertPretrainer | ElectraPretrainer,
    source: Any,
    *,
    steps: int,
    steps_per_epoch: int = 500,
    batch_size: int = 32,
    learning_rate: float = 1e-4,
    warmup_fraction: float = 0.01,
    whole_word_masking: bool = False,
    gradient_accumulation_steps: int = 1,
    time_budget_minutes: float | None = None,
    seed: int = 13,
    output_dir: str | Path | None = None,
    verbose: int | str = "auto",
    backup_every_steps: int | None = 200,
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
    keep_backup: bool = False,
    save_every_epochs: int | None = None,
) -> keras.callbacks.History:
    """Pretrains `pretrainer` (any objective) for `steps` updates, in epochs of
    `steps_per_epoch` updates.

    `gradient_accumulation_steps` N averages the gradients of N batches into each update (an
    effective batch of N x `batch_size`; the schedule counts updates). `time_budget_minutes`
    stops training once that much training wall time is spent (counting earlier attempts of
    a resumed run); the schedule still spans `steps`, and `history.json` records the steps
    made. With `output_dir`: TensorBoard logs, step-level backups so that rerunning the same call
    resumes exactly where the backup was taken, and `history.json` with the throughput of
    every epoch. The data is one endless stream, a pure function of `seed` (a fresh dataset is
    built for every `fit`); a resumed run skips the batches already trained on, which costs
    the time to generate them again but no training. The backup is removed at the end unless
    `keep_backup` (a caller that writes more files afterwards removes it once they exist).
    `save_every_epochs` K (with `output_dir`) also saves the model every K epochs to
    `output_dir/step-<N>` (`Snapshots`), to fine-tune from while training goes on.
    """
    if min(steps, steps_per_epoch) < 1:
        raise ValueError(
            f"steps and steps_per_epoch must be at least 1, got {steps} and {steps_per_epoch}."
        )
    if gradient_accumulation_steps < 1:
        raise ValueError(
            f"gradient_accumulation_steps must be at least 1, got {gradient_accumulation_steps}."
        )
    keras.utils.set_random_seed(seed)
    steps_per_epoch = min(steps_per_epoch, steps)  # a short run is one short epoch
    batches_per_epoch = steps_per_epoch * gradient_accumulation_steps

    def stream():
        return pretrainer.pretraining_dataset(
            source,
            batch_size=batch_size,
            repeat=True,
            whole_word_masking=whole_word_masking,
            seed=seed,
        )

    tokens_per_example = mean_tokens_per_example(stream())
    epochs = -(-steps // steps_per_epoch)
    with pretrainer.distribute_strategy.scope():
        pretrainer.compile(
            optimizer=create_optimizer(
                learning_rate,
                total_steps=steps,
                warmup_fraction=warmup_fraction,
                gradient_accumulation_steps=gradient_accumulation_steps,
            )
        )
    callbacks: list[keras.callbacks.Callback] = list(extra_callbacks or [])
    callbacks.append(Throughput(batch_size, tokens_per_example))
    if steps % steps_per_epoch:  # the last epoch ends early, at `steps`
        callbacks.append(StepLimit(steps))
    if time_budget_minutes is not None:
        callbacks.append(TimeBudget(time_budget_minutes))
    if verbose == 2:
        callbacks.append(PeriodicProgress(batches_per_epoch, batch_size))
    backup = None
    if output_dir is not None:
        output_dir = Path(output_dir)
        if save_every_epochs:
            callbacks.append(Snapshots(output_dir, save_every_epochs))
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(output_dir / "logs")))
        backup = TrainingBackup(
            output_dir / "backup",
            steps_per_epoch=batches_per_epoch,
            every_steps=min(backup_every_steps or batches_per_epoch, batches_per_epoch),
            fingerprint={
                "steps": steps,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "warmup_fraction": warmup_fraction,
                "whole_word_masking": whole_word_masking,
                "gradient_accumulation_steps": gradient_accumulation_steps,
                "time_budget_minutes": time_budget_minutes,
                "objective": objective_of(pretrainer),
                "seed": seed,
            },
            delete_at_end=not keep_backup,
        )
    history = resumable_fit(
        pretrainer,
        lambda epoch, skip: stream().skip(epoch * batches_per_epoch + skip),
        epochs=epochs,
        steps_per_epoch=batches_per_epoch,
        callbacks=callbacks,
        backup=backup,
        stream=True,
        verbose=verbose,
    )
    if output_dir is not None:
        record = {
            "objective": objective_of(pretrainer),
            "steps": int(pretrainer.optimizer.iterations.numpy()),
            "batch_size": batch_size,
            "gradient_accumulation_steps": gradient_accumulation_steps,
            "tokens_per_example": tokens_per_example,
            "training_seconds": next(
                (c.elapsed() for c in callbacks if isinstance(c, TimeBudget)), None
            ),
            "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        }
        atomic_write(
            output_dir / PRETRAIN_HISTORY_FILE,
            lambda path: path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8"),
        )
    return history


def objective_of(pretrainer: BertPretrainer | ElectraPretrainer) -> str:
    """The objective (one of `OBJECTIVES`) a pretraining model trains."""
    if isinstance(pretrainer, ElectraPretrainer):
        return "electra"
    return "mlm-nsp" if pretrainer.next_sentence_prediction else "mlm"
