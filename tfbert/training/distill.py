"""A whole distillation run, as `tfbert distill` does it, callable from Python.

`distill(teacher_dir, DistillConfig(...))` reads a trained classifier (the teacher, e.g. the
output directory of `tfbert train`), builds a smaller student, trains it on the teacher's soft
labels and the hard labels (`tfbert.tasks.distiller.Distiller`) and writes an ordinary model
directory that `tfbert evaluate`, `export`, `predict` and `serve` take like any other::

    from tfbert.training.distill import DistillConfig, distill

    run = distill("runs/imdb", DistillConfig(output_dir="runs/imdb-3l", dataset="imdb",
                                             student_layers=3))
    print(run.comparison)   # student, teacher and TF-IDF on the validation split

The student: `student_layers=N` keeps N of the teacher's layers (spread evenly, the top one
kept) with its embeddings, pooler and head, the same width; `student_preset=P` is a BERT of a
named size from scratch on the teacher's vocabulary. Either way it keeps the teacher's
tokenizer, labels and head settings.

The transfer set (what the student learns from): the training texts with their labels, plus
`augment_copies` edited copies of each (`tfbert.data.augment`) and the texts of
`unlabelled_file`, both labelled by the teacher alone (the hard-label term skips them). The
data sources are `tfbert train`'s (a built-in dataset or files, the same columns and held-out
validation split).

The run resumes like `tfbert train`: killed, it continues from its last step-level backup when
started again with the same settings; other settings or data are refused, naming the change.
Besides the model it writes `history.json`, `logs/`, `training_curves.png`,
`validation_report.json` (the student, with the TF-IDF baseline beside it), `baseline/` and
`distill_report.json`: accuracy and macro F1 of the student, the teacher and TF-IDF on the
validation split, with each model's size.

A NER teacher (`tfbert train --task ner`) is distilled the same way on its data sources (a
built-in NER dataset or CoNLL/JSONL files): per-token soft targets over the real tokens (a CRF's
emission scores) plus the gold tags, reported as entity-level F1 of student and teacher
(`validation_report.json` is the student's entity report). Unlabelled and augmented texts
apply to classifiers only.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tfbert.config import PRESETS
from tfbert.contract import TOKEN_CLASSIFIER_FORMAT
from tfbert.errors import DataError, TfbertError
from tfbert.evaluation.baseline import BASELINE_DIR
from tfbert.training.run import (
    FROM_SCRATCH_LEARNING_RATE,
    PRETRAINED_LEARNING_RATE,
    DataSources,
    RunConfig,
    _say,
    check_output_dir,
    check_resume,
    create_output_dir,
    data_fingerprint,
    keras_verbosity,
    load_run_data,
    option,
    say_best_epoch,
)

COMMAND = "distill"
REPORT_FILE = "distill_report.json"  # student, teacher and TF-IDF side by side
ARGS_FILE = "distill_args.json"  # the run's settings, as train_args.json for `tfbert train`
DEFAULT_EPOCHS = 3


@dataclasses.dataclass
class DistillConfig(DataSources):
    """Everything a distillation run needs; each field is the `tfbert distill` option of its
    name. Give exactly one of `dataset` or `train_file` (the data settings, `DataSources`, as
    `tfbert train`'s, given by keyword), and one of `student_layers` or `student_preset`."""

    output_dir: str | Path
    _: dataclasses.KW_ONLY  # every other setting by keyword, as the data settings
    # the student
    student_layers: int | None = None
    student_preset: str | None = None
    # distillation (Hinton et al. 2015; tfbert.tasks.distiller)
    temperature: float = 2.0
    alpha: float = 0.5
    hidden_weight: float = 0.0
    # the transfer set beyond the training texts, labelled by the teacher
    unlabelled_file: str | Path | None = None
    augment_copies: int = 0
    augment_rate: float = 0.1
    # training
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = 32
    learning_rate: float | None = None  # 5e-5 from the teacher's layers, 5e-4 from scratch
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    seed: int = 13
    backup_every: int = 200
    overwrite: bool = False
    baseline: bool = True  # fit the TF-IDF baseline and report it beside student and teacher

    def __post_init__(self) -> None:
        super().__post_init__()
        self.output_dir = Path(self.output_dir)
        if self.unlabelled_file is not None:
            self.unlabelled_file = Path(self.unlabelled_file)

    def validate(self) -> None:
        """Raises a `TfbertError` naming the option of the first invalid setting."""
        self.check_sources()
        if (self.student_layers is None) == (self.student_preset is None):
            raise TfbertError(
                "give exactly one of --student-layers (the teacher's own layers) or "
                "--student-preset (a named size from scratch)."
            )
        if self.student_preset is not None and self.student_preset not in PRESETS:
            raise TfbertError(
                f"--student-preset {self.student_preset!r} is not one of: {', '.join(PRESETS)}."
            )
        lowest = {"student_layers": 1, "epochs": 1, "batch_size": 1, "backup_every": 1,
                  "augment_copies": 0}  # fmt: skip
        for name, low in lowest.items():
            value = getattr(self, name)
            if value is not None and (isinstance(value, (bool, str)) or value < low):
                raise TfbertError(
                    f"{option(name)} must be a whole number of at least {low}, got {value!r}."
                )
        if not self.temperature > 0:
            raise TfbertError(f"--temperature must be positive, got {self.temperature}.")
        if not 0.0 <= self.alpha <= 1.0:
            raise TfbertError(f"--alpha must be in [0, 1], got {self.alpha}.")
        if not self.hidden_weight >= 0.0:
            raise TfbertError(f"--hidden-weight must be at least 0, got {self.hidden_weight}.")
        if not 0.0 < self.augment_rate <= 1.0:
            raise TfbertError(f"--augment-rate must be in (0, 1], got {self.augment_rate}.")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise TfbertError(f"--learning-rate must be positive, got {self.learning_rate}.")
        if not 0.0 <= self.warmup_fraction <= 1.0:
            raise TfbertError(f"--warmup-fraction must be in [0, 1], got {self.warmup_fraction}.")
        self.check_files("unlabelled_file")
        if self.output_dir.exists() and not self.output_dir.is_dir():
            raise TfbertError(
                f"--output-dir {self.output_dir} is a file; give a directory (new or empty)."
            )

    def settings(self) -> dict[str, Any]:
        """The settings a resumed run must share with the interrupted one (JSON-ready)."""
        ignored = {"output_dir", "overwrite", "backup_every", "baseline"}
        return {
            f.name: str(v) if isinstance(v := getattr(self, f.name), Path) else v
            for f in dataclasses.fields(self)
            if f.name not in ignored
        }

    def run_config(self, multi_label: bool = False, **more: Any) -> RunConfig:
        """The `RunConfig` whose data settings are this run's (to read data as `train` does),
        with `more` of its settings."""
        names = {f.name for f in dataclasses.fields(RunConfig)}
        shared = {k: v for k, v in dataclasses.asdict(self).items() if k in names}
        return RunConfig(**{**shared, "multi_label": multi_label, **more})


@dataclasses.dataclass
class DistillRun:
    """What `distill` returns: the student, its history, reports and the comparison."""

    student: Any
    history: Any
    report: Any  # the student's validation EvaluationReport (TF-IDF beside it)
    comparison: dict[str, Any]  # what distill_report.json holds
    output_dir: Path
    seconds: float


def read_unlabelled(config: DistillConfig, pairs: bool) -> list[str]:
    """The texts of `unlabelled_file`: a .txt file has one per line (blank lines skipped), other
    formats are read like the training file (`--text-column`; labels, if any, ignored)."""
    path = config.unlabelled_file
    if path is None:
        return []
    if pairs:
        raise TfbertError(
            "--unlabelled-file gives single texts, but the data are text pairs; drop it."
        )
    if path.suffix.lower() == ".txt":
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise DataError(f"{path} is not UTF-8; re-save it as UTF-8.") from None
        texts = [line for line in lines if line.strip()]
    else:
        from tfbert.data import read_examples

        texts = list(
            read_examples(
                path,
                text_column=config.text_column,
                file_format=config.file_format,
                clean=config.clean_text,
                require_labels=False,
            ).texts
        )
    if not texts:
        raise DataError(f"--unlabelled-file {path} holds no texts.")
    return texts


def transfer_set(train: Any, unlabelled: list[str], config: DistillConfig) -> tuple[Any, Any]:
    """The texts the student learns from and a 1/0 flag per row: 1 for the training rows (their
    labels count), 0 for their augmented copies and the unlabelled texts (the teacher's alone)."""
    import numpy as np

    from tfbert.data import TextClassificationData
    from tfbert.data.augment import augment_data

    augmented = augment_data(train, config.augment_copies, config.augment_rate, seed=config.seed)
    texts = list(augmented.texts) + unlabelled
    pairs = None if augmented.text_pairs is None else list(augmented.text_pairs)
    flags = np.zeros(len(texts), np.float32)
    flags[: len(train)] = 1.0
    return TextClassificationData(texts, None, pairs), flags


def distill_dataset(
    student: Any,
    data: Any,
    targets: Any,
    flags: Any,
    batch_size: int,
) -> Any:
    """(features, {"labels", "labelled"}) batches of `data` for a `Distiller`, in data order."""
    import numpy as np
    import tensorflow as tf

    from tfbert.data.pipeline import text_dataset
    from tfbert.tasks.distiller import LABELLED, LABELS

    rows = np.arange(len(data), dtype=np.int64)
    labels, labelled = tf.constant(targets), tf.constant(flags)
    dataset = text_dataset(student.preprocessor, data, rows, batch_size)
    return dataset.map(
        lambda x, i: (x, {LABELS: tf.gather(labels, i), LABELLED: tf.gather(labelled, i)})
    )


def _targets(teacher: Any, labels: list[Any], rows: int) -> Any:
    """The teacher's encoded `labels`, padded with zero rows (unlabelled) to `rows`."""
    import numpy as np

    encoded = np.asarray(teacher.encode_labels(labels))
    padding = np.zeros((rows - len(encoded), *encoded.shape[1:]), encoded.dtype)
    return np.concatenate([encoded, padding])


def model_summary(model: Any, accuracy: float | None, f1: float) -> dict[str, Any]:
    """A model's figures for distill_report.json: accuracy (classifiers), F1 (macro for
    classifiers, entity-level micro for NER) and size."""
    summary: dict[str, Any] = {"accuracy": accuracy, "f1": f1}
    if model is not None:
        config = getattr(model.backbone, "config", None)
        summary["parameters"] = int(model.count_params())
        if config is not None:
            summary["layers"], summary["hidden_size"] = config.num_layers, config.hidden_size
    return summary


def _classifier_transfer(
    teacher: Any, config: DistillConfig, say: Callable[[str], None]
) -> SimpleNamespace:
    """A classifier teacher's data: the transfer set's batches, the validation batches, and
    the evaluation of student, teacher and TF-IDF on the validation split."""
    import numpy as np

    from tfbert.evaluation import evaluate_classifier
    from tfbert.training.resume import epoch_order

    multi_label = teacher.problem_type == "multilabel"
    train, validation, _ = load_run_data(config.run_config(multi_label), say)
    teacher.encode_labels(validation.labels)  # labels the teacher lacks: refused now, by name
    unlabelled = read_unlabelled(config, train.text_pairs is not None)
    transfer, flags = transfer_set(train, unlabelled, config)
    say(f"Transfer set: {len(train):,} training texts, "
        f"{len(train) * config.augment_copies:,} augmented copies, {len(unlabelled):,} "
        "unlabelled texts (the teacher labels the last two).")  # fmt: skip
    targets = _targets(teacher, train.labels, len(transfer))

    def epoch_data(student: Any, epoch: int, skip: int) -> Any:
        order = epoch_order(len(transfer), config.seed, epoch)
        dataset = distill_dataset(
            student, transfer.subset(order), targets[order], flags[order], config.batch_size
        )
        return dataset.skip(skip) if skip else dataset

    def validation_data(student: Any) -> Any:
        encoded = teacher.encode_labels(validation.labels)
        flags = np.ones(len(validation), np.float32)
        return distill_dataset(student, validation, encoded, flags, config.batch_size)

    def compare(student: Any, output_dir: Path) -> tuple[Any, dict[str, Any]]:
        baseline = None
        if config.baseline:
            from tfbert.evaluation import fit_baseline

            baseline = fit_baseline(
                train, validation, labels=student.labels, problem_type=student.problem_type,
                say=say,
            )  # fmt: skip
            if baseline is not None:
                baseline.save_pretrained(output_dir / BASELINE_DIR)
        batch = config.batch_size * 2
        report = evaluate_classifier(student, validation, batch_size=batch, baseline=baseline)
        teacher_report = evaluate_classifier(teacher, validation, batch_size=batch)
        figures = {
            "student": model_summary(student, report.accuracy, report.macro_f1),
            "teacher": model_summary(teacher, teacher_report.accuracy, teacher_report.macro_f1),
        }
        if report.baseline is not None:
            figures["tfidf"] = {
                "accuracy": report.baseline.accuracy,
                "f1": report.baseline.macro_f1,
            }
        return report, figures

    fingerprint = data_fingerprint(train, validation, SimpleNamespace(texts=unlabelled, labels=[]))
    return SimpleNamespace(
        examples=len(transfer),
        validation_size=len(validation),
        texts=train.texts,
        fingerprint=fingerprint,
        epoch_data=epoch_data,
        validation_data=validation_data,
        compare=compare,
    )


def _tagger_transfer(
    teacher: Any, config: DistillConfig, say: Callable[[str], None]
) -> SimpleNamespace:
    """A NER teacher's data (`tfbert train --task ner`'s sources): the windows of the training
    sentences, cut into the words the served model tags, and entity-level reports."""
    import tensorflow as tf

    from tfbert.contract import FEATURE_NAMES
    from tfbert.evaluation.entities import evaluate_tagger
    from tfbert.training.ner_run import load_ner_run_data, tagged_fingerprint
    from tfbert.training.resume import epoch_order

    given = [
        flag
        for flag, value in (
            ("--unlabelled-file", config.unlabelled_file is not None),
            ("--augment-copies", config.augment_copies > 0),
            ("--text-pair-column", config.text_pair_column is not None),
        )
        if value
    ]
    if given:
        raise TfbertError(f"{', '.join(given)} apply to classifiers; drop them for a NER teacher.")
    run_config = config.run_config(task="ner", scheme=teacher.scheme)
    train, validation, _ = load_ner_run_data(run_config, say)
    served = teacher.served_sentences(train)
    encoded = teacher.encode(served.words, teacher.encode_labels(served.tags))
    teacher.encode_labels(teacher.served_sentences(validation).tags)  # unknown tags: refused
    windows = len(encoded["labels"])
    say(f"Transfer set: {windows:,} windows of {len(train):,} training sentences.")

    def epoch_data(student: Any, epoch: int, skip: int) -> Any:
        order = epoch_order(windows, config.seed, epoch)
        features = {name: encoded[name][order] for name in FEATURE_NAMES}
        data = tf.data.Dataset.from_tensor_slices((features, encoded["labels"][order]))
        data = data.batch(config.batch_size)
        return (data.skip(skip) if skip else data).prefetch(tf.data.AUTOTUNE)

    def validation_data(student: Any) -> Any:
        return student.dataset(validation, batch_size=config.batch_size, shuffle=False)

    def compare(student: Any, output_dir: Path) -> tuple[Any, dict[str, Any]]:
        batch = config.batch_size * 2
        report = evaluate_tagger(student, validation, batch_size=batch)
        teacher_report = evaluate_tagger(teacher, validation, batch_size=batch)
        return report, {
            "student": model_summary(student, None, report.micro_f1),
            "teacher": model_summary(teacher, None, teacher_report.micro_f1),
        }

    return SimpleNamespace(
        examples=windows,
        validation_size=len(validation),
        texts=[" ".join(words) for words in train.words[:2000]],
        fingerprint=tagged_fingerprint(train, validation),
        epoch_data=epoch_data,
        validation_data=validation_data,
        compare=compare,
    )


def distill(
    teacher_dir: str | Path,
    config: DistillConfig,
    *,
    say: Callable[[str], None] = _say,
    verbose: int | str | None = None,
) -> DistillRun:
    """Distils the classifier (or NER model) in `teacher_dir` into a smaller student, as
    `tfbert distill` does (module docstring); returns the run. `say` receives the progress
    messages (default: stderr); `verbose` is Keras's (default: a progress bar on a terminal,
    else a line per epoch)."""
    started = time.time()
    config.validate()
    teacher_dir = Path(teacher_dir)
    if not (teacher_dir / "config.json").is_file():
        raise TfbertError(
            f"--teacher {teacher_dir} is not a model directory (no config.json); give the "
            "--output-dir of `tfbert train`."
        )
    from tfbert._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    from tfbert.evaluation import plot_training_curves
    from tfbert.tasks.classifier import TextClassifier
    from tfbert.tasks.distiller import Distiller, student_from_teacher
    from tfbert.tasks.task import read_description
    from tfbert.tasks.token_classifier import TokenClassifier
    from tfbert.training.fine_tune import TrainingConfig, fit_task, warn_about_unknown_tokens

    output_dir = config.output_dir
    resume = check_output_dir(output_dir, config.overwrite)
    tagger = read_description(teacher_dir).get("format") == TOKEN_CLASSIFIER_FORMAT
    teacher = (TokenClassifier if tagger else TextClassifier).load(teacher_dir)
    answers = (
        f"tags {teacher.tags}" if tagger else f"{teacher.problem_type}, labels {teacher.labels}"
    )
    say(f"Teacher: {teacher_dir} ({teacher.count_params():,} parameters, {answers}).")
    data = (_tagger_transfer if tagger else _classifier_transfer)(teacher, config, say)
    settings = config.settings()
    settings["teacher"] = str(teacher_dir.resolve())
    if resume:  # another command's or another setting's backup is refused, naming why
        check_resume(output_dir, COMMAND, settings, data.fingerprint)
    learning_rate = config.learning_rate or (
        PRETRAINED_LEARNING_RATE if config.student_layers else FROM_SCRATCH_LEARNING_RATE
    )
    training = TrainingConfig(
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=learning_rate,
        warmup_fraction=config.warmup_fraction,
        weight_decay=config.weight_decay,
        seed=config.seed,
        backup_every_steps=config.backup_every,
    )
    keras.utils.set_random_seed(config.seed)
    layers = getattr(getattr(teacher.backbone, "config", None), "num_layers", None)
    if config.student_layers and (layers is None or config.student_layers > layers):
        has = "is not a BERT model" if layers is None else f"has {layers} layers"
        raise TfbertError(
            f"--student-layers {config.student_layers}: the teacher {has}; keep at most its "
            "layers, or start the student from --student-preset."
        )
    if config.student_layers:
        student = student_from_teacher(teacher, config.student_layers)
        start = f"{config.student_layers} of the teacher's {layers} layers"
    else:
        student = student_from_teacher(teacher, preset=config.student_preset)
        start = f"the {config.student_preset!r} preset from scratch"
    create_output_dir(output_dir, resume, command=COMMAND, settings=settings, data=data.fingerprint)
    say(f"Student: {start}, {student.count_params():,} parameters; temperature "
        f"{config.temperature:g}, alpha {config.alpha:g}, {config.epochs} epochs at learning "
        f"rate {learning_rate:g}.")  # fmt: skip
    warn_about_unknown_tokens(student.preprocessor, data.texts)
    distiller = Distiller(
        teacher,
        student,
        temperature=config.temperature,
        alpha=config.alpha,
        hidden_weight=config.hidden_weight,
    )
    history = fit_task(
        distiller,
        lambda epoch, skip: data.epoch_data(student, epoch, skip),
        data.validation_data(student),
        config=training,
        train_examples=data.examples,
        output_dir=output_dir,
        verbose=keras_verbosity(verbose),
        keep_backup=True,  # removed below, once the model directory is complete
    )
    student.forget_inference_functions()
    say_best_epoch(history.history, say)
    student.save_pretrained(output_dir)
    data_name = config.dataset or Path(config.train_file).name
    plot_training_curves(history.history, output_dir / "training_curves.png", dataset=data_name)
    report, figures = data.compare(student, output_dir)
    report.to_json(output_dir / "validation_report.json")
    comparison = {
        "split": "validation",
        "examples": data.validation_size,
        "teacher_dir": str(teacher_dir),
        "temperature": config.temperature,
        "alpha": config.alpha,
        "f1": "entity-level micro F1" if tagger else "macro F1",
        **figures,
    }
    (output_dir / REPORT_FILE).write_text(json.dumps(comparison, indent=2) + "\n", encoding="utf-8")
    (output_dir / ARGS_FILE).write_text(
        json.dumps({**settings, "output_dir": str(output_dir)}, indent=2) + "\n", encoding="utf-8"
    )
    shutil.rmtree(output_dir / "backup", ignore_errors=True)  # complete: no resume
    return DistillRun(student, history, report, comparison, output_dir, time.time() - started)


def format_comparison(comparison: dict[str, Any]) -> str:
    """distill_report.json as a small table: accuracy, F1 and size of each model."""
    f1 = comparison.get("f1", "F1")
    lines = [f"{'model':<9} {'accuracy':>9} {f1:>{max(9, len(f1))}} {'parameters':>12}"]
    for name in ("student", "teacher", "tfidf"):
        row = comparison.get(name)
        if row is None:
            continue
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
        size = f"{row['parameters']:,}" if "parameters" in row else "-"
        lines.append(f"{name:<9} {accuracy:>9} {row['f1']:>{max(9, len(f1))}.4f} {size:>12}")
    return "\n".join(lines)


__all__ = ["DistillConfig", "DistillRun", "distill", "format_comparison"]
