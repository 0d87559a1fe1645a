"""`tfbert ensemble`: combine a trained model with the TF-IDF baseline, weighted on validation.

A thin layer over `tfbert.tasks.ensemble.EnsembleClassifier`: loads the model, fits (or loads)
the baseline, fits the weight on the validation split, prints the three validation scores and
the verdict, saves the ensemble and, when asked, exports it as one SavedModel.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.errors import DataError, TfbertError

TRAIN_ARGS = "train_args.json"  # what `tfbert train` records of its run (training/run.py)


def add_parser(commands: Any) -> None:
    ensemble = commands.add_parser(
        "ensemble",
        help="combine a trained model with the TF-IDF baseline, weights fitted on validation",
        description="Combines the probabilities of a `tfbert train` model and of the TF-IDF + "
        "linear model baseline as a weighted geometric mean (a softmax over their weighted "
        "log-probabilities), with the two weights that give the lowest log-loss on the "
        "validation split. Prints the "
        "validation scores of both members and of the ensemble, says whether the ensemble "
        "beats both, saves it, and can export it as one SavedModel serving raw strings. "
        "Without --dataset or --train-file, the data is the model's own training run's "
        f"(its {TRAIN_ARGS}).",
    )
    ensemble.add_argument(
        "--model", type=Path, required=True, help="a `tfbert train` output directory"
    )
    ensemble.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a fitted TF-IDF baseline (`tfbert baseline --output-dir`) (default: fit one on "
        "the training split)",
    )
    common.add_data_sources(ensemble, "the weight is fitted on")
    ensemble.add_argument(
        "--chinese",
        choices=["characters", "jieba"],
        default="characters",
        help="terms of Chinese text for a baseline fitted here: character 1-3-grams, or jieba "
        "words (needs jieba; such an ensemble cannot be exported) (default: characters)",
    )
    ensemble.add_argument(
        "--output-dir", type=Path, required=True, help="where to save the ensemble (a new dir)"
    )
    ensemble.add_argument(
        "--export-dir",
        "--export",
        type=Path,
        default=None,
        help="also export one SavedModel serving raw strings to <dir>/<version>, when the "
        "ensemble beats both members on validation (default: none)",
    )
    ensemble.add_argument(
        "--always-export",
        action="store_true",
        help="export even when the ensemble does not beat both members (default: off)",
    )
    ensemble.add_argument(
        "--batch-size", type=common.positive_int, default=64, help="(default: 64)"
    )
    ensemble.add_argument(
        "--json", action="store_true", help="print the result as JSON (default: a table)"
    )
    ensemble.set_defaults(handler=cmd_ensemble)


def cmd_ensemble(args: argparse.Namespace) -> int:
    # Every check before any work or writing.
    common.check_columns(args)
    common.trained_model_dir(args.model)
    if args.baseline is not None and not (args.baseline / "config.json").is_file():
        raise TfbertError(
            f"--baseline {args.baseline} holds no model (config.json); give a directory "
            "written by `tfbert baseline --output-dir`, or leave --baseline out to fit one."
        )
    common.check_data_sources(args)
    common.new_model_dir(args.output_dir, "--output-dir")
    if args.export_dir is not None:
        common.output_dir(args.export_dir, "--export-dir")
        if args.chinese == "jieba" and args.baseline is None:
            raise TfbertError(
                "--chinese jieba baselines cannot be exported (jieba runs in Python, not in "
                "the graph); drop --export-dir or use --chinese characters."
            )
    if args.always_export and args.export_dir is None:
        raise TfbertError("--always-export needs --export-dir.")
    run_config = _run_config(args)

    common.need_tensorflow()
    from tfbert.tasks.classifier import TextClassifier
    from tfbert.tasks.ensemble import EnsembleClassifier
    from tfbert.tasks.tfidf import TfidfClassifier
    from tfbert.training.run import load_run_data

    model = TextClassifier.load(args.model)
    baseline = TfidfClassifier.load(args.baseline) if args.baseline is not None else None
    train, validation, _ = load_run_data(run_config, say=common.say)
    ensemble = EnsembleClassifier.fit(
        model,
        validation,
        baseline=baseline,
        train=train,
        chinese=args.chinese,
        batch_size=args.batch_size,
        say=common.say,
    )
    ensemble.save_pretrained(args.output_dir)
    exported = None
    if args.export_dir is not None and (ensemble.beats_both or args.always_export):
        exported = ensemble.export(args.export_dir)

    if args.json:
        payload = {
            "ensemble": ensemble.description(),
            "model_weight": ensemble.model_weight,
            "baseline_weight": ensemble.baseline_weight,
            "baseline": ensemble.baseline.description(),
            "validation": ensemble.scores,
            "beats_both": ensemble.beats_both,
            "better_member": ensemble.better_member,
            "verdict": ensemble.verdict(),
            "output_dir": str(args.output_dir),
            "export": None if exported is None else str(exported),
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    print(f"Baseline: {ensemble.baseline.description()}")
    print(f"Ensemble: {ensemble.description()}\n")
    print(ensemble.format_scores())
    print(f"\n{ensemble.verdict()}")
    print(f"Saved the ensemble to {args.output_dir}.")
    if exported is not None:
        print(f"Exported the SavedModel to {exported}.")
    elif args.export_dir is not None:
        print(
            "Not exported: the ensemble does not beat both members (--always-export exports "
            "it anyway; `tfbert export --model DIR` or `tfbert baseline --export-dir` exports "
            "a member)."
        )
    return 0


def _run_config(args: argparse.Namespace) -> Any:
    """The training run's data settings: from the options, else from the model's record."""
    from tfbert.training.run import DataSources, RunConfig

    if args.dataset is not None or args.train_file is not None:
        sources = {f.name: getattr(args, f.name) for f in dataclasses.fields(DataSources)}
        return RunConfig(output_dir=args.output_dir, **sources)
    if args.validation_file is not None:
        raise TfbertError("--validation-file needs --train-file (or give --dataset).")
    path = args.model / TRAIN_ARGS
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TfbertError(
            f"{args.model} does not record its training data ({TRAIN_ARGS}); give --dataset "
            "or --train-file (and --validation-file)."
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise TfbertError(
            f"{path} is not valid JSON ({error}); give --dataset or --train-file."
        ) from None
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    config = RunConfig(**{k: v for k, v in recorded.items() if k in fields})
    for name in ("train_file", "validation_file"):
        file = getattr(config, name)
        if file is not None and not Path(file).is_file():
            raise DataError(
                f"{args.model} was trained on {file}, which is not found from here; give "
                "--train-file (and --validation-file) or --dataset."
            )
    if args.max_examples is not None:
        config.max_examples = args.max_examples
    if config.multi_label or config.problem_type == "multilabel":
        raise TfbertError(
            "the model is a multilabel classifier; the ensemble with the TF-IDF baseline needs "
            "a binary or multiclass one."
        )
    return config
