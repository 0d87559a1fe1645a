"""`tfbert evaluate`: score a trained model on labelled data beside the TF-IDF baseline; write the
report and its plots."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.cli.common import positive_int
from tfbert.errors import TfbertError


def add_parser(commands: Any) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="score a trained model on labelled data",
        description="Accuracy, per-class precision/recall/F1, macro and "
        "weighted F1 and the confusion matrix, beside the TF-IDF baseline: the one `tfbert "
        "train` saved in the model directory, or one fitted on --dataset's train split. A NER "
        "model (`tfbert train --task ner`) gets entity-level scores (exact span and type) "
        "on a NER dataset or a --test-file of CoNLL columns or JSONL spans.",
    )
    evaluate.add_argument(
        "--model",
        type=Path,
        required=True,
        help="a `tfbert train` output directory, or an export (a SavedModel version directory "
        "or an export directory, whose newest version is used)",
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
        help="write the report JSON and plots to this directory (default: <model>/evaluation; "
        "for an export, <export directory>/evaluation, which TF Serving ignores)",
    )
    evaluate.add_argument(
        "--json", action="store_true", help="print the report as JSON (default: a table)"
    )
    evaluate.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="score the TF-IDF baseline beside the model: the model directory's saved one, or, "
        "for an export or a model without one, one fitted on --dataset's train split "
        "(seconds); --no-baseline skips it (default: True)",
    )
    common.add_inference_precision(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    common.check_columns(args)
    default_dir = args.model / "evaluation"
    if is_export(args.model) and (args.model / "saved_model.pb").is_file():
        default_dir = args.model.parent / "evaluation"  # beside the versions, not inside one
    report_dir = common.output_dir(args.report or default_dir, "--report")
    if args.test_file is not None:
        common.input_file(args.test_file, "--test-file")
    exported = is_export(args.model)
    if exported and args.precision != "float32":
        raise TfbertError(
            "--precision applies to a `tfbert train` directory; an export keeps the precision "
            "it was exported with (export again with `tfbert export --precision`)."
        )
    if not exported:
        common.check_model_dir(args.model)
    if common.is_tagger(args.model):
        return _evaluate_tagger(args, exported, report_dir)
    common.need_tensorflow()
    from tfbert.data import load_dataset
    from tfbert.evaluation import (
        ExportedClassifier,
        baseline_scores,
        evaluate_classifier,
        plot_confusion_matrix,
        plot_per_class,
    )

    if exported:
        classifier = ExportedClassifier(args.model)
    else:
        classifier = common.load_for_inference(args.model, args.precision)
    splits = None
    if args.dataset:
        splits = load_dataset(args.dataset, max_examples_per_split=args.max_examples)
        data = splits.split(args.split)
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
    # After the model's report: data the model refuses gives its one error line, nothing else.
    baseline = find_baseline(args, classifier, exported, splits, data) if args.baseline else None
    if baseline is not None:
        report.baseline = baseline_scores(baseline, data, batch_size=args.batch_size)
    stem = f"{args.dataset}_{args.split}" if args.dataset else Path(args.test_file).stem
    report.to_json(report_dir / f"{stem}.json")
    dataset, split = (
        (args.dataset, args.split) if args.dataset else (Path(args.test_file).name, None)
    )
    plot_confusion_matrix(
        report, report_dir / f"{stem}_confusion_matrix.png", dataset=dataset, split=split
    )
    plot_per_class(report, report_dir / f"{stem}_per_class.png", dataset=dataset, split=split)
    if not args.json:
        print(f"{name}: {len(data):,} examples, {len(data) / seconds:,.0f} examples/s")
    common.print_report(report, args.json)
    if not args.json:
        print(f"\nReport, confusion matrix and per-class chart written to {report_dir}/")
    return 0


def _evaluate_tagger(args: argparse.Namespace, exported: bool, report_dir: Path) -> int:
    """Entity-level scores of a NER model (directory or export) on a NER dataset's split or a
    CoNLL/JSONL file; the report JSON goes to `report_dir`."""
    from tfbert.training.run import check_ner_dataset

    if args.dataset:
        check_ner_dataset(args.dataset)
    common.need_tensorflow()
    from tfbert.data.ner import load_ner_dataset
    from tfbert.evaluation import plot_entity_scores
    from tfbert.evaluation.entities import ExportedTagger, evaluate_tagger
    from tfbert.training.ner_run import read_tagged_file

    if exported:
        tagger = ExportedTagger(args.model)
    else:
        tagger = common.load_for_inference(args.model, args.precision)
    if args.dataset:
        splits = load_ner_dataset(
            args.dataset, scheme=tagger.scheme, max_sentences_per_split=args.max_examples
        )
        data, name = splits[args.split], f"{args.dataset} {args.split}"
    else:
        data = read_tagged_file(args.test_file, scheme=tagger.scheme, file_format=args.file_format)
        if args.max_examples is not None:
            data = data.sample(args.max_examples, 13)
        name = str(args.test_file)
    started = time.time()
    report = evaluate_tagger(tagger, data, batch_size=args.batch_size)
    seconds = time.time() - started
    stem = f"{args.dataset}_{args.split}" if args.dataset else Path(args.test_file).stem
    report.to_json(report_dir / f"{stem}.json")
    plot_entity_scores(
        report, report_dir / f"{stem}_entity_scores.png", dataset=args.dataset or name,
        split=args.split if args.dataset else None,
    )  # fmt: skip
    if not args.json:
        print(f"{name}: {len(data):,} sentences, {len(data) / seconds:,.0f} sentences/s")
    common.print_report(report, args.json)
    if not args.json:
        print(f"\nReport and entity plot written to {report_dir / (stem + '.json')} and "
              f"{report_dir / (stem + '_entity_scores.png')}")  # fmt: skip
    return 0


def find_baseline(
    args: argparse.Namespace, classifier: Any, exported: bool, splits: Any, data: Any
) -> Any:
    """The TF-IDF baseline to score beside `classifier`: the model directory's saved one, else
    one fitted on --dataset's train split; None (with one line saying why) when there is none."""
    from tfbert.errors import ModelFileError
    from tfbert.evaluation.baseline import (
        BASELINE_DIR,
        fit_baseline,
        load_baseline,
        why_no_baseline,
    )

    reason = why_no_baseline(data, classifier.problem_type)
    if reason is not None:
        common.say(reason)
        return None
    if not exported:
        try:
            saved = load_baseline(args.model)
        except ModelFileError as error:
            saved = None
            common.say(f"Not using the saved TF-IDF baseline: {error}")
        if saved is not None:
            common.say(f"TF-IDF baseline: the one fitted at training ({args.model / BASELINE_DIR}"
                       f"): {saved.description()}.")  # fmt: skip
            return saved
    if splits is not None:
        return fit_baseline(
            splits.train,
            splits.validation,
            labels=classifier.labels,
            problem_type=classifier.problem_type,
            say=common.say,
        )
    what = (
        "an export does not keep one"
        if exported
        else f"{args.model} has none saved (trained with --no-baseline or an older tfbert)"
    )
    common.say(
        f"No TF-IDF baseline: {what}, and --test-file does not give the training split to fit "
        "one on; evaluate on --dataset, or the model directory `tfbert train` wrote."
    )
    return None


def is_export(path: Path) -> bool:
    """Whether `path` is a SavedModel version or an export directory holding versions."""
    if (path / "saved_model.pb").is_file():
        return True
    if (path / "config.json").is_file() or not path.is_dir():
        return False
    return any(p.name.isdigit() and (p / "saved_model.pb").is_file() for p in path.iterdir())
