"""What the `tfbert` commands share: the parser class, option validators, flags and helpers.

Nothing here imports TensorFlow: parsing and `--help` stay fast. Helpers that need it import it
inside the function.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from tfbert.errors import DataError, ModelFileError, TfbertError

EXIT_USAGE = 2
PRECISION_CHOICES = ("float32", "bfloat16", "float16")  # tfbert.training.precision's names


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one `error:` line naming the option."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


# ----- option types: argparse calls them with the text the user typed ---------------------------
def _number(kind: type, test: Callable[[Any], bool], what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = what  # argparse shows it in "invalid <name> value" messages
    return parse


positive_int = _number(int, lambda v: v >= 1, "a whole number of at least 1")
non_negative_int = _number(int, lambda v: v >= 0, "a whole number of at least 0")
positive_float = _number(float, lambda v: v > 0, "a number above 0")
non_negative_float = _number(float, lambda v: v >= 0, "a number of at least 0")
fraction = _number(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")
dropout_rate = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
sequence_length = _number(int, lambda v: v >= 3, "a whole number of at least 3 ([CLS], [SEP])")


def help_default(text: str, default: Any) -> str:
    """`text` followed by `(default: <default>)`, so every option's help names its default."""
    return f"{text} (default: {default})"


# ----- shared flags ----------------------------------------------------------------------------
def add_data_arguments(parser: argparse.ArgumentParser, *, training: bool) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--text-column", default="text", help="column holding the text (default: text)"
    )
    group.add_argument(
        "--text-pair-column",
        default=None,
        help="second text column, for sentence-pair tasks (default: none)",
    )
    group.add_argument(
        "--label-column", default="label", help="column holding the label (default: label)"
    )
    group.add_argument(
        "--file-format",
        choices=["csv", "tsv", "jsonl", "tfrecord", "conll"],
        default=None,
        help="override the format guessed from the file suffix; NER data (--task ner) is "
        "conll (columns, the default) or jsonl (character spans) (default: from the suffix)",
    )
    group.add_argument(
        "--clean-text",
        action="store_true",
        help="strip HTML tags and entities, normalise whitespace and full-width characters "
        "(default: off)",
    )
    group.add_argument(
        "--max-examples",
        type=positive_int,
        default=None,
        metavar="N",
        help="use at most N examples per split, a seeded sample (stratified for built-in "
        "datasets; for quick runs) (default: all)",
    )
    if training:
        group.add_argument(
            "--multi-label",
            action="store_true",
            help="each row has a set of labels (separated by --label-separator) (default: off)",
        )
        group.add_argument(
            "--label-separator", default=",", help="separator of multi-labels (default: ,)"
        )


def _add_source(parser: argparse.ArgumentParser, *, required: bool) -> None:
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("--dataset", help="a built-in dataset (see `tfbert datasets`)")
    source.add_argument(
        "--train-file", type=Path, help="training data: .csv, .tsv, .jsonl or .tfrecord"
    )


def add_data_sources(parser: argparse.ArgumentParser, validation_use: str) -> None:
    """--dataset or --train-file, and --validation-file (`validation_use`: what the command
    does with the validation data), then the data flags (`add_data_arguments`)."""
    _add_source(parser, required=False)
    parser.add_argument(
        "--validation-file",
        type=Path,
        help=f"validation data {validation_use} (default: the stratified 10%% of the "
        "training data that `tfbert train` holds out)",
    )
    add_data_arguments(parser, training=False)


def add_training_sources(parser: argparse.ArgumentParser) -> None:
    """--dataset or --train-file (one of them required) and --validation-file, for a command
    that trains on them (`tfbert train`, `distill`); the data flags follow separately."""
    _add_source(parser, required=True)
    parser.add_argument(
        "--validation-file",
        type=Path,
        help="validation data (default: a stratified 10%% of the training data)",
    )


def add_schedule(group: Any, defaults: dict[str, Any]) -> None:
    """--warmup-fraction and --weight-decay (`defaults`: the command's config defaults)."""
    group.add_argument(
        "--warmup-fraction",
        type=fraction,
        default=defaults["warmup_fraction"],
        help="share of the updates that warm the learning rate up "
        f"(default: {defaults['warmup_fraction']})",
    )
    group.add_argument(
        "--weight-decay",
        type=non_negative_float,
        default=defaults["weight_decay"],
        help=f"AdamW weight decay (default: {defaults['weight_decay']})",
    )


def add_backup_every(group: Any, default: int) -> None:
    """--backup-every: how often a resumable run saves the backup it resumes from."""
    group.add_argument(
        "--backup-every",
        type=positive_int,
        default=default,
        metavar="STEPS",
        help="save a backup every STEPS updates; a killed run resumes from it when the same "
        f"command is run again (default: {default})",
    )


def add_augmentation(group: Any, defaults: dict[str, Any], copies_help: str) -> None:
    """--augment-copies (`copies_help`: what they are for, before the default) and
    --augment-rate (`tfbert.data.augment`)."""
    group.add_argument(
        "--augment-copies",
        type=non_negative_int,
        default=defaults["augment_copies"],
        help=help_default(copies_help, defaults["augment_copies"]),
    )
    group.add_argument(
        "--augment-rate",
        type=positive_float,
        default=defaults["augment_rate"],
        help=f"share of words/characters each edit touches (default: {defaults['augment_rate']})",
    )


def add_run_outputs(
    parser: argparse.ArgumentParser, *, output: str, baseline: str, baseline_default: bool
) -> None:
    """--output-dir (`output`: what goes there), --baseline/--no-baseline (`baseline`: what it
    does, before its default) and --overwrite, for a run that marks its output directory
    (`tfbert.training.run.create_output_dir`)."""
    parser.add_argument("--output-dir", type=Path, required=True, help=output)
    parser.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=baseline_default,
        help=help_default(baseline, baseline_default),
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the outputs of an earlier run in --output-dir (only a directory tfbert "
        "created; files tfbert did not write stay) (default: off)",
    )


def add_inference_precision(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="float32",
        help="precision of the matmuls (Dense weights and attention): bfloat16 is faster on "
        "CPUs with AVX-512 BF16, with slightly different probabilities (default: float32)",
    )


def check_columns(args: argparse.Namespace) -> None:
    """Refuses the same column as text, text pair and label."""
    from tfbert.training.run import check_columns as refuse_shared_columns

    flags = ("--text-column", "--text-pair-column", "--label-column")
    refuse_shared_columns({flag: getattr(args, flag[2:].replace("-", "_"), None) for flag in flags})


# ----- helpers ---------------------------------------------------------------------------------
def say(message: str) -> None:
    """A progress message: on stderr, so that stdout carries only results."""
    print(message, file=sys.stderr, flush=True)


def need_tensorflow() -> None:
    """Imports TensorFlow (quietly) for the commands that need it."""
    from tfbert._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()


def input_file(path: Path, flag: str) -> Path:
    """`path` if it is a readable file; else a one-line error naming `flag`."""
    if path.is_dir():
        raise DataError(f"{flag} {path} is a directory; give a file.")
    if not path.is_file():
        raise DataError(f"no such file: {path} ({flag})")
    return path


def output_dir(path: Path, flag: str) -> Path:
    """`path` if it can be a directory to write into; else a one-line error naming `flag`."""
    if path.exists() and not path.is_dir():
        raise TfbertError(f"{flag} {path} is a file; give a directory.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise TfbertError(f"{flag} {path}: {parent} is a file, not a directory.")
            break
    return path


def new_model_dir(path: Path, flag: str) -> Path:
    """`output_dir`, refusing a directory that already holds a model (its config.json)."""
    output_dir(path, flag)
    if (path / "config.json").exists():
        raise TfbertError(
            f"{flag} {path} already holds a model (config.json); give a new directory."
        )
    return path


def check_model_dir(path: Path) -> None:
    """A one-line error for a model directory whose config.json cannot describe a model."""
    config = path / "config.json"
    if not config.is_file():
        return  # the loader explains what is missing
    try:
        description = json.loads(config.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{config} is not valid JSON ({error}); re-save the model.") from None
    if not isinstance(description, dict):
        raise ModelFileError(
            f"{config} is not a JSON object; it is not a tfbert model's config.json."
        )
    if "members" in description:
        return  # a `tfbert ensemble` directory: its members are checked when loaded
    if "tokenizer" not in description:
        raise ModelFileError(
            f"{config} has no 'tokenizer' entry: it is not a model written by tfbert "
            "(`tfbert train`); train one, or start from it with `tfbert train --init-from`."
        )


def trained_model_dir(path: Path, flag: str = "--model") -> Path:
    """`path` if it holds a model written by `tfbert train`; else a one-line error."""
    if not (path / "config.json").is_file():
        raise TfbertError(
            f"{flag} {path} holds no model (config.json); give a `tfbert train` output directory."
        )
    check_model_dir(path)
    return path


def check_data_sources(args: argparse.Namespace) -> None:
    """Refuses missing --train-file / --validation-file and a validation file beside
    --dataset (which brings its own validation split)."""
    for flag in ("train_file", "validation_file"):
        if getattr(args, flag) is not None:
            input_file(getattr(args, flag), f"--{flag.replace('_', '-')}")
    if args.dataset is not None and args.validation_file is not None:
        raise TfbertError(
            "--dataset brings its own validation split; drop --validation-file, or use "
            "--train-file."
        )


def is_tagger(path: Path) -> bool:
    """Whether `path` holds a NER model (`tfbert train --task ner`): a model directory whose
    config.json says so, or an export whose model info does (read without TensorFlow)."""
    from tfbert.contract import (
        ASSETS_EXTRA,
        CONFIG_FILE,
        MODEL_INFO_FILE,
        TOKEN_CLASSIFIER_FORMAT,
        TOKEN_CLASSIFIER_TASK,
    )

    def read(file: Path) -> dict[str, Any]:
        try:
            value = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return {}
        return value if isinstance(value, dict) else {}

    if (path / CONFIG_FILE).is_file():
        return read(path / CONFIG_FILE).get("format") == TOKEN_CLASSIFIER_FORMAT
    versions = [path] if (path / "saved_model.pb").is_file() else []
    if not versions and path.is_dir():
        versions = sorted(
            (p for p in path.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )
    if not versions:
        return False
    info = read(versions[-1] / ASSETS_EXTRA / MODEL_INFO_FILE)
    return info.get("task") == TOKEN_CLASSIFIER_TASK


def load_for_inference(path: Path, precision: str) -> Any:
    """A trained classifier from a `tfbert train` directory, at `precision` (or the ensemble
    in a `tfbert ensemble` directory, or the NER model of a `tfbert train --task ner` one)."""
    check_model_dir(path)
    need_tensorflow()
    if is_tagger(path):
        from tfbert.tasks.token_classifier import TokenClassifier

        tagger = TokenClassifier.load(path)
        return tagger if precision == "float32" else tagger.for_inference(precision)
    from tfbert.tasks.ensemble import EnsembleClassifier, read_ensemble_config

    if read_ensemble_config(path) is not None:
        if precision != "float32":
            raise TfbertError(
                f"{path} is an ensemble, which runs in float32; drop --precision {precision}."
            )
        return EnsembleClassifier.load(path)
    from tfbert.tasks.classifier import BertClassifier

    classifier = BertClassifier.from_pretrained(path)
    return classifier if precision == "float32" else classifier.for_inference(precision)


def load_labelled(
    args: argparse.Namespace, path: Path, *, multi_label: bool = False, require_labels: bool = True
) -> Any:
    from tfbert.data import read_examples

    return read_examples(
        path,
        text_column=args.text_column,
        text_pair_column=args.text_pair_column,
        label_column=args.label_column,
        multi_label=multi_label,
        label_separator=getattr(args, "label_separator", ","),
        file_format=args.file_format,
        clean=args.clean_text,
        require_labels=require_labels,
    )


def sample(data: Any, limit: int | None, seed: int) -> Any:
    if limit is None or len(data) <= limit:
        return data
    import numpy as np

    return data.subset(np.random.default_rng(seed).permutation(len(data))[:limit].tolist())


def print_report(report: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.format_table())
