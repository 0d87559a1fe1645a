"""Fine-tuning a task with `model.fit`: the recipe, its callbacks, its artefacts.

Stock Keras where it suffices (AdamW, a schedule, EarlyStopping, TensorBoard); the loop itself
runs through `tfbert.training.resume`, because Keras's BackupAndRestore cannot resume a run
exactly (it restores the epoch, not the step, the data order or the callbacks' state). This
module chooses the settings BERT fine-tuning needs and writes the results where the command
line and notebooks expect them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfbert.data.augment import augment_data
from tfbert.data.pipeline import classification_dataset
from tfbert.data.readers import TextClassificationData
from tfbert.tasks.task import Task
from tfbert.text.wordpiece import UnknownTokenWarning, unknown_token_message
from tfbert.training.adversarial import disable_fgm, enable_fgm
from tfbert.training.callbacks import BestWeights, PeriodicProgress
from tfbert.training.distribute import is_chief, worker_directory
from tfbert.training.optimization import create_optimizer, layer_decay_multipliers
from tfbert.training.resume import TrainingBackup, atomic_write, epoch_order, resumable_fit


@dataclasses.dataclass
class TrainingConfig:
    """Fine-tuning hyper-parameters (defaults follow Devlin et al. 2019, appendix A.3)."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    clip_norm: float | None = 1.0
    seed: int = 13
    class_weights: bool = False
    early_stopping_patience: int | None = None
    # Batches of similar length waste less compute on padding. Off by default: on IMDB a tiny
    # model trained from scratch stayed at chance for 4 epochs with it and learned without it
    # (same seed); to be understood before it becomes the default (issue 8).
    bucket_by_length: bool = False
    backup_every_steps: int | None = 200  # step-level backups so a crash loses little work
    # Average the gradients of N batches into one update: the effective batch is N *
    # batch_size, for batches larger than the memory allows. Schedules count updates.
    gradient_accumulation_steps: int = 1
    # Fine-tuning techniques (Sun et al. 2019 and others), each off by default:
    # - layer_decay: layer-wise learning-rate decay; the top encoder layer learns at
    #   learning_rate, each layer below at layer_decay times the one above (0.95: Sun et al.).
    # - fgm_epsilon: adversarial training on the token embeddings (Miyato et al. 2017) with a
    #   perturbation of this L2 norm (tfbert.training.adversarial).
    # - augment_copies / augment_rate: this many edited copies of each training text (random
    #   deletion, swap, insertion of words or CJK characters; tfbert.data.augment).
    layer_decay: float | None = None
    fgm_epsilon: float | None = None
    augment_copies: int = 0
    augment_rate: float = 0.1

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1.")
        if self.gradient_accumulation_steps < 1:
            raise ValueError(
                "gradient_accumulation_steps must be at least 1, "
                f"got {self.gradient_accumulation_steps}."
            )
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}.")
        if self.layer_decay is not None and not 0.0 < self.layer_decay <= 1.0:
            raise ValueError(f"layer_decay must be in (0, 1], got {self.layer_decay}.")
        if self.fgm_epsilon is not None and not self.fgm_epsilon > 0:
            raise ValueError(f"fgm_epsilon must be positive, got {self.fgm_epsilon}.")
        if self.augment_copies < 0 or not 0.0 < self.augment_rate <= 1.0:
            raise ValueError(
                "augment_copies must be at least 0 and augment_rate in (0, 1], got "
                f"{self.augment_copies} and {self.augment_rate}."
            )


def balanced_class_weights(targets: np.ndarray, num_labels: int) -> dict[int, float]:
    """`n / (k * count)` per class (scikit-learn's "balanced"), for skewed label distributions."""
    from sklearn.utils.class_weight import compute_class_weight

    ids = np.asarray(targets).reshape(-1).astype(int)
    present = np.unique(ids)
    weights = compute_class_weight("balanced", classes=present, y=ids)
    result = {int(c): 1.0 for c in range(num_labels)}
    result.update({int(c): float(w) for c, w in zip(present, weights, strict=True)})
    return result


def fine_tune(
    classifier: Task,
    train: TextClassificationData,
    validation: TextClassificationData | None = None,
    *,
    config: TrainingConfig | None = None,
    output_dir: str | Path | None = None,
    verbose: int | str = "auto",
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
    keep_backup: bool = False,
) -> keras.callbacks.History:
    """Compiles and fits `classifier`, keeping the weights of the best validation epoch.

    With `output_dir`, writes TensorBoard logs (`logs/`), the best checkpoint
    (`checkpoints/best.weights.h5`), step-level backups (`backup/`) and `history.json`. If
    `output_dir` holds the backup of an interrupted run with the same settings, training
    resumes exactly where the backup was taken (see `tfbert.training.resume`); the backup is
    removed at the end unless `keep_backup` (the command line removes it once the model
    directory is complete, so that a kill before then still resumes).

    Build `classifier` inside `strategy.scope()` to train under a strategy. Under
    MultiWorkerMirroredStrategy, workers other than the chief write to a directory of their
    own (`distribute.worker_directory`), removed at the end.
    """
    config = config or TrainingConfig()
    warn_about_unknown_tokens(classifier.preprocessor, train.texts)
    # Augmented copies of the training split only; validation stays as it is.
    train = augment_data(train, config.augment_copies, config.augment_rate, seed=config.seed)
    keras.utils.set_random_seed(config.seed)

    def epoch_data(epoch: int, skip: int) -> tf.data.Dataset:
        # The order is a pure function of (seed, epoch), so an interrupted run resumes on
        # exactly the batches an uninterrupted one would see.
        order = epoch_order(len(train), config.seed, epoch)
        dataset = classification_dataset(
            classifier,
            train.subset(order),
            config.batch_size,
            bucket_by_length=config.bucket_by_length,
        )
        if config.bucket_by_length:  # mix the length buckets; same order on every iteration
            dataset = dataset.shuffle(
                64, seed=config.seed * 100_003 + epoch, reshuffle_each_iteration=False
            )
        return dataset.skip(skip) if skip else dataset

    validation_data = (
        classification_dataset(
            classifier, validation, config.batch_size, bucket_by_length=config.bucket_by_length
        )
        if validation is not None and len(validation)
        else None
    )
    class_weight = None
    if config.class_weights:
        if getattr(classifier, "problem_type", None) == "multilabel":
            raise ValueError("class weights apply to single-label problems; drop --class-weights.")
        targets = classifier.encode_labels(train.labels)
        class_weight = balanced_class_weights(targets, classifier.num_labels)
    return fit_task(
        classifier,
        epoch_data,
        validation_data,
        config=config,
        train_examples=len(train),
        output_dir=output_dir,
        verbose=verbose,
        extra_callbacks=extra_callbacks,
        keep_backup=keep_backup,
        class_weight=class_weight,
    )


def fit_task(
    task: Task,
    epoch_data: Callable[[int, int], tf.data.Dataset],
    validation_data: tf.data.Dataset | None,
    *,
    config: TrainingConfig,
    train_examples: int,
    output_dir: str | Path | None = None,
    verbose: int | str = "auto",
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
    keep_backup: bool = False,
    class_weight: dict[int, float] | None = None,
) -> keras.callbacks.History:
    """The fitting half of `fine_tune`, for any task whose batches `epoch_data(epoch, skip)`
    gives (a pure function of its arguments, so that a run resumes exactly): compiles `task`
    with the recipe's optimizer (its own loss), fits it with the callbacks (TensorBoard, the
    best checkpoint, backups, early stopping), keeps the best validation epoch's weights and
    writes `history.json` into `output_dir` (a worker's own directory under a multi-worker
    strategy). `train_examples` enters the backup's fingerprint.
    """
    strategy = task.distribute_strategy
    chief = is_chief(strategy)
    if output_dir is not None:
        output_dir = worker_directory(output_dir, strategy)
    steps_per_epoch = int(epoch_data(0, 0).cardinality())
    if steps_per_epoch <= 0:  # unknown cardinality
        steps_per_epoch = math.ceil(train_examples / config.batch_size)
    accumulation = config.gradient_accumulation_steps
    total_updates = steps_per_epoch * config.epochs // accumulation
    if total_updates < 1:
        raise ValueError(
            f"{steps_per_epoch * config.epochs} batches make no update with gradient "
            f"accumulation over {accumulation} batches; lower gradient_accumulation_steps."
        )
    # The optimizer's variables must live under the strategy the model was built with.
    with strategy.scope():
        task.compile(
            optimizer=create_optimizer(
                config.learning_rate,
                total_steps=total_updates,
                warmup_fraction=config.warmup_fraction,
                weight_decay=config.weight_decay,
                clip_norm=config.clip_norm,
                gradient_accumulation_steps=accumulation,
                learning_rate_multipliers=(
                    layer_decay_multipliers(task, config.layer_decay)
                    if config.layer_decay is not None
                    else None
                ),
            ),
        )
    if config.fgm_epsilon is not None:
        enable_fgm(task, config.fgm_epsilon)
    monitor = "val_loss" if validation_data is not None else "loss"
    callbacks: list[keras.callbacks.Callback] = list(extra_callbacks or [])
    if verbose == 2:  # epoch lines only: add a line a minute so long epochs are not silent
        callbacks.append(PeriodicProgress(steps_per_epoch, config.batch_size))
    backup = None
    if output_dir is not None:
        output_dir = Path(output_dir)
        (output_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        callbacks += [
            keras.callbacks.TensorBoard(log_dir=str(output_dir / "logs")),
            BestWeights(output_dir / "checkpoints" / "best.weights.h5", monitor=monitor),
        ]
        fingerprint = {
            k: v for k, v in dataclasses.asdict(config).items() if k != "backup_every_steps"
        }
        backup = TrainingBackup(
            output_dir / "backup",
            steps_per_epoch=steps_per_epoch,
            every_steps=config.backup_every_steps,
            fingerprint={**fingerprint, "train_examples": train_examples},
            keep_previous=isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
            delete_at_end=not keep_backup,
        )
    if config.early_stopping_patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=config.early_stopping_patience, restore_best_weights=True
            )
        )
    try:
        history = resumable_fit(
            task,
            epoch_data,
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            backup=backup,
            validation_data=validation_data,
            class_weight=class_weight,
            verbose=verbose,
        )
    finally:
        disable_fgm(task)
    best = None if output_dir is None else output_dir / "checkpoints" / "best.weights.h5"
    if best is not None and best.is_file() and config.early_stopping_patience is None:
        task.load_weights(best)  # the best validation epoch, not merely the last one
    if output_dir is not None:
        record = {
            "config": dataclasses.asdict(config),
            "history": _plain(history.history),
            "best_epoch": best_epoch(history.history, monitor),
        }
        atomic_write(
            output_dir / "history.json",
            lambda path: path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8"),
        )
        if not chief and not keep_backup:
            shutil.rmtree(output_dir, ignore_errors=True)
    return history


def warn_about_unknown_tokens(preprocessor: Any, texts: list[str], sample: int = 2000) -> None:
    """Warns (UnknownTokenWarning) when many WordPieces of `texts` are [UNK], e.g. an English
    vocabulary on Chinese text. Measured on an evenly spaced sample of the texts."""
    texts = list(texts)
    if not texts or not hasattr(preprocessor, "unknown_rate"):
        return
    step = max(1, len(texts) // sample)
    try:
        rate = preprocessor.unknown_rate(texts[::step][:sample])
    except ValueError:  # no tokens at all: the data checks speak for themselves
        return
    message = unknown_token_message(rate, len(preprocessor.vocabulary))
    if message:
        warnings.warn(message, UnknownTokenWarning, stacklevel=3)


def _plain(history: dict[str, list[Any]]) -> dict[str, list[float]]:
    return {key: [float(v) for v in values] for key, values in history.items()}


def best_epoch(history: dict[str, list[Any]], monitor: str = "val_loss") -> int | None:
    """The 1-based epoch with the lowest `monitor` in a Keras history (the one `fine_tune` keeps);
    None when the history has no `monitor`."""
    values = history.get(monitor)
    return int(np.argmin(values)) + 1 if values else None
