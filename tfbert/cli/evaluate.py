"""`tfbert evaluate`: score a trained model on labelled data; write the report and its plot."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.cli.common import positive_int


def add_parser(commands: Any) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="score a trained model on labelled data",
        description="Accuracy, per-class precision/recall/F1, macro and "
        "weighted F1 and the confusion matrix.",
    )
    evaluate.add_argument(
        "--model", type=Path, required=True, help="a `tfbert train` output directory"
    )
    target = evaluate.add_mutually_exclusive_group(required=True)
    target.add_argument("--dataset", help="a built-in dataset")
    target.add_argument("--test-file", type=Path, help="labelled data to score")
    evaluate.add_argument(
        "--split",
        default="test",
        choices=["train", "validation", "test"],
        help="split of --dataset (default: test)",
    )
    common.add_data_arguments(evaluate, training=False)
    evaluate.add_argument("--batch-size", type=positive_int, default=64, help="(default: 64)")
    evaluate.add_argument(
        "--report",
        type=Path,
        default=None,
        help="write the report JSON and plots to this directory (default: <model>/evaluation)",
    )
    evaluate.add_argument(
        "--json", action="store_true", help="print the report as JSON (default: a table)"
    )
    common.add_inference_precision(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    common.check_columns(args)
    report_dir = common.output_dir(args.report or args.model / "evaluation", "--report")
    if args.test_file is not None:
        common.input_file(args.test_file, "--test-file")
    common.check_model_dir(args.model)
    common.need_tensorflow()
    from tfbert.data import load_dataset
    from tfbert.evaluation import evaluate_classifier, plot_confusion_matrix

    classifier = common.load_for_inference(args.model, args.precision)
    if args.dataset:
        data = load_dataset(args.dataset, max_examples_per_split=args.max_examples).split(
            args.split
        )
        name = f"{args.dataset} {args.split}"
    else:
        data = common.sample(
            common.load_labelled(
                args, args.test_file, multi_label=classifier.problem_type == "multilabel"
            ),
            args.max_examples,
            13,
        )
        name = str(args.test_file)
    started = time.time()
    report = evaluate_classifier(
        classifier, data, batch_size=args.batch_size, verbose=1 if sys.stderr.isatty() else 0
    )
    seconds = time.time() - started
    stem = f"{args.dataset}_{args.split}" if args.dataset else Path(args.test_file).stem
    report.to_json(report_dir / f"{stem}.json")
    plot_confusion_matrix(report, report_dir / f"{stem}_confusion_matrix.png")
    if not args.json:
        print(f"{name}: {len(data):,} examples, {len(data) / seconds:,.0f} examples/s")
    common.print_report(report, args.json)
    if not args.json:
        print(f"\nReport and confusion matrix written to {report_dir}/")
    return 0
