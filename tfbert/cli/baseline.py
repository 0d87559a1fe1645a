"""`tfbert baseline`: fit the TF-IDF + linear model baseline; report it like `tfbert evaluate`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.errors import TfbertError

REPORT_DIR = "evaluation"


def add_parser(commands: Any) -> None:
    baseline = commands.add_parser(
        "baseline",
        help="fit the TF-IDF + linear model baseline (seconds) and report it",
        description="TF-IDF (word 1-2-grams; character 1-3-grams for Chinese) with "
        "LogisticRegression, LinearSVC or ComplementNB, chosen on the validation split, "
        "scored on the test split with the same report as `tfbert evaluate`.",
    )
    source = baseline.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a built-in dataset (see `tfbert datasets`)")
    source.add_argument("--train-file", type=Path, help="training data: .csv, .tsv or .jsonl")
    baseline.add_argument(
        "--validation-file",
        type=Path,
        help="validation data for the search (default: a stratified 10%% of the training data)",
    )
    baseline.add_argument(
        "--test-file", type=Path, help="labelled data to report on (default: none)"
    )
    common.add_data_arguments(baseline, training=False)
    baseline.add_argument(
        "--chinese",
        choices=["characters", "jieba"],
        default="characters",
        help="terms of Chinese text: character 1-3-grams, or jieba words and their 1-2-grams "
        "(needs the jieba package; such a model cannot be exported) (default: characters)",
    )
    baseline.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="save the fitted model here, with the report JSON and plots in its evaluation/ "
        "(default: save nothing)",
    )
    baseline.add_argument(
        "--export-dir",
        type=Path,
        default=None,
        help="also export a SavedModel serving raw strings to <dir>/<version> (default: none)",
    )
    baseline.add_argument(
        "--json", action="store_true", help="print the report as JSON (default: a table)"
    )
    baseline.set_defaults(handler=cmd_baseline)


def cmd_baseline(args: argparse.Namespace) -> int:
    # Every check before any work or writing.
    common.check_columns(args)
    if args.dataset is None:
        common.input_file(args.train_file, "--train-file")
    elif args.validation_file is not None or args.test_file is not None:
        raise TfbertError(
            "--dataset brings its own validation and test splits; drop --validation-file and "
            "--test-file, or train on --train-file."
        )
    for flag in ("validation_file", "test_file"):
        if getattr(args, flag) is not None:
            common.input_file(getattr(args, flag), f"--{flag.replace('_', '-')}")
    if args.output_dir is not None:
        common.new_model_dir(args.output_dir, "--output-dir")
    if args.export_dir is not None:
        common.output_dir(args.export_dir, "--export-dir")
    if args.chinese == "jieba" and args.export_dir is not None:
        raise TfbertError(
            "--chinese jieba models cannot be exported (jieba runs in Python, not in the "
            "graph); drop --export-dir or use --chinese characters."
        )

    from tfbert.data import LabelVocabulary, load_dataset, train_validation_split
    from tfbert.tasks.tfidf import TfidfClassifier

    name = args.dataset
    if args.dataset:
        splits = load_dataset(args.dataset, max_examples_per_split=args.max_examples)
        train, validation, test = splits.train, splits.validation, splits.test
        labels = list(splits.label_names)
        common.say(f"Dataset {splits.name}: {len(train):,} train / {len(validation):,} "
                   f"validation / {len(test):,} test.")  # fmt: skip
    else:
        train = common.sample(common.load_labelled(args, args.train_file), args.max_examples, 13)
        labels = LabelVocabulary.from_labels(train.labels).names
        if args.validation_file is not None:
            validation = common.sample(
                common.load_labelled(args, args.validation_file), args.max_examples, 13
            )
        else:
            train, validation = train_validation_split(train, validation_fraction=0.1, seed=13)
        test = None
        if args.test_file is not None:
            test = common.sample(common.load_labelled(args, args.test_file), args.max_examples, 13)
            name = args.test_file.stem
        common.say(f"Data: {len(train):,} train / {len(validation):,} validation"
                   + (f" / {len(test):,} test" if test is not None else "")
                   + f" examples, {len(labels)} labels.")  # fmt: skip

    common.say("Searching on the validation split:")
    started = time.perf_counter()
    model = TfidfClassifier.fit(
        train, validation, chinese=args.chinese, labels=labels, say=common.say
    )
    seconds = time.perf_counter() - started
    if not args.json:
        print(f"Chosen: {model.description()} ({seconds:.1f} s)")

    report = None
    if test is not None:
        from tfbert.evaluation import evaluate_classifier

        report = evaluate_classifier(model, test)
        report.extra["train_seconds"] = round(seconds, 3)
    if args.output_dir is not None:
        model.save_pretrained(args.output_dir)
        if report is not None:
            _write_report(report, args.output_dir / REPORT_DIR, name, args.dataset)
    exported = None
    if args.export_dir is not None:
        common.need_tensorflow()
        exported = model.export(args.export_dir)

    if args.json:
        payload = {"baseline": model.description(), "settings": model.settings}
        if report is not None:
            payload["report"] = report.to_dict()
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        if report is not None:
            print(f"\nTest ({len(test):,} examples):")
            common.print_report(report, False)
        if args.output_dir is not None:
            print(f"\nSaved the model to {args.output_dir}"
                  + (f", the report and plots to {args.output_dir / REPORT_DIR}/"
                     if report is not None else "") + ".")  # fmt: skip
        if exported is not None:
            print(f"Exported the SavedModel to {exported}.")
    return 0


def _write_report(report: Any, directory: Path, stem: str, dataset: str | None) -> None:
    from tfbert.evaluation import plot_confusion_matrix, plot_per_class

    stem = f"{stem}_test" if dataset else stem
    split = "test" if dataset else None
    where = dataset or stem
    report.to_json(directory / f"{stem}.json")
    plot_confusion_matrix(
        report, directory / f"{stem}_confusion_matrix.png", dataset=where, split=split
    )
    plot_per_class(report, directory / f"{stem}_per_class.png", dataset=where, split=split)
