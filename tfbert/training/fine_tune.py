"""Fine-tuning a BertClassifier with `model.fit`: the recipe, its callbacks, its artefacts.

Everything here is stock Keras (AdamW, a schedule, ModelCheckpoint, EarlyStopping, TensorBoard,
BackupAndRestore); this module only chooses the settings BERT fine-tuning needs and writes the
results where the command line and notebooks expect them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tfbert.data.pipeline import classification_dataset
from tfbert.data.readers import TextClassificationData
from tfbert.tasks.classifier import BertClassifier
from tfbert.training.callbacks import PeriodicProgress
from tfbert.training.optimization import create_optimizer


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

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}.")


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
    classifier: BertClassifier,
    train: TextClassificationData,
    validation: TextClassificationData | None = None,
    *,
    config: TrainingConfig | None = None,
    output_dir: str | Path | None = None,
    verbose: int | str = "auto",
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
) -> keras.callbacks.History:
    """Compiles and fits `classifier`, keeping the weights of the best validation epoch.

    With `output_dir`, writes TensorBoard logs (`logs/`), the best checkpoint
    (`checkpoints/best.weights.h5`), step-level backups for resuming (`backup/`), and
    `history.json`. Build `classifier` inside `strategy.scope()` to train under a strategy.
    """
    config = config or TrainingConfig()
    keras.utils.set_random_seed(config.seed)
    train_data = classification_dataset(
        classifier,
        train,
        config.batch_size,
        shuffle=True,
        seed=config.seed,
        bucket_by_length=config.bucket_by_length,
    )
    validation_data = (
        classification_dataset(
            classifier, validation, config.batch_size, bucket_by_length=config.bucket_by_length
        )
        if validation is not None and len(validation)
        else None
    )
    steps_per_epoch = int(train_data.cardinality())
    if steps_per_epoch <= 0:  # unknown cardinality
        steps_per_epoch = math.ceil(len(train) / config.batch_size)
    # The optimizer's variables must live under the strategy the model was built with.
    with classifier.distribute_strategy.scope():
        classifier.compile(
            optimizer=create_optimizer(
                config.learning_rate,
                total_steps=steps_per_epoch * config.epochs,
                warmup_fraction=config.warmup_fraction,
                weight_decay=config.weight_decay,
                clip_norm=config.clip_norm,
            ),
        )
    monitor = "val_loss" if validation_data is not None else "loss"
    callbacks: list[keras.callbacks.Callback] = list(extra_callbacks or [])
    if verbose == 2:  # epoch lines only: add a line a minute so long epochs are not silent
        callbacks.append(PeriodicProgress(steps_per_epoch, config.batch_size))
    if output_dir is not None:
        output_dir = Path(output_dir)
        (output_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        callbacks += [
            keras.callbacks.TensorBoard(log_dir=str(output_dir / "logs")),
            keras.callbacks.ModelCheckpoint(
                str(output_dir / "checkpoints" / "best.weights.h5"),
                monitor=monitor,
                save_best_only=True,
                save_weights_only=True,
            ),
            keras.callbacks.BackupAndRestore(
                str(output_dir / "backup"),
                save_freq=config.backup_every_steps or "epoch",
                delete_checkpoint=True,
                # Keep the previous backup too: a kill while the latest is being written
                # leaves a corrupt file, and Keras then falls back to the previous one.
                double_checkpoint=True,
            ),
        ]
    if config.early_stopping_patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=config.early_stopping_patience, restore_best_weights=True
            )
        )
    class_weight = None
    if config.class_weights:
        if classifier.problem_type == "multilabel":
            raise ValueError("class weights apply to single-label problems; drop --class-weights.")
        targets = classifier.encode_labels(train.labels)
        class_weight = balanced_class_weights(targets, classifier.num_labels)

    history = classifier.fit(
        train_data,
        validation_data=validation_data,
        epochs=config.epochs,
        callbacks=callbacks,
        class_weight=class_weight,
        verbose=verbose,
        shuffle=False,
    )
    best = None if output_dir is None else output_dir / "checkpoints" / "best.weights.h5"
    if best is not None and best.is_file() and config.early_stopping_patience is None:
        classifier.load_weights(best)  # the best validation epoch, not merely the last one
    if output_dir is not None:
        record = {
            "config": dataclasses.asdict(config),
            "history": _plain(history.history),
            "best_epoch": _best_epoch(history.history, monitor),
        }
        (output_dir / "history.json").write_text(
            json.dumps(record, indent=2) + "\n", encoding="utf-8"
        )
    return history


def _plain(history: dict[str, list[Any]]) -> dict[str, list[float]]:
    return {key: [float(v) for v in values] for key, values in history.items()}


def _best_epoch(history: dict[str, list[Any]], monitor: str) -> int | None:
    values = history.get(monitor)
    return int(np.argmin(values)) + 1 if values else None
