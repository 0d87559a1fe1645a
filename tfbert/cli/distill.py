"""`tfbert distill`: the options of `tfbert.training.distill.DistillConfig`, then one call to
`distill`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.cli.common import (
    fraction,
    non_negative_float,
    positive_float,
    positive_int,
)
from tfbert.config import PRESETS
from tfbert.evaluation.baseline import BASELINE_DIR
from tfbert.training import distill as run

DEFAULTS = {f.name: f.default for f in dataclasses.fields(run.DistillConfig)}


def add_parser(commands: Any) -> None:
    d = DEFAULTS
    parser = commands.add_parser(
        "distill",
        help="train a smaller, faster model on a trained classifier's (or NER model's) soft labels",
        description="Knowledge distillation (Hinton et al. 2015): a student learns from a "
        "trained classifier (--teacher, the --output-dir of `tfbert train`) on the training "
        "texts, their labels and the teacher's softened probabilities, plus unlabelled or "
        "augmented texts the teacher labels. The student keeps some of the teacher's layers "
        "(--student-layers) or is a preset size from scratch (--student-preset); it is saved "
        "as an ordinary model directory, with the student, the teacher and TF-IDF compared on "
        "the validation split. A NER teacher (`tfbert train --task ner`) is distilled on its "
        "NER data (--dataset conll2003|msra or CoNLL/JSONL files) into a smaller tagger.",
    )
    parser.add_argument(
        "--teacher",
        type=Path,
        required=True,
        help="the trained classifier's (or NER model's) model directory",
    )
    common.add_training_sources(parser)
    common.add_data_arguments(parser, training=False)
    student = parser.add_argument_group("student")
    size = student.add_mutually_exclusive_group(required=True)
    size.add_argument(
        "--student-layers",
        type=positive_int,
        help="keep this many of the teacher's layers, spread evenly with the top one (3 of 6: "
        "layers 2, 4 and 6), with its embeddings, pooler and head",
    )
    size.add_argument(
        "--student-preset",
        choices=list(PRESETS),
        help="a BERT of this size from scratch on the teacher's vocabulary",
    )
    method = parser.add_argument_group("distillation")
    method.add_argument(
        "--temperature",
        type=positive_float,
        default=d["temperature"],
        help="softens the teacher's and the student's probabilities; the soft loss is scaled "
        f"by its square (default: {d['temperature']})",
    )
    method.add_argument(
        "--alpha",
        type=fraction,
        default=d["alpha"],
        help="weight of the soft (teacher) loss; 1 - alpha weighs the hard labels "
        f"(default: {d['alpha']})",
    )
    method.add_argument(
        "--hidden-weight",
        type=non_negative_float,
        default=d["hidden_weight"],
        help="weight of matching the teacher's hidden states layer by layer (TinyBERT; a "
        f"learned projection when widths differ); 0 is off (default: {d['hidden_weight']})",
    )
    method.add_argument(
        "--unlabelled-file",
        type=Path,
        default=None,
        help="more texts for the teacher to label: .txt with one text per line, or a data "
        "file read with --text-column (default: none)",
    )
    common.add_augmentation(
        method, d, "add this many edited copies of every training text, labelled by the teacher"
    )
    fit = parser.add_argument_group("training")
    fit.add_argument(
        "--epochs",
        type=positive_int,
        default=d["epochs"],
        help=f"passes over the transfer set (default: {d['epochs']})",
    )
    fit.add_argument(
        "--batch-size",
        type=positive_int,
        default=d["batch_size"],
        help=f"(default: {d['batch_size']})",
    )
    fit.add_argument(
        "--learning-rate",
        type=positive_float,
        default=None,
        help=f"peak learning rate (default: {run.PRETRAINED_LEARNING_RATE:g} from the "
        f"teacher's layers, {run.FROM_SCRATCH_LEARNING_RATE:g} from a preset)",
    )
    common.add_schedule(fit, d)
    fit.add_argument("--seed", type=int, default=d["seed"], help=f"(default: {d['seed']})")
    common.add_backup_every(fit, d["backup_every"])
    common.add_run_outputs(
        parser,
        output="where the student and its reports go",
        baseline="fit the TF-IDF baseline on the same split and report it beside the student and "
        f"the teacher (saved in <output-dir>/{BASELINE_DIR})",
        baseline_default=d["baseline"],
    )
    parser.set_defaults(handler=cmd_distill)


def cmd_distill(args: argparse.Namespace) -> int:
    names = {f.name for f in dataclasses.fields(run.DistillConfig)}
    config = run.DistillConfig(**{k: v for k, v in vars(args).items() if k in names})
    config.validate()  # before TensorFlow loads: mistakes are reported at once
    common.check_model_dir(args.teacher)
    result = run.distill(args.teacher, config, say=common.say)
    unit = "sentences" if result.comparison["f1"].startswith("entity") else "examples"
    print(f"\nValidation ({result.comparison['examples']:,} {unit}):")
    print(result.report.format_table())
    print()
    print(run.format_comparison(result.comparison))
    print(f"\nSaved the student to {result.output_dir} ({result.seconds:.0f} s).")
    return 0
