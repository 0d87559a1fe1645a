"""Exact step-level resume of an interrupted training run.

Keras 3's `BackupAndRestore` restores the epoch only: it records the batch but ignores it, so a
run killed mid-epoch restarts that epoch from its first batch with mid-epoch weights, and it
restores neither the callbacks' state (the best value so far, early-stopping patience, the
history) nor, on resume, the data order a fresh iterator would have had. A resumed run then
ends somewhere else than an uninterrupted one. Here a resumed run continues the same
trajectory:

- The data of each epoch is a pure function of (seed, epoch) (`epoch_order`), never of how many
  times an iterator was consumed, and the resumed epoch skips the batches already trained on.
- `TrainingBackup` saves, in one file written atomically (temporary file, fsync,
  `os.replace`), every model variable (dropout seed-generator states included), every
  optimizer variable (moments, iteration count, so the learning-rate schedule continues where
  it was; gradient accumulators), the running metric state of the epoch, and the state of the
  callbacks that have one (History, EarlyStopping, ModelCheckpoint, `BestWeights`).
- `resumable_fit` restores that state and runs the remaining batches with ordinary `fit` calls
  that share one callback list, so validation, checkpoints and early stopping still happen at
  true epoch ends and callbacks see one training run (one `on_train_begin`/`on_train_end`).

Under MultiWorkerMirroredStrategy every worker saves its own (identical) state; on resume the
workers agree on the newest step all of them have (each keeps its previous backup too, since a
kill can land between two workers' writes).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfbert.files import atomic_write  # public here too: tfbert.training.resume.atomic_write

STATE_FILE = "state.npz"
PREVIOUS_FILE = "state.previous.npz"
FORMAT_VERSION = 1


def epoch_order(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the examples in `epoch`: a pure function of (seed, epoch).

    `Dataset.shuffle(reshuffle_each_iteration=True)` draws each epoch's order from a generator
    that advances with every iterator created on the dataset, so a restarted process (or an
    extra iterator, such as the one Keras opens under a strategy to read shapes) sees other
    orders than an uninterrupted run.
    """
    if num_examples < 0 or seed < 0 or epoch < 0:
        raise ValueError("num_examples, seed and epoch must be non-negative.")
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


@dataclasses.dataclass(frozen=True)
class Position:
    """Where a run stands: `epoch` epochs complete plus `batch` batches of the next one."""

    epoch: int = 0
    batch: int = 0
    stopped: bool = False  # a callback (early stopping) ended training at the end of `epoch`

    def step(self, steps_per_epoch: int) -> int:
        return self.epoch * steps_per_epoch + self.batch


def save_weights_atomically(model: keras.Model, path: str | Path) -> None:
    """`model.save_weights(path)`, without ever leaving a half-written file at `path`."""
    atomic_write(path, lambda temporary: model.save_weights(str(temporary), overwrite=True))


# ----- callback state ---------------------------------------------------------------------------
def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def callback_state(callback: keras.callbacks.Callback) -> tuple[dict, list[np.ndarray]] | None:
    """(JSON-able state, arrays) of a callback whose state matters for resuming, else None.

    Callbacks of our own expose `get_resume_state`/`set_resume_state`; Keras's stateful ones
    are read through their documented attributes.
    """
    if hasattr(callback, "get_resume_state"):
        return callback.get_resume_state()
    if isinstance(callback, keras.callbacks.History):
        history = {k: [float(v) for v in values] for k, values in callback.history.items()}
        return {"history": history, "epoch": [int(e) for e in getattr(callback, "epoch", [])]}, []
    if isinstance(callback, keras.callbacks.EarlyStopping):
        meta = {
            "wait": int(callback.wait),
            "stopped_epoch": int(callback.stopped_epoch),
            "best": _float_or_none(callback.best),
            "best_epoch": int(getattr(callback, "best_epoch", 0)),
            "has_best_weights": callback.best_weights is not None,
        }
        return meta, list(callback.best_weights or [])
    if isinstance(callback, keras.callbacks.ModelCheckpoint):
        return {"best": _float_or_none(callback.best)}, []
    return None


def set_callback_state(
    callback: keras.callbacks.Callback, meta: dict, arrays: list[np.ndarray]
) -> None:
    if hasattr(callback, "set_resume_state"):
        callback.set_resume_state(meta, arrays)
    elif isinstance(callback, keras.callbacks.History):
        callback.history = {k: list(v) for k, v in meta["history"].items()}
        callback.epoch = list(meta["epoch"])
    elif isinstance(callback, keras.callbacks.EarlyStopping):
        callback.wait = meta["wait"]
        callback.stopped_epoch = meta["stopped_epoch"]
        callback.best = meta["best"]
        callback.best_epoch = meta["best_epoch"]
        callback.best_weights = list(arrays) if meta["has_best_weights"] else None
    elif isinstance(callback, keras.callbacks.ModelCheckpoint):
        callback.best = meta["best"]


def _callback_keys(callbacks: Sequence[keras.callbacks.Callback]) -> list[str]:
    """Stable names: class name and rank among callbacks of that class."""
    seen: dict[str, int] = {}
    keys = []
    for callback in callbacks:
        name = type(callback).__name__
        keys.append(f"{name}-{seen.get(name, 0)}")
        seen[name] = seen.get(name, 0) + 1
    return keys


# ----- the backup -------------------------------------------------------------------------------
class TrainingBackup(keras.callbacks.Callback):
    """Saves everything needed to continue a run exactly, every `every_steps` batches and at
    the end of every epoch; `restore()` loads it back. Use it through `resumable_fit`.

    Args:
        directory: where `state.npz` goes (created at once, so that a run killed before its
            first backup is still recognised as interrupted).
        steps_per_epoch: batches per epoch.
        every_steps: batches between backups (None: at epoch ends only).
        fingerprint: the settings that determine the trajectory (hyper-parameters, data size);
            a rerun with other settings is refused instead of silently mixing two runs.
        keep_previous: also keep the previous backup (needed under multi-worker training).
        delete_at_end: remove `directory` when training completes.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        steps_per_epoch: int,
        every_steps: int | None = 200,
        fingerprint: dict[str, Any] | None = None,
        keep_previous: bool = False,
        delete_at_end: bool = True,
    ) -> None:
        super().__init__()
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}.")
        if every_steps is not None and every_steps < 1:
            raise ValueError(f"every_steps must be at least 1, got {every_steps}.")
        self.directory = Path(directory)
        self.steps_per_epoch = steps_per_epoch
        self.every_steps = every_steps
        self.fingerprint = json.loads(json.dumps(fingerprint or {}))  # JSON-normalised
        self.keep_previous = keep_previous
        self.delete_at_end = delete_at_end
        self.stateful: list[keras.callbacks.Callback] = []
        self.saves = 0
        self._epoch = 0
        self._offset = 0
        self._pending_metrics: tuple[int, list[np.ndarray]] | None = None
        self._pending_batch = 0
        self.directory.mkdir(parents=True, exist_ok=True)

    # -- saving
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._offset = 0
        if self._pending_metrics is not None and self._pending_metrics[0] == epoch:
            # `fit` resets the metrics just before this call: put back the running means of
            # the batches trained before the interruption, so the epoch's logged training
            # metrics cover the whole epoch.
            values = self._pending_metrics[1]
            variables = self.model.metrics_variables
            if len(variables) != len(values):
                raise ValueError(
                    f"The backup has {len(values)} metric variables, the model "
                    f"{len(variables)}: it was written for another compile configuration."
                )
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)
            self._offset = self._pending_batch
        self._pending_metrics = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        done = self._offset + batch + 1
        step = self._epoch * self.steps_per_epoch + done
        if self.every_steps and step % self.every_steps == 0 and done < self.steps_per_epoch:
            self.save(Position(self._epoch, done))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        # Last in the callback list: the best value, patience and history include this epoch.
        self.save(Position(epoch + 1, 0, stopped=bool(self.model.stop_training)))

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.delete_at_end:
            shutil.rmtree(self.directory, ignore_errors=True)

    def save(self, position: Position) -> None:
        model = self.model
        arrays: dict[str, np.ndarray] = {}
        groups = {
            "model": list(model.variables),
            "optimizer": list(model.optimizer.variables) if model.optimizer else [],
            "metrics": list(model.metrics_variables),
        }
        for group, variables in groups.items():
            for i, variable in enumerate(variables):
                arrays[f"{group}/{i:05d}"] = np.asarray(keras.ops.convert_to_numpy(variable))
        callbacks = {}
        for key, callback in zip(_callback_keys(self.stateful), self.stateful, strict=True):
            state = callback_state(callback)
            if state is None:
                continue
            meta, values = state
            callbacks[key] = {"meta": meta, "arrays": len(values)}
            for i, value in enumerate(values):
                arrays[f"callback/{key}/{i:05d}"] = np.asarray(value)
        meta = {
            "format": FORMAT_VERSION,
            "position": dataclasses.asdict(position),
            "step": position.step(self.steps_per_epoch),
            "steps_per_epoch": self.steps_per_epoch,
            "fingerprint": self.fingerprint,
            "paths": {group: [_path(v) for v in variables] for group, variables in groups.items()},
            "callbacks": callbacks,
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

        def write(temporary: Path) -> None:
            with open(temporary, "wb") as file:
                np.savez(file, **arrays)

        state = self.directory / STATE_FILE
        if self.keep_previous and state.is_file():
            os.replace(state, self.directory / PREVIOUS_FILE)
        atomic_write(state, write)
        self.saves += 1

    # -- restoring
    def restore(self) -> Position:
        """Loads the newest good backup into the model, optimizer and callbacks; returns where
        training stands (Position() when there is no backup: start from the beginning)."""
        candidates = self._readable_backups()
        step = _agree_on_step(
            self.model.distribute_strategy,
            [meta["step"] for meta, _ in candidates] or [0],
            self.directory,
        )
        for meta, path in candidates:
            if meta["step"] > step:  # ahead of another worker's: would push out the agreed one
                path.unlink()
        if step == 0 and all(meta["step"] for meta, _ in candidates):
            return Position()  # no backup yet (on some worker): start from the beginning
        meta, path = next((m, p) for m, p in candidates if m["step"] == step)
        self._check(meta, path)
        with np.load(path, allow_pickle=False) as stored:
            self._load(meta, stored)
        position = Position(**meta["position"])
        self._epoch, self._offset = position.epoch, 0
        return position

    def _readable_backups(self) -> list[tuple[dict, Path]]:
        """(meta, path) of the intact backups, newest first."""
        found = []
        for name in (STATE_FILE, PREVIOUS_FILE):
            path = self.directory / name
            if not path.is_file():
                continue
            try:
                with np.load(path, allow_pickle=False) as stored:
                    meta = json.loads(bytes(stored["meta"]).decode("utf-8"))
            except Exception:  # atomic writes make this rare; fall back to the older one
                continue
            found.append((meta, path))
        return sorted(found, key=lambda item: -item[0]["step"])

    def _check(self, meta: dict, path: Path) -> None:
        remedy = "start afresh in another directory (or pass --overwrite on the command line)."
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path} was written by another tfbert version; {remedy}")
        if meta["steps_per_epoch"] != self.steps_per_epoch or meta["fingerprint"] != (
            self.fingerprint
        ):
            old = {**meta["fingerprint"], "steps_per_epoch": meta["steps_per_epoch"]}
            new = {**self.fingerprint, "steps_per_epoch": self.steps_per_epoch}
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise ValueError(
                f"The interrupted run in {self.directory.parent} used other settings "
                f"({', '.join(f'{k}: {old.get(k)} then, {new.get(k)} now' for k in changed)}); "
                f"rerun it with the same settings to resume, or {remedy}"
            )

    def _load(self, meta: dict, stored: Any) -> None:
        model = self.model
        optimizer = model.optimizer
        if optimizer is not None and not optimizer.built:
            with model.distribute_strategy.scope():
                optimizer.build(model.trainable_variables)
        groups = {
            "model": list(model.variables),
            "optimizer": list(optimizer.variables) if optimizer else [],
        }
        for group, variables in groups.items():
            # Shapes, not paths: Keras numbers auto-named layers per process.
            values = [stored[f"{group}/{i:05d}"] for i in range(len(meta["paths"][group]))]
            if [tuple(v.shape) for v in variables] != [value.shape for value in values]:
                raise ValueError(
                    f"The backup in {self.directory} holds other {group} variables than this "
                    "model has (another architecture or optimizer); rerun with the same settings."
                )
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)
        position = Position(**meta["position"])
        if position.batch:
            count = len(meta["paths"]["metrics"])
            self._pending_metrics = (
                position.epoch,
                [stored[f"metrics/{i:05d}"] for i in range(count)],
            )
            self._pending_batch = position.batch
        saved = meta["callbacks"]
        for key, callback in zip(_callback_keys(self.stateful), self.stateful, strict=True):
            if key in saved:
                values = [stored[f"callback/{key}/{i:05d}"] for i in range(saved[key]["arrays"])]
                set_callback_state(callback, saved[key]["meta"], values)


def _path(variable: Any) -> str:
    return str(getattr(variable, "path", None) or getattr(variable, "name", ""))


def _agree_on_step(strategy: tf.distribute.Strategy, steps: list[int], directory: Path) -> int:
    """The step to resume from: the newest one every worker has a backup of.

    Single process: the newest backup. Multi-worker: the workers gather their newest steps
    (a collective, so every worker must call this) and take the smallest, which each worker
    holds either as its latest or as its previous backup.
    """
    newest = max(steps)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return newest
    gathered = strategy.gather(
        strategy.run(lambda: tf.constant([newest], tf.int64)), axis=0
    ).numpy()
    agreed = int(gathered.min())
    if agreed not in steps and agreed != 0:
        raise ValueError(
            f"The workers' backups disagree (steps {sorted(set(gathered.tolist()))}) and "
            f"{directory} holds none of step {agreed}; restart training from scratch."
        )
    return agreed


# ----- the training loop ------------------------------------------------------------------------
class _OneRun(keras.callbacks.CallbackList):
    """The callbacks of one training run spread over several `fit` calls.

    `fit` calls `on_train_begin`/`on_train_end` around itself; here they run once, through
    `begin`/`end`, so EarlyStopping keeps its patience, TensorBoard its writers and History
    every epoch across the calls.
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        pass

    def on_train_end(self, logs: dict | None = None) -> None:
        pass

    def begin(self) -> None:
        super().on_train_begin()

    def end(self, logs: dict | None = None) -> None:
        super().on_train_end(logs)


def resumable_fit(
    model: keras.Model,
    data: Callable[[int, int], tf.data.Dataset],
    *,
    epochs: int,
    steps_per_epoch: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    backup: TrainingBackup | None = None,
    stream: bool = False,
    validation_data: Any = None,
    class_weight: dict[int, float] | None = None,
    verbose: int | str = "auto",
) -> keras.callbacks.History:
    """`model.fit` for `epochs` epochs of `steps_per_epoch` batches, resuming from `backup`.

    `data(epoch, skip)` returns the batches from batch `skip` of `epoch` on: the rest of that
    epoch when `stream` is False (one `fit` per epoch, each on its own dataset, so no dataset
    holds more than one epoch), or an endless stream from that point when `stream` is True
    (pretraining: one `fit` over all remaining epochs, preceded by one for the rest of an
    interrupted epoch). Either way the batches must be a pure function of (epoch, skip).
    """
    history = next((c for c in callbacks if isinstance(c, keras.callbacks.History)), None)
    history = history or keras.callbacks.History()
    ordered = [c for c in callbacks if c is not history and c is not backup] + [history]
    if backup is not None:
        backup.stateful = list(ordered)
        ordered.append(backup)  # last: it saves what the others recorded at the epoch's end
    run = _OneRun(
        ordered,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=steps_per_epoch,
    )
    model.stop_training = False
    run.begin()
    position = backup.restore() if backup is not None else Position()
    if position != Position() and verbose != 0:
        finished = position.epoch >= epochs or position.stopped
        where = (
            "training had finished"
            if finished
            else f"epoch {position.epoch + 1}, after batch {position.batch} of {steps_per_epoch}"
        )
        print(f"Resuming from the last backup: {where}.", file=sys.stderr, flush=True)
    if position.batch:
        # The metrics must exist before the backup's running values can be put back into
        # them; without a strategy Keras builds them only when it traces the training step.
        # Any batch will do: evaluation changes no weights and the metrics are reset after.
        model.evaluate(data(0, 0).take(1), verbose=0)

    segments: list[tuple[int, int, int]] = []  # (first epoch, end epoch, batches to skip)
    if not position.stopped and position.epoch < epochs:
        first, skip = position.epoch, position.batch
        if stream:
            if skip:
                segments.append((first, first + 1, skip))
                first += 1
            if first < epochs:
                segments.append((first, epochs, 0))
        else:
            segments += [(e, e + 1, skip if e == first else 0) for e in range(first, epochs)]
    for first, end, skip in segments:
        run.set_params(
            {
                "verbose": verbose,
                "epochs": epochs,
                "steps": steps_per_epoch - skip,
                "initial_step": skip,
            }
        )
        model.fit(
            data(first, skip),
            epochs=end,
            initial_epoch=first,
            steps_per_epoch=steps_per_epoch - skip if stream else None,
            callbacks=run,
            validation_data=validation_data,
            class_weight=class_weight,
            verbose=verbose,
            shuffle=False,
        )
        if model.stop_training:
            break
    last = {k: v[-1] for k, v in history.history.items() if v}
    run.end(last)
    model.history = history
    return history
