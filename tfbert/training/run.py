"""A whole training run, as `tfbert train` does it, callable from Python.

`train_classifier(RunConfig(...))` reads the data, picks the starting point (a pretrained
checkpoint or a model from scratch with a learned vocabulary), creates the distribution strategy,
resumes an interrupted run, fine-tunes, and writes the model directory with its reports and
plots::

    from tfbert.training.run import RunConfig, train_classifier

    run = train_classifier(RunConfig(train_file="reviews.csv", output_dir="model"))
    print(run.report.format_table())

Every setting is checked before anything is written, so a rejected run leaves no directory
behind. Error messages name the command-line option of each setting (`max_length` is
`--max-length`).

Defaults live here, once, for the command line and for Python. Each "auto" setting is chosen
from the training data, said in one line with its reason, and recorded (as the value chosen) in
the run's settings, `.tfbert-run.json` and `train_args.json`; a value given explicitly always
wins, and a resumed run reuses the values its first attempt chose.

- Start: with no `preset`, `init_from` or `vocab`, English training text starts from the
  built-in pretrained model `minilm-l6`; Chinese (or other) text trains the `tiny` preset from
  scratch with a vocabulary learned from the training texts (`CHINESE_PRETRAINED` names the
  checkpoint to start Chinese text from once there is one).
- `max_length="auto"`: the training texts are tokenized with the run's own tokenizer (an evenly
  spaced sample) and the length that keeps 95% of them whole is rounded up to a multiple of 32,
  at least 32 and at most 512 or the model's position embeddings; without a GPU at most 256
  (attention's cost grows with the square of the length; head+tail truncation keeps the two
  ends of longer texts, and `--max-length 512` is there when the time is worth it).
- `truncation="auto"`: "head_tail" (keep the first and the last tokens; Sun et al. 2019, "How
  to Fine-Tune BERT for Text Classification", found it best on long reviews and news) when more
  than 5% of the training texts are longer than `max_length`, else "end". The mode matters only
  for the texts that are cut.
- `epochs="auto"` and `learning_rate=None`, by starting point and number of training examples:
  from a pretrained checkpoint 3 epochs at 5e-5 (Devlin et al. 2019 fine-tune 2-4 epochs at
  2e-5..5e-5 and use 3 for GLUE); 10 epochs under 2,000 examples (Mosbach et al. 2021, "On
  the Stability of Fine-tuning BERT": small data needs many more updates, not a larger step); 2
  epochs at 2e-5 over 50,000 (thousands of updates per epoch; Sun et al.'s 2e-5 forgets less of
  the pretraining). From scratch twice those epochs (a random model learns everything from the
  data) at 5e-4 (a small random model needs larger steps; 1e-3, Adam's usual step, for
  `textcnn` and `bilstm`). The weights of the best validation epoch are kept, so extra epochs
  cost time, not accuracy. Warm-up stays at 10% of the updates (all three papers).
- `class_weights="auto"`: balanced class weights when the largest class has more than 3 times
  the examples of the smallest (single-label data only).
- `model` chooses the backbone: "bert" (default), or the baselines "textcnn" (Kim 2014,
  `tfbert.modeling.textcnn`) and "bilstm" (`tfbert.modeling.bilstm`), which always start from
  scratch on a vocabulary learned from the training texts (or `vocab`) and are saved, exported
  and served like a BERT classifier.

Output directories: the run marks the directory it creates with a `.tfbert-run.json` file, which
also records the settings and a fingerprint of the data. `overwrite` clears only a marked
directory, and only the files tfbert writes there; resuming an interrupted run refuses settings
or data that differ from the first attempt.

This module imports TensorFlow only when a run starts, so that the command line can read its
defaults cheaply.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tfbert.config import PRESETS, parse_layer_pooling
from tfbert.contract import PRETRAIN_HISTORY_FILE, RUN_MARKER, snapshot_step
from tfbert.errors import DataError, TfbertError
from tfbert.evaluation.baseline import BASELINE_DIR
from tfbert.files import read_json_object

PRETRAINED_LEARNING_RATE = 5e-5  # equal to TrainingConfig.learning_rate (a test checks)
LARGE_DATA_LEARNING_RATE = 2e-5  # pretrained start on more than LARGE_DATA examples
FROM_SCRATCH_LEARNING_RATE = 5e-4
NEURAL_LEARNING_RATE = 1e-3  # the TextCNN and BiLSTM baselines (Adam's usual step size)
MODELS = ("bert", "textcnn", "bilstm")
TASKS = ("classification", "ner")
NER_MODELS = ("bert", "bilstm")  # the networks a NER run (tfbert.training.ner_run) trains
FROM_SCRATCH_PRESET = "tiny"
DEFAULT_PRETRAINED = "minilm-l6"
# The checkpoint Chinese text starts from by default; None trains FROM_SCRATCH_PRESET instead.
CHINESE_PRETRAINED: str | None = None
AUTO = "auto"
# max_length="auto": keep this share of the training texts whole, in multiples of LENGTH_STEP.
LENGTH_COVERAGE = 0.95
LENGTH_STEP = 32
AUTO_LENGTH_RANGE = (32, 512)
# max_length="auto" without a GPU: attention's cost grows with the square of the length, so a
# 512-token training step costs well over twice a 256-token one on a CPU.
CPU_AUTO_LENGTH = 256
LENGTH_SAMPLE = 2000  # texts tokenized to measure lengths (evenly spaced over the train split)
LONG_TEXT_SHARE = 0.05  # truncation="auto": head+tail when more texts than this are cut
IMBALANCE_RATIO = 3.0  # class_weights="auto": on when largest / smallest class exceeds this
SMALL_DATA, LARGE_DATA = 2_000, 50_000  # training examples: the epoch rule's bounds
PRETRAINED_EPOCHS = {"small": 10, "medium": 3, "large": 2}
AUTO_NUMBERS = ("max_length", "epochs")  # numeric options that also take "auto"
PRECISIONS = ("float32", "bfloat16", "float16")  # tfbert.training.precision's names
STRATEGIES = ("default", "mirrored", "multi-worker")
MARKER = RUN_MARKER
# What a training or pretraining run writes into its output directory: all that `overwrite`
# may remove.
OUTPUT_NAMES = frozenset(
    {
        MARKER,
        "config.json",
        "vocab.txt",
        "model.safetensors",
        "history.json",
        PRETRAIN_HISTORY_FILE,
        "training_curves.png",
        "validation_report.json",
        "validation_confusion_matrix.png",
        "validation_per_class.png",
        "train_args.json",
        "test_report.json",
        "distill_report.json",  # tfbert.training.distill
        "distill_args.json",
        "logs",
        "checkpoints",
        "backup",
        "evaluation",
        BASELINE_DIR,
    }
)
CJK_SHARE = 0.2  # texts whose letters are at least this share CJK count as Chinese/Japanese
ENGLISH_SHARE = 0.9  # texts whose letters are at least this share ASCII count as English


@dataclasses.dataclass(kw_only=True)
class DataSources:
    """Where a run's examples come from and how they are read: the data settings that
    `RunConfig`, `tfbert.training.prune.PruneConfig` and `tfbert.training.distill.DistillConfig`
    share (each field is the command-line option of its name, given by keyword).

    Give exactly one of `dataset` (a built-in dataset) or `train_file`. Without
    `validation_file`, a stratified 10% of the training data is held out. A config built on it
    calls `check_sources` and `check_files` from its own `validate`.
    """

    dataset: str | None = None
    train_file: str | Path | None = None
    validation_file: str | Path | None = None
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    file_format: str | None = None
    clean_text: bool = False
    max_examples: int | None = None

    def __post_init__(self) -> None:
        for name in ("train_file", "validation_file"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))

    def check_sources(self) -> None:
        """Raises a `TfbertError` naming the option of the first invalid data setting: not
        exactly one of `dataset` and `train_file`, `max_examples` below 1, or one column named
        twice (files are checked by `check_files`)."""
        if (self.dataset is None) == (self.train_file is None):
            raise TfbertError("give exactly one of --dataset or --train-file.")
        value = self.max_examples
        if value is not None and (isinstance(value, (bool, str)) or value < 1):
            raise TfbertError(
                f"--max-examples must be a whole number of at least 1, got {value!r}."
            )
        check_columns(
            {
                "--text-column": self.text_column,
                "--label-column": self.label_column,
                "--text-pair-column": self.text_pair_column,
            }
        )

    def check_files(self, *more: str) -> None:
        """Raises a `DataError` for the first of `train_file`, `validation_file` and the file
        fields named in `more` that is given but is not a file."""
        for name in ("train_file", "validation_file", *more):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                what = "is a directory" if path.is_dir() else "does not exist"
                raise DataError(f"{option(name)} {path} {what}; give a file.")

    def data_sources(self) -> dict[str, Any]:
        """These settings alone, as keyword arguments for another config built on them."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(DataSources)}


def check_columns(columns: dict[str, str | None]) -> None:
    """Refuses one column named by two options (`columns`: option -> column, None: not given)."""
    seen: dict[str, str] = {}
    for flag, column in columns.items():
        if column is None:
            continue
        if column in seen:
            raise TfbertError(
                f"{seen[column]} and {flag} both name the column {column!r}; give each "
                "its own column."
            )
        seen[column] = flag


@dataclasses.dataclass
class RunConfig(DataSources):
    """Everything a training run needs; each field is the `tfbert train` option of its name.

    `output_dir` may come first without its name; every other setting is given by keyword.
    """

    output_dir: str | Path
    _: dataclasses.KW_ONLY  # every other setting by keyword, as the data settings
    # data (besides DataSources)
    multi_label: bool = False
    label_separator: str = ","
    # model
    model: str = "bert"
    preset: str | None = None
    init_from: str | Path | None = None
    dropout: float | None = None
    vocab: str | Path | None = None
    vocab_size: int = 8000
    cased: bool = False
    max_length: int | str = AUTO
    truncation: str = AUTO
    pooling: str = "auto"
    problem_type: str = "auto"
    # training (fixed defaults equal TrainingConfig's; "auto" ones: see the module docstring)
    epochs: int | str = AUTO
    batch_size: int = 32
    gradient_accumulation: int = 1
    learning_rate: float | None = None
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    class_weights: bool | str = AUTO
    early_stopping: int | None = None
    seed: int = 13
    bucket_by_length: bool = False
    strategy: str = "default"
    backup_every: int = 200
    precision: str = "float32"
    devices: Sequence[str] | None = None
    overwrite: bool = False
    baseline: bool = True  # fit the TF-IDF baseline and report it beside the model
    # Fine-tuning techniques (TrainingConfig has their meaning), each off by default.
    layer_decay: float | None = None
    fgm_epsilon: float | None = None
    augment_copies: int = 0
    augment_rate: float = 0.1
    # The task: "classification", or "ner" (token classification: `tfbert.training.ner_run`,
    # which reads the fields below; CoNLL column or JSONL span files, built-in NER datasets).
    task: str = "classification"
    crf: bool = False  # ner: a CRF output layer with Viterbi decoding
    scheme: str | None = None  # ner: "bio" or "bioes" (None: the training data's own)
    stride: int | None = None  # ner: pieces shared by the windows of a long sentence
    test_file: str | Path | None = None  # ner: a test split scored after training

    def __post_init__(self) -> None:
        from tfbert.data.vocabularies import is_builtin_vocabulary

        super().__post_init__()
        self.output_dir = Path(self.output_dir)
        for name in ("test_file", "vocab"):
            value = getattr(self, name)
            if value is not None and not (name == "vocab" and is_builtin_vocabulary(value)):
                setattr(self, name, Path(value))
        if self.devices is not None:
            self.devices = list(self.devices)

    def validate(self) -> None:
        """Raises a `TfbertError` naming the option of the first invalid setting."""
        if self.task not in TASKS:
            raise TfbertError(f"--task {self.task!r} is not one of: {', '.join(TASKS)}.")
        if self.task == "ner":
            check_ner_options(self)
        else:
            given = [
                flag
                for flag, value in (
                    ("--crf", self.crf),
                    ("--scheme", self.scheme is not None),
                    ("--stride", self.stride is not None),
                    ("--test-file", self.test_file is not None),
                )
                if value
            ]
            if given:
                raise TfbertError(
                    f"{', '.join(given)} apply to named-entity recognition; add --task ner, or "
                    "drop them for a classifier."
                )
            if self.dataset is not None:
                from tfbert.data.datasets import dataset_catalog

                kinds = {info.name: info.kind for info in dataset_catalog()}
                if kinds.get(str(self.dataset).strip().lower()) == "ner":
                    raise TfbertError(
                        f"--dataset {self.dataset} is a named-entity recognition dataset; add "
                        "--task ner to train a NER model on it."
                    )
        self.check_sources()
        if self.preset is not None and self.init_from is not None:
            raise TfbertError("give --preset (from scratch) or --init-from (pretrained), not both.")
        if self.model in MODELS and self.model != "bert":
            given = "--preset" if self.preset is not None else "--init-from"
            if self.preset is not None or self.init_from is not None:
                raise TfbertError(
                    f"{given} sets up a BERT model; --model {self.model} always trains from "
                    f"scratch: drop {given}, or use --model bert."
                )
        at_least = {
            "epochs": 1,
            "batch_size": 1,
            "gradient_accumulation": 1,
            "max_length": 3,
            "vocab_size": 1,
            "backup_every": 1,
            "early_stopping": 0,
        }
        for name, low in at_least.items():
            value = getattr(self, name)
            if value is None or (value == AUTO and name in AUTO_NUMBERS):
                continue
            if isinstance(value, (bool, str)) or value < low:
                also = "'auto' or " if name in AUTO_NUMBERS else ""
                raise TfbertError(
                    f"{option(name)} must be {also}a whole number of at least {low}, got {value!r}."
                )
        if self.class_weights not in (True, False, AUTO):
            raise TfbertError(
                f"--class-weights must be on, off or auto, got {self.class_weights!r}."
            )
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise TfbertError(f"--learning-rate must be positive, got {self.learning_rate}.")
        if not 0.0 <= self.warmup_fraction <= 1.0:
            raise TfbertError(f"--warmup-fraction must be in [0, 1], got {self.warmup_fraction}.")
        if not self.weight_decay >= 0.0:
            raise TfbertError(f"--weight-decay must be at least 0, got {self.weight_decay}.")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise TfbertError(f"--dropout must be in [0, 1), got {self.dropout}.")
        if self.layer_decay is not None and not 0.0 < self.layer_decay <= 1.0:
            raise TfbertError(f"--layer-decay must be in (0, 1], got {self.layer_decay}.")
        if self.fgm_epsilon is not None and not self.fgm_epsilon > 0.0:
            raise TfbertError(f"--fgm-epsilon must be positive, got {self.fgm_epsilon}.")
        if isinstance(self.augment_copies, bool) or self.augment_copies < 0:
            raise TfbertError(f"--augment-copies must be at least 0, got {self.augment_copies}.")
        if not 0.0 < self.augment_rate <= 1.0:
            raise TfbertError(f"--augment-rate must be in (0, 1], got {self.augment_rate}.")
        if self.layer_decay is not None and self.model != "bert":
            raise TfbertError(
                f"--layer-decay needs a BERT model; drop it for --model {self.model}."
            )
        if parse_layer_pooling(self.pooling) is not None and self.model != "bert":
            raise TfbertError(
                f"--pooling {self.pooling} reads every BERT layer; use cls or mean for "
                f"--model {self.model}."
            )
        choices = {
            "model": MODELS,
            "preset": (None, *PRESETS),
            "truncation": (AUTO, "end", "head_tail"),
            "pooling": ("auto", "cls", "mean", "lastN_mean", "lastN_concat"),
            "problem_type": ("auto", "binary", "multiclass", "multilabel"),
            "strategy": STRATEGIES,
            "precision": PRECISIONS,
            "file_format": (
                (None, "conll", "jsonl")
                if self.task == "ner"
                else (None, "csv", "tsv", "jsonl", "tfrecord")
            ),
        }
        for name, allowed in choices.items():
            if name == "pooling" and parse_layer_pooling(self.pooling) is not None:
                continue
            if getattr(self, name) not in allowed:
                names = ", ".join(a for a in allowed if a is not None)
                raise TfbertError(f"{option(name)} {getattr(self, name)!r} is not one of: {names}.")
        from tfbert.data.vocabularies import is_builtin_vocabulary

        self.check_files("test_file", *(() if is_builtin_vocabulary(self.vocab) else ("vocab",)))
        if self.output_dir.exists() and not self.output_dir.is_dir():
            raise TfbertError(
                f"--output-dir {self.output_dir} is a file; give a directory (new or empty)."
            )

    def settings(self) -> dict[str, Any]:
        """The settings a resumed run must share with the interrupted one (JSON-ready)."""
        ignored = {"output_dir", "overwrite", "backup_every", "devices", "strategy", "baseline"}
        if self.task == "classification":  # as before the NER fields existed
            ignored |= {"task", "crf", "scheme", "stride", "test_file"}
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in ignored
        }


# RunConfig options that only a classifier reads, and the value that means "not given".
_CLASSIFICATION_ONLY = {
    "text_pair_column": None,
    "multi_label": False,
    "pooling": "auto",
    "problem_type": "auto",
    "truncation": AUTO,
    "class_weights": AUTO,
    "bucket_by_length": False,
    "fgm_epsilon": None,
    "augment_copies": 0,
    "layer_decay": None,
    "clean_text": False,
}


def check_ner_options(config: RunConfig) -> None:
    """Refuses the options a NER run cannot take, naming them (`RunConfig.validate` calls it)."""
    if config.model not in NER_MODELS:
        raise TfbertError(
            f"--model {config.model} classifies whole texts; a NER model is one of: "
            f"{', '.join(NER_MODELS)} (bilstm with --crf is the BiLSTM-CRF baseline)."
        )
    given = [
        option(name)
        for name, unset in _CLASSIFICATION_ONLY.items()
        if getattr(config, name) != unset
    ]
    if given:
        raise TfbertError(
            f"{', '.join(given)} apply to classifiers only; drop them for --task ner."
        )
    if config.scheme is not None and config.scheme not in ("bio", "bioes"):
        raise TfbertError(f"--scheme {config.scheme!r} is not one of: bio, bioes.")
    if config.stride is not None and (isinstance(config.stride, bool) or config.stride < 0):
        raise TfbertError(f"--stride must be a whole number of at least 0, got {config.stride!r}.")
    if config.dataset is not None:
        check_ner_dataset(config.dataset)
    if config.test_file is not None and config.dataset is not None:
        raise TfbertError(
            f"--dataset {config.dataset} has its own test split; drop --test-file, or train on "
            "--train-file."
        )


def check_ner_dataset(name: str) -> None:
    """Refuses a dataset that is not a built-in NER dataset, in one line naming those that are."""
    from tfbert.data.datasets import available_datasets, dataset_info

    try:
        dataset_info(name, kind="ner")
    except DataError:
        raise DataError(
            f"--dataset {name} is not a named-entity recognition dataset; a NER model trains "
            f"and is evaluated on one of: {', '.join(available_datasets('ner'))}, or on files "
            "(CoNLL columns or JSONL spans)."
        ) from None


@dataclasses.dataclass
class TrainingRun:
    """What `train_classifier` returns: the trained classifier, its history and reports."""

    classifier: Any
    history: Any
    report: Any  # the validation EvaluationReport (None on non-chief workers)
    output_dir: Path
    validation_size: int
    seconds: float
    baseline: Any = None  # the fitted TF-IDF baseline (a TfidfClassifier), if any


def option(name: str) -> str:
    """The command-line option of a `RunConfig` field: `max_length` -> `--max-length`."""
    return "--" + name.replace("_", "-")


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----- output directories ------------------------------------------------------------------------
def check_output_dir(path: Path, overwrite: bool) -> bool:
    """Fails early if `path` cannot be used; returns True when an interrupted run should resume.

    Changes nothing on disk: `create_output_dir` does that once every input is known good.
    """
    if path.exists() and not path.is_dir():
        raise TfbertError(f"--output-dir {path} is a file; give a directory (new or empty).")
    if (path / "backup").is_dir() and not overwrite:
        return True
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise TfbertError(
                f"output directory {path} already exists and is not empty; pass "
                "--overwrite to replace it, or choose another --output-dir."
            )
        if not (path / MARKER).is_file():
            raise TfbertError(
                f"--overwrite refuses to clear {path}: tfbert did not create it (it has no "
                f"{MARKER}), so it may hold your own files; choose a new --output-dir."
            )
    return False


def read_marker(path: Path) -> dict[str, Any] | None:
    """The record a run left in its output directory (None if there is none or it is unreadable)."""
    return read_json_object(path / MARKER)


def check_resume(path: Path, command: str, settings: dict, data: str | None) -> None:
    """Refuses to resume the run in `path` with other settings or data than its first attempt."""
    record = read_marker(path)
    if record is None:
        return  # a run from an older tfbert: the backup's own fingerprint still guards it
    old = record.get("settings", {})
    changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
    differences = [f"{option(k)}: {old.get(k)!r} then, {settings.get(k)!r} now" for k in changed]
    if record.get("data") != data:
        differences.append("the training or validation data changed")
    if record.get("command", command) != command or differences:
        raise TfbertError(
            f"the interrupted run in {path} used other settings or data "
            f"({'; '.join(differences) or 'another command'}); rerun it with the same ones to "
            "resume, or pass --overwrite to start afresh."
        )


def create_output_dir(
    path: Path, resume: bool, *, command: str, settings: dict, data: str | None
) -> None:
    """Creates (or, for a marked directory with `overwrite`, clears) the run's output directory.

    Removes only the entries tfbert writes (`OUTPUT_NAMES`, and pretraining's `step-<N>`
    snapshots); anything else stays.
    """
    if resume:
        _say(f"Resuming the interrupted run in {path} from its last backup.")
        return
    if path.is_dir():
        kept = []
        for entry in sorted(path.iterdir()):
            if entry.name not in OUTPUT_NAMES and snapshot_step(entry.name) is None:
                kept.append(entry.name)
            elif entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        if kept:
            _say(f"Kept {len(kept)} entries in {path} that tfbert did not write: {', '.join(kept)}")
    path.mkdir(parents=True, exist_ok=True)
    record = {"command": command, "settings": settings, "data": data}
    (path / MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def data_fingerprint(*datasets: Any) -> str:
    """A SHA-256 of the texts, text pairs and labels of `datasets` (in order)."""
    digest = hashlib.sha256()
    for data in datasets:
        if data is None:
            continue
        pairs = getattr(data, "text_pairs", None)
        record = {"texts": list(data.texts), "labels": _plain(list(data.labels))}
        if pairs is not None:
            record["pairs"] = list(pairs)
        digest.update(json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


# ----- language and starting point ---------------------------------------------------------------
def script_shares(texts: Sequence[str], limit: int = 2000) -> tuple[float, float]:
    """(CJK share, ASCII share) of the letters in (the first `limit` of) `texts`."""
    from tfbert.text.vocab import is_cjk_character

    cjk = ascii_letters = letters = 0
    for text in texts[:limit]:
        for char in text:
            if char.isalpha():
                letters += 1
                if char.isascii():
                    ascii_letters += 1
                elif is_cjk_character(char):
                    cjk += 1
    if not letters:
        return 0.0, 0.0
    return cjk / letters, ascii_letters / letters


def choose_start(config: RunConfig, texts: Sequence[str], say: Callable[[str], None]) -> None:
    """Fills in `preset` or `init_from` when the user gave neither (nor a `vocab`), by language.

    Only BERT has a starting point to choose: `textcnn` and `bilstm` always learn from scratch.
    """
    if config.preset is not None or config.init_from is not None or config.vocab is not None:
        return
    if config.model != "bert":
        say(f"Training a {config.model} model from scratch with a vocabulary learned from the "
            "training texts.")  # fmt: skip
        return
    cjk, english = script_shares(texts)
    if cjk >= CJK_SHARE and CHINESE_PRETRAINED is not None:
        config.init_from = CHINESE_PRETRAINED
        say(
            f"The training texts are Chinese ({cjk:.0%} CJK characters): starting from the "
            f"pretrained model {CHINESE_PRETRAINED!r} (choose with --preset or --init-from)."
        )
        return
    if cjk >= CJK_SHARE:
        config.preset = FROM_SCRATCH_PRESET
        say(
            f"The training texts are Chinese/Japanese ({cjk:.0%} CJK characters) and tfbert has "
            f"no pretrained model for them yet: training the {FROM_SCRATCH_PRESET!r} preset from "
            "scratch with a vocabulary learned from the texts (choose with --preset/--init-from)."
        )
        return
    if english >= ENGLISH_SHARE:
        from tfbert.modeling.checkpoints import resolve_checkpoint

        try:
            resolve_checkpoint(DEFAULT_PRETRAINED)
        except TfbertError as error:
            config.preset = FROM_SCRATCH_PRESET
            say(f"English text, but the pretrained model is unavailable ({error}); training "
                f"the {FROM_SCRATCH_PRESET!r} preset from scratch.")  # fmt: skip
            return
        config.init_from = DEFAULT_PRETRAINED
        say(
            f"The training texts are English: starting from the pretrained model "
            f"{DEFAULT_PRETRAINED!r}, which learns far more from little data than a model from "
            "scratch (choose another start with --preset or --init-from)."
        )
        return
    config.preset = FROM_SCRATCH_PRESET
    say(
        f"The training texts are neither English nor Chinese ({english:.0%} ASCII letters): "
        f"training the {FROM_SCRATCH_PRESET!r} preset from scratch with a learned vocabulary."
    )


def explain_vocabulary_size(size: int, requested: int, say: Callable[[str], None]) -> None:
    """Says why a learned vocabulary came out smaller than `--vocab-size` asked."""
    if size < requested:
        say(
            f"The learned vocabulary has {size:,} tokens, fewer than --vocab-size {requested:,}: "
            "the texts hold too few distinct words and word pieces for more."
        )


# ----- data-driven defaults ("auto") -----------------------------------------------------------
def token_lengths(
    tokenizer: Any,
    texts: Sequence[str],
    text_pairs: Sequence[str] | None = None,
    sample: int = LENGTH_SAMPLE,
) -> Any:
    """Untruncated packed lengths ([CLS] and [SEP] included) under `tokenizer` of an evenly
    spaced sample of `texts` (with their `text_pairs`), as a numpy array."""
    import numpy as np
    import tensorflow as tf

    step = max(1, len(texts) // sample)
    picked = list(texts)[::step][:sample]
    lengths = tokenizer.wordpiece_ids(tf.constant(picked, tf.string)).row_lengths().numpy() + 2
    if text_pairs is not None:
        pairs = list(text_pairs)[::step][:sample]
        lengths += tokenizer.wordpiece_ids(tf.constant(pairs, tf.string)).row_lengths().numpy() + 1
    return np.asarray(lengths, dtype=np.int64)


def has_accelerator() -> bool:
    """True when TensorFlow sees a GPU or TPU (which changes what `max_length="auto"` picks)."""
    import tensorflow as tf

    return any(tf.config.list_physical_devices(kind) for kind in ("GPU", "TPU"))


def choose_max_length(lengths: Any, limit: int, accelerator: bool = True) -> tuple[int, str]:
    """The `max_length="auto"` rule (module docstring) for token `lengths`, at most `limit`
    (the model's position embeddings) and, without an `accelerator`, at most CPU_AUTO_LENGTH;
    returns (length, the reason in one line)."""
    import numpy as np

    low, high = AUTO_LENGTH_RANGE
    if not accelerator:
        high = min(high, CPU_AUTO_LENGTH)
    needed = float(np.percentile(lengths, LENGTH_COVERAGE * 100))
    rounded = math.ceil(needed / LENGTH_STEP) * LENGTH_STEP
    length = min(max(low, rounded), high, limit)
    covered = float(np.mean(lengths <= length))
    reason = (
        f"Max length {length}: covers {covered:.0%} of the training texts whole (median "
        f"{float(np.median(lengths)):.0f} tokens, {LENGTH_COVERAGE * 100:.0f}th percentile "
        f"{needed:.0f})"
    )
    if rounded > length and high < min(AUTO_LENGTH_RANGE[1], limit):
        reason += (
            f"; {high} is the most chosen without a GPU, where longer inputs cost "
            "disproportionately more time"
        )
    elif rounded > length:
        reason += f"; {min(high, limit)} is the most the model takes"
    return length, reason + " (choose with --max-length)."


def choose_truncation(lengths: Any, max_length: int) -> tuple[str, str]:
    """The `truncation="auto"` rule (module docstring); returns (mode, the reason in one line)."""
    import numpy as np

    longer = float(np.mean(lengths > max_length))
    if longer > LONG_TEXT_SHARE:
        return "head_tail", (
            f"Truncation head_tail: {longer:.0%} of the training texts are longer than "
            f"{max_length} tokens; keeping their start and end beats the start alone on long "
            "texts (Sun et al. 2019) (choose with --truncation)."
        )
    return "end", (
        f"Truncation end: only {longer:.0%} of the training texts are longer than {max_length} "
        "tokens, so cutting their ends loses little (choose with --truncation)."
    )


def data_size(examples: int) -> str:
    """The size class of `examples` training examples: "small" (under SMALL_DATA), "medium",
    or "large" (over LARGE_DATA)."""
    if examples < SMALL_DATA:
        return "small"
    return "large" if examples > LARGE_DATA else "medium"


def default_epochs(config: RunConfig, examples: int) -> int:
    """The `epochs="auto"` rule (module docstring): by starting point and data size."""
    epochs = PRETRAINED_EPOCHS[data_size(examples)]
    return epochs if config.model == "bert" and config.init_from else 2 * epochs


def choose_class_weights(labels: Sequence[Any], multi_label: bool) -> tuple[bool, str]:
    """The `class_weights="auto"` rule (module docstring); returns (on, the reason in one line)."""
    from collections import Counter

    if multi_label:
        return False, "Class weights off: they apply to single-label data only."
    counts = Counter(labels).most_common()
    (large, most), (small, fewest) = counts[0], counts[-1]
    ratio = most / fewest
    sizes = f"the largest class ({large}, {most:,}) has {ratio:.1f}x the examples of the " \
        f"smallest ({small}, {fewest:,})"  # fmt: skip
    if ratio > IMBALANCE_RATIO:
        return True, (
            f"Class weights on (balanced): {sizes}, so each class counts in proportion to its "
            "rarity (choose with --class-weights off)."
        )
    return False, (
        f"Class weights off: {sizes}, at most {IMBALANCE_RATIO:g}x (choose with --class-weights)."
    )


def resolve_defaults(
    config: RunConfig, train: Any, tokenizer: Any, limit: int, say: Callable[[str], None]
) -> None:
    """Replaces every "auto" setting of `config` (and an unset `learning_rate`) by the value
    the training data calls for, saying each choice and its reason in one line.

    `tokenizer` is the run's tokenizer (any max_length), `limit` the model's position
    embeddings. Explicit settings stay as they are.
    """
    lengths = None
    if config.max_length == AUTO or config.truncation == AUTO:
        lengths = token_lengths(tokenizer, train.texts, getattr(train, "text_pairs", None))
    if config.max_length == AUTO:
        config.max_length, reason = choose_max_length(lengths, limit, has_accelerator())
        say(reason)
    if config.truncation == AUTO:
        config.truncation, reason = choose_truncation(lengths, config.max_length)
        say(reason)
    if config.epochs == AUTO or config.learning_rate is None:
        chosen = []
        start = "a pretrained start" if config.init_from else f"a {config.model} from scratch"
        size = data_size(len(train))
        if config.epochs == AUTO:
            config.epochs = default_epochs(config, len(train))
            chosen.append(f"{config.epochs} epochs")
        if config.learning_rate is None:
            config.learning_rate = default_learning_rate(config, len(train))
            chosen.append(f"learning rate {config.learning_rate:g}")
        bounds = {"small": f", under {SMALL_DATA:,}", "large": f", over {LARGE_DATA:,}"}
        say(
            f"Schedule: {', '.join(chosen)}, warm-up {config.warmup_fraction:.0%}: {start} on "
            f"{len(train):,} examples ({size} data{bounds.get(size, '')}; the best validation "
            "epoch is kept) (choose with --epochs, --learning-rate)."
        )
    if config.class_weights == AUTO:
        multi_label = config.multi_label or config.problem_type == "multilabel"
        config.class_weights, reason = choose_class_weights(train.labels, multi_label)
        say(reason)


def adopt_resolved(config: RunConfig, first: dict[str, Any]) -> None:
    """Gives the "auto" settings of `config` the values the interrupted run recorded in
    `first` (its settings), so that a resumed run trains with exactly the same choices."""
    chose_start = config.preset is None and config.init_from is None and config.vocab is None
    if config.model == "bert" and chose_start:
        config.preset, config.init_from = first.get("preset"), first.get("init_from")
    for name in ("max_length", "truncation", "epochs", "class_weights"):
        if getattr(config, name) == AUTO and name in first:
            setattr(config, name, first[name])
    if config.learning_rate is None:
        config.learning_rate = first.get("learning_rate")


# ----- the run ---------------------------------------------------------------------------------
def _sample(data: Any, limit: int | None, seed: int) -> Any:
    if limit is None or len(data) <= limit:
        return data
    import numpy as np

    return data.subset(np.random.default_rng(seed).permutation(len(data))[:limit].tolist())


def _read(config: RunConfig, path: Path, multi_label: bool) -> Any:
    from tfbert.data import read_examples

    return read_examples(
        path,
        text_column=config.text_column,
        text_pair_column=config.text_pair_column,
        label_column=config.label_column,
        multi_label=multi_label,
        label_separator=config.label_separator,
        file_format=config.file_format,
        clean=config.clean_text,
    )


def load_run_data(config: RunConfig, say: Callable[[str], None] = _say) -> tuple[Any, Any, list]:
    """The run's (train, validation, label names), sampled and split as `config` says."""
    from tfbert.data import LabelVocabulary, load_dataset, train_validation_split

    multi_label = config.multi_label or config.problem_type == "multilabel"
    if config.dataset:
        splits = load_dataset(
            config.dataset, max_examples_per_split=config.max_examples, seed=config.seed
        )
        say(f"Dataset {splits.name}: {len(splits.train):,} train / "
            f"{len(splits.validation):,} validation.")  # fmt: skip
        return splits.train, splits.validation, list(splits.label_names)
    train = _sample(_read(config, config.train_file, multi_label), config.max_examples, config.seed)
    label_names = LabelVocabulary.from_labels(train.labels, multi_label=multi_label).names
    if config.validation_file:
        validation = _sample(
            _read(config, config.validation_file, multi_label), config.max_examples, config.seed
        )
    else:
        train, validation = train_validation_split(train, validation_fraction=0.1, seed=config.seed)
    say(f"Data: {len(train):,} train / {len(validation):,} validation examples, "
        f"{len(label_names)} labels.")  # fmt: skip
    return train, validation, list(label_names)


def default_learning_rate(config: RunConfig, examples: int | None = None) -> float:
    """The peak learning rate of a run that gives none: by model, starting point and number
    of training `examples` (module docstring)."""
    if config.model != "bert":
        return NEURAL_LEARNING_RATE
    if not config.init_from:
        return FROM_SCRATCH_LEARNING_RATE
    large = examples is not None and data_size(examples) == "large"
    return LARGE_DATA_LEARNING_RATE if large else PRETRAINED_LEARNING_RATE


def neural_backbone(config: RunConfig, tokenizer: Any, **options: Any) -> Any:
    """The TextCNN or BiLSTM backbone of `config.model` for `tokenizer`'s vocabulary;
    `options` go to its constructor (e.g. the BiLSTM's `pooling`)."""
    from tfbert.modeling.bilstm import BiLSTM
    from tfbert.modeling.textcnn import TextCNN

    kind = {"textcnn": TextCNN, "bilstm": BiLSTM}[config.model]
    if config.dropout is not None:
        options["dropout"] = config.dropout
    return kind.from_vocabulary(tokenizer, name=config.model, **options)


@dataclasses.dataclass
class _Start:
    """What the model starts from, read before the output directory is written."""

    tokenizer: Any  # the run's tokenizer (default max_length): measures the texts
    limit: int  # the model's position embeddings: the longest max_length it takes
    pretrained: Any = None  # the PretrainedBert of `init_from`
    vocabulary: list[str] | None = None  # from scratch: the vocabulary
    learned: bool = False  # the vocabulary was learned now (saved once the directory exists)


def _read_start(
    config: RunConfig,
    work_dir: Path,
    texts: Sequence[str],
    resume: bool,
    say: Callable[[str], None],
) -> _Start:
    """The pretrained checkpoint, or the from-scratch vocabulary (given, resumed or learned)."""
    from tfbert.config import BertConfig
    from tfbert.data.vocabularies import resolve_vocabulary
    from tfbert.text.tokenizer import BertTokenizer
    from tfbert.text.vocab import learn_vocabulary, load_vocabulary

    if config.init_from:
        from tfbert.modeling.checkpoints import load_pretrained

        pretrained = load_pretrained(config.init_from)
        tokenizer = BertTokenizer(pretrained.vocabulary, **pretrained.tokenizer_options())
        return _Start(tokenizer, pretrained.config.max_position_embeddings, pretrained)
    vocab_path = work_dir / "vocab.txt"
    learned = False
    if config.vocab:
        vocabulary = resolve_vocabulary(config.vocab)
    elif resume and vocab_path.is_file():
        vocabulary = load_vocabulary(vocab_path)
    else:
        say(f"Learning a {config.vocab_size:,}-token WordPiece vocabulary from the train split...")
        vocabulary = learn_vocabulary(
            texts, config.vocab_size, lowercase=not config.cased, show_progress=True
        )
        explain_vocabulary_size(len(vocabulary), config.vocab_size, say)
        learned = True
    limit = AUTO_LENGTH_RANGE[1]
    if config.model == "bert":
        limit = BertConfig.from_preset(config.preset or FROM_SCRATCH_PRESET).max_position_embeddings
    tokenizer = BertTokenizer(vocabulary, lowercase=not config.cased)
    return _Start(tokenizer, limit, vocabulary=vocabulary, learned=learned)


def _build_classifier(
    config: RunConfig, start: _Start, label_names: list[str], problem_type: str
) -> Any:
    """The classifier to fine-tune (call under the strategy's scope)."""
    import keras

    from tfbert.config import BertConfig
    from tfbert.tasks.classifier import BertClassifier, TextClassifier
    from tfbert.text.tokenizer import BertTokenizer

    keras.utils.set_random_seed(config.seed)
    options = {
        "max_length": config.max_length,
        "truncation": config.truncation,
        "pad_to": "longest",
    }
    if start.pretrained is not None:
        return BertClassifier.from_pretrained(
            start.pretrained,
            label_names,
            problem_type=problem_type,
            pooling=config.pooling,
            dropout=config.dropout,
            **options,
        )
    tokenizer = BertTokenizer(start.vocabulary, lowercase=not config.cased, **options)
    pooling = "cls" if config.pooling == "auto" else config.pooling
    if config.model != "bert":
        backbone = neural_backbone(config, tokenizer)
        return TextClassifier(
            backbone, tokenizer, label_names, problem_type=problem_type, pooling=pooling
        )
    bert = BertConfig.from_preset(
        config.preset or FROM_SCRATCH_PRESET, vocab_size=len(start.vocabulary)
    )
    if config.dropout is not None:
        bert = bert.with_dropout(config.dropout)
    return BertClassifier(
        bert, labels=label_names, tokenizer=tokenizer, problem_type=problem_type, pooling=pooling
    )


def keras_verbosity(verbose: int | str | None = None) -> int | str:
    """The `verbose` for Keras `fit`: `verbose` when given, else a progress bar on a terminal (1)
    and one line per epoch in logs and pipes (2)."""
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2


def say_best_epoch(history: dict[str, list[Any]], say: Callable[[str], None]) -> None:
    """Says which epoch's weights a run kept (the lowest validation loss) and why."""
    from tfbert.training.fine_tune import best_epoch

    kept = best_epoch(history, "val_loss")
    if kept is None:
        return
    losses = history["val_loss"]
    last = "" if kept == len(losses) else f"; the last epoch had {losses[-1]:.4f}"
    say(
        f"Kept the weights of epoch {kept} of {len(losses)}: the lowest validation loss "
        f"({losses[kept - 1]:.4f}{last})."
    )


def train_classifier(
    config: RunConfig,
    *,
    say: Callable[[str], None] = _say,
    verbose: int | str | None = None,
) -> TrainingRun:
    """Runs `config` end to end, as `tfbert train` does; returns the trained run.

    Writes into `config.output_dir`: the model (`config.json`, `vocab.txt`,
    `model.safetensors`), `history.json`, `training_curves.png`, `validation_report.json`,
    `validation_confusion_matrix.png`, `train_args.json`, TensorBoard `logs/` and the best
    checkpoint. A run killed before the end resumes from its last backup when started again
    with the same settings and data.

    With `config.baseline` (the default), the TF-IDF baseline is fitted on the same train and
    validation split after training and saved in `baseline/` (`TfidfClassifier`), so that
    `tfbert evaluate` reuses it; the validation report, its table and plots show it beside the
    model (`run.report.baseline`, `run.report.baseline_warning()`), and `run.baseline` is the
    fitted model. Multilabel data and text pairs have none (one line says so).

    `say` receives the progress messages (default: stderr); `verbose` is Keras's (default: a
    progress bar on a terminal, else a line per epoch).
    """
    started = time.time()
    config.validate()
    if config.task != "classification":
        raise TfbertError(
            f"train_classifier trains classifiers; --task {config.task} runs with "
            "tfbert.training.ner_run.train_tagger."
        )
    from tfbert._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tfbert.data import LabelVocabulary
    from tfbert.evaluation import (
        evaluate_classifier,
        plot_confusion_matrix,
        plot_per_class,
        plot_training_curves,
    )
    from tfbert.training.distribute import create_strategy, is_chief, worker_directory
    from tfbert.training.fine_tune import TrainingConfig, fine_tune
    from tfbert.training.precision import set_precision

    if config.init_from is not None:
        from tfbert.modeling.checkpoints import resolve_checkpoint

        resolve_checkpoint(config.init_from)  # an unknown name or directory fails at once
    # MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy = create_strategy(config.strategy, config.devices)
    chief = is_chief(strategy)
    # Workers other than the chief never write into the output directory, only into a
    # directory of their own (its backups let them resume too), removed at the end.
    work_dir = worker_directory(config.output_dir, strategy)
    resume = check_output_dir(work_dir, config.overwrite)
    train, validation, label_names = load_run_data(config, say)
    multi_label = config.multi_label or config.problem_type == "multilabel"
    # Check every validation label now, before anything is written: a rejected run must leave
    # no output directory behind that would block the corrected rerun.
    LabelVocabulary(label_names).encode(validation.labels, multi_label=multi_label)
    first = (read_marker(work_dir) or {}).get("settings") if resume else None
    if first:
        # The interrupted run made its choices already; choosing again must not differ.
        adopt_resolved(config, first)
        check_resume(work_dir, "train", config.settings(), data_fingerprint(train, validation))
    else:
        choose_start(config, train.texts, say)
    start = _read_start(config, work_dir, train.texts, resume, say)
    resolve_defaults(config, train, start.tokenizer, start.limit, say)
    if config.max_length > start.limit:
        raise TfbertError(
            f"--max-length {config.max_length} is more than the model's {start.limit} position "
            f"embeddings; give at most {start.limit}, or --max-length auto."
        )
    settings = config.settings()
    fingerprint = data_fingerprint(train, validation)
    if resume:
        check_resume(work_dir, "train", settings, fingerprint)
    training = TrainingConfig(
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate or default_learning_rate(config, len(train)),
        warmup_fraction=config.warmup_fraction,
        weight_decay=config.weight_decay,
        seed=config.seed,
        class_weights=config.class_weights,
        early_stopping_patience=config.early_stopping,
        backup_every_steps=config.backup_every,
        gradient_accumulation_steps=config.gradient_accumulation,
        bucket_by_length=config.bucket_by_length,
        layer_decay=config.layer_decay,
        fgm_epsilon=config.fgm_epsilon,
        augment_copies=config.augment_copies,
        augment_rate=config.augment_rate,
    )
    create_output_dir(work_dir, resume, command="train", settings=settings, data=fingerprint)
    if start.learned:
        from tfbert.text.vocab import save_vocabulary

        save_vocabulary(start.vocabulary, work_dir / "vocab.txt")
    problem_type = "multilabel" if multi_label else config.problem_type
    if strategy.num_replicas_in_sync > 1:
        say(f"Training on {strategy.num_replicas_in_sync} replicas ({config.strategy}); "
            f"global batch {config.batch_size}.")  # fmt: skip
    set_precision(config.precision)
    with strategy.scope():
        classifier = _build_classifier(config, start, label_names, problem_type)
    say(f"Model: {classifier.count_params():,} parameters, {classifier.problem_type}, "
        f"labels {classifier.labels}.")  # fmt: skip
    history = fine_tune(
        classifier,
        train,
        validation,
        config=training,
        output_dir=config.output_dir,
        verbose=keras_verbosity(verbose),
        keep_backup=True,  # removed below, once the model directory is complete
    )
    say_best_epoch(history.history, say)
    output_dir = config.output_dir
    if not chief:
        shutil.rmtree(work_dir, ignore_errors=True)
        return TrainingRun(classifier, history, None, work_dir, len(validation), 0.0)
    classifier.save_pretrained(output_dir)
    if config.strategy == "multi-worker":
        # Evaluating the distributed model would need every worker (and would shard the
        # data): evaluate a local copy, read back from the directory just written.
        from tfbert.tasks.classifier import BertClassifier

        classifier = BertClassifier.from_pretrained(output_dir)
    data_name = config.dataset or Path(config.train_file).name
    plot_training_curves(history.history, output_dir / "training_curves.png", dataset=data_name)
    baseline = None
    if config.baseline:  # the TF-IDF baseline on the same split, kept for `tfbert evaluate`
        from tfbert.evaluation import fit_baseline

        baseline = fit_baseline(
            train, validation, labels=classifier.labels, problem_type=problem_type, say=say
        )
        if baseline is not None:
            baseline.save_pretrained(output_dir / BASELINE_DIR)
    report = evaluate_classifier(
        classifier, validation, batch_size=config.batch_size * 2, baseline=baseline
    )
    report.to_json(output_dir / "validation_report.json")
    for plot, name in ((plot_confusion_matrix, "confusion_matrix"), (plot_per_class, "per_class")):
        plot(report, output_dir / f"validation_{name}.png", dataset=data_name, split="validation")
    arguments = {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
    (output_dir / "train_args.json").write_text(
        json.dumps(arguments, indent=2) + "\n", encoding="utf-8"
    )
    shutil.rmtree(output_dir / "backup", ignore_errors=True)  # complete: no resume
    return TrainingRun(
        classifier, history, report, output_dir, len(validation), time.time() - started, baseline
    )


__all__ = [
    "FROM_SCRATCH_LEARNING_RATE",
    "MODELS",
    "NEURAL_LEARNING_RATE",
    "PRETRAINED_LEARNING_RATE",
    "RunConfig",
    "TrainingRun",
    "check_output_dir",
    "create_output_dir",
    "data_fingerprint",
    "train_classifier",
]
