"""The `tfbert` command line: train, evaluate, predict, export, vocab, datasets.

Every subcommand is a thin layer over the Python API. User mistakes (a missing file, an unknown
label, an existing output directory, ...) print one `error:` line and exit with status 2; set
TFBERT_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

EXIT_USAGE = 2
PRECISION_CHOICES = ("float32", "bfloat16", "float16")  # tfbert.training.precision's names


# ----- argument parsing ------------------------------------------------------------------------
def _add_data_arguments(parser: argparse.ArgumentParser, *, training: bool) -> None:
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
        choices=["csv", "tsv", "jsonl", "tfrecord"],
        default=None,
        help="override the format guessed from the file suffix",
    )
    group.add_argument(
        "--clean-text",
        action="store_true",
        help="strip HTML tags and entities, normalise whitespace and full-width characters",
    )
    group.add_argument(
        "--max-examples",
        type=int,
        default=None,
        help="use at most N examples per split, a seeded sample (stratified for built-in "
        "datasets; for quick runs)",
    )
    if training:
        group.add_argument(
            "--multi-label",
            action="store_true",
            help="each row has a set of labels (separated by --label-separator)",
        )
        group.add_argument(
            "--label-separator", default=",", help="separator of multi-labels (default: ,)"
        )


def _dropout_rate(text: str) -> float:
    """An argparse type: a dropout probability in [0, 1)."""
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate < 1.0:
        raise argparse.ArgumentTypeError(f"dropout must be a number in [0, 1), got {text!r}")
    return rate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfbert",
        description="BERT text classifiers on TensorFlow: train, evaluate, export, predict.",
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # train
    train = commands.add_parser(
        "train",
        help="fine-tune a classifier on a built-in dataset or your own files",
        description="Fine-tune a BERT classifier. From scratch (a preset size and a learned or "
        "given vocabulary) or from pretrained weights (--init-from).",
    )
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a built-in dataset (see `tfbert datasets`)")
    source.add_argument(
        "--train-file", type=Path, help="training data: .csv, .tsv, .jsonl or .tfrecord"
    )
    train.add_argument(
        "--validation-file",
        type=Path,
        help="validation data (default: a stratified 10%% of the training data)",
    )
    _add_data_arguments(train, training=True)
    model = train.add_argument_group("model")
    init = model.add_mutually_exclusive_group()
    init.add_argument(
        "--preset",
        default=None,
        help="model size from scratch: tiny, mini, small, medium, base, large, "
        "minilm-l6 (default: tiny)",
    )
    init.add_argument(
        "--init-from",
        default=None,
        help="pretrained weights: a directory (Hugging Face, Google BERT or tfbert "
        "layout) or the name minilm-l6",
    )
    model.add_argument(
        "--dropout",
        type=_dropout_rate,
        default=None,
        help="hidden and attention dropout (default: the checkpoint's, or the preset's 0.1)",
    )
    model.add_argument(
        "--vocab",
        type=Path,
        default=None,
        help="WordPiece vocab.txt for a model from scratch (default: learn one from "
        "the training texts)",
    )
    model.add_argument(
        "--vocab-size",
        type=int,
        default=8000,
        help="size of the learned vocabulary (default: 8000)",
    )
    model.add_argument(
        "--cased", action="store_true", help="keep case and accents (default: lowercase)"
    )
    model.add_argument(
        "--max-length",
        type=int,
        default=128,
        help="tokens per example including [CLS]/[SEP] (default: 128)",
    )
    model.add_argument(
        "--truncation",
        choices=["end", "head_tail"],
        default="end",
        help="for long texts: keep the start (end) or the start and the end "
        "(head_tail; Sun et al. 2019) (default: end)",
    )
    model.add_argument(
        "--pooling",
        choices=["auto", "cls", "mean"],
        default="auto",
        help="what the classifier head reads: BERT's [CLS] pooler (cls) or the mean of the "
        "token vectors (mean); auto: the checkpoint's own pooling when it declares one "
        "(sentence-transformers models such as minilm-l6: mean), else cls",
    )
    model.add_argument(
        "--problem-type",
        choices=["auto", "binary", "multiclass", "multilabel"],
        default="auto",
        help="default: multilabel with --multi-label, else by label count",
    )
    fit = train.add_argument_group("training")
    fit.add_argument("--epochs", type=int, default=3, help="default: 3")
    fit.add_argument("--batch-size", type=int, default=32, help="global batch size (default: 32)")
    fit.add_argument(
        "--gradient-accumulation",
        type=int,
        default=1,
        metavar="N",
        help="average the gradients of N batches into one update: an effective batch of "
        "N x --batch-size; the learning-rate schedule counts updates (default: 1)",
    )
    fit.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="peak learning rate (default: 5e-5 with --init-from, 5e-4 from scratch)",
    )
    fit.add_argument("--warmup-fraction", type=float, default=0.1, help="default: 0.1")
    fit.add_argument("--weight-decay", type=float, default=0.01, help="default: 0.01")
    fit.add_argument(
        "--class-weights", action="store_true", help="weight classes inversely to their frequency"
    )
    fit.add_argument(
        "--early-stopping",
        type=int,
        default=None,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without validation improvement",
    )
    fit.add_argument("--seed", type=int, default=13, help="default: 13")
    fit.add_argument(
        "--bucket-by-length",
        action="store_true",
        help="batch texts of similar length together: batches pad to their longest text, so "
        "less compute goes to padding (batches are still shuffled; off by default until its "
        "effect on accuracy is measured, see README)",
    )
    fit.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multi-worker"],
        default="default",
        help="tf.distribute strategy: mirrored = all local GPUs (or --devices), "
        "multi-worker = the cluster in TF_CONFIG (default: default)",
    )
    fit.add_argument(
        "--backup-every",
        type=int,
        default=200,
        metavar="STEPS",
        help="save a backup every STEPS updates; a killed run resumes from it when the same "
        "command is run again (default: 200)",
    )
    fit.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="float32",
        help="compute precision: bfloat16 on CPUs with AVX-512 BF16 and on TPUs/recent GPUs, "
        "float16 (with loss scaling) on GPUs; weights stay float32 (default: float32)",
    )
    fit.add_argument(
        "--devices",
        nargs="+",
        default=None,
        help="devices for --strategy mirrored, e.g. /gpu:0 /gpu:1",
    )
    train.add_argument(
        "--output-dir",
        type=Path,
        required=True,
        help="where the trained model, logs and reports go",
    )
    train.add_argument("--overwrite", action="store_true", help="replace an existing --output-dir")
    train.set_defaults(handler=cmd_train)

    # evaluate
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
    _add_data_arguments(evaluate, training=False)
    evaluate.add_argument("--batch-size", type=int, default=64, help="default: 64")
    evaluate.add_argument(
        "--report",
        type=Path,
        default=None,
        help="write the report JSON and plots here (default: <model>/evaluation)",
    )
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_inference_precision(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    # predict
    predict = commands.add_parser(
        "predict",
        help="classify texts (arguments, --file, or stdin)",
        description="Prints the label and the probabilities of each text. Texts come from the "
        "arguments, from --file (one per line), or from standard input.",
    )
    where = predict.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--model",
        type=Path,
        help="a `tfbert train` output directory, or an export (base or version dir)",
    )
    where.add_argument(
        "--server",
        metavar="HOST:PORT",
        help="a TF Serving (or `tfbert serve`) endpoint: gRPC, usually port 8500; with --rest "
        "or an http:// URL, the REST API, usually port 8501",
    )
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    predict.add_argument("--file", type=Path, help="read texts from this file, one per line")
    predict.add_argument(
        "--model-name", default="tfbert", help="model name on --server (default: tfbert)"
    )
    predict.add_argument(
        "--rest", action="store_true", help="talk to --server over REST instead of gRPC"
    )
    predict.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds per request to --server (default: 10)",
    )
    predict.add_argument("--batch-size", type=int, default=64, help="default: 64")
    predict.add_argument("--json", action="store_true", help="print one JSON object per text")
    _add_inference_precision(predict)
    predict.set_defaults(handler=cmd_predict)

    # export
    export = commands.add_parser("export", help="write a TF Serving SavedModel (<base>/<version>/)")
    export.add_argument(
        "--model", type=Path, required=True, help="a `tfbert train` output directory"
    )
    export.add_argument("--export-dir", type=Path, required=True, help="the model base path")
    export.add_argument("--version", type=int, default=None, help="default: one above the highest")
    export.add_argument("--overwrite", action="store_true", help="replace an existing version")
    _add_inference_precision(export)
    export.set_defaults(handler=cmd_export)

    # vocab
    vocab = commands.add_parser("vocab", help="learn a WordPiece vocabulary from text")
    vocab_source = vocab.add_mutually_exclusive_group(required=True)
    vocab_source.add_argument("--dataset", help="learn from a built-in dataset's training texts")
    vocab_source.add_argument(
        "--text-file", type=Path, nargs="+", help="plain text files, one text per line"
    )
    vocab.add_argument("--vocab-size", type=int, default=8000, help="default: 8000")
    vocab.add_argument("--cased", action="store_true", help="keep case and accents")
    vocab.add_argument("--output", type=Path, required=True, help="the vocab.txt to write")
    vocab.set_defaults(handler=cmd_vocab)

    # pretrain
    pre = commands.add_parser(
        "pretrain",
        help="pretrain BERT with masked LM + next sentence prediction",
        description="Pretrain (or continue pretraining) a BERT encoder; its output directory "
        "loads into `tfbert train --init-from`.",
    )
    corpus = pre.add_mutually_exclusive_group(required=True)
    corpus.add_argument(
        "--dataset", nargs="+", help="built-in datasets whose TRAIN split texts form the corpus"
    )
    corpus.add_argument(
        "--corpus",
        help="a built-in pretraining corpus (`tfbert datasets` lists them), e.g. zh",
    )
    corpus.add_argument(
        "--text-files",
        nargs="+",
        help="corpus files/globs in BERT's format: one sentence per line, a blank "
        "line between documents",
    )
    pre_init = pre.add_mutually_exclusive_group()
    pre_init.add_argument("--preset", default=None, help="model size from scratch (default: mini)")
    pre_init.add_argument(
        "--init-from",
        default=None,
        help="continue pretraining a checkpoint (directory or minilm-l6)",
    )
    pre.add_argument(
        "--vocab", type=Path, default=None, help="vocab.txt (default: learn one from the corpus)"
    )
    pre.add_argument("--vocab-size", type=int, default=8000, help="default: 8000")
    pre.add_argument("--cased", action="store_true", help="keep case and accents")
    pre.add_argument("--max-length", type=int, default=128, help="default: 128")
    pre.add_argument("--batch-size", type=int, default=32, help="default: 32")
    pre.add_argument("--steps", type=int, default=10_000, help="optimizer updates (default: 10000)")
    pre.add_argument(
        "--steps-per-epoch",
        type=int,
        default=500,
        help="updates between logs/checkpoints (default: 500)",
    )
    pre.add_argument("--learning-rate", type=float, default=1e-4, help="default: 1e-4")
    pre.add_argument("--whole-word-masking", action="store_true", help="mask whole words")
    pre.add_argument(
        "--dropout",
        type=_dropout_rate,
        default=None,
        help="hidden and attention dropout (default: the preset's or checkpoint's; short "
        "pretraining runs often do better with 0)",
    )
    pre.add_argument("--precision", choices=PRECISION_CHOICES, default="float32")
    pre.add_argument("--seed", type=int, default=13, help="default: 13")
    pre.add_argument("--output-dir", type=Path, required=True)
    pre.add_argument("--overwrite", action="store_true", help="replace an existing --output-dir")
    pre.set_defaults(handler=cmd_pretrain)

    datasets = commands.add_parser("datasets", help="list the built-in datasets")
    datasets.set_defaults(handler=cmd_datasets)

    from tfbert.serving.server import add_serve_command

    add_serve_command(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"tfbert {version('tfbert')}"
    except PackageNotFoundError:
        return "tfbert (not installed)"


# ----- helpers ---------------------------------------------------------------------------------
def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _load_labelled(
    args: argparse.Namespace, path: Path, *, multi_label: bool = False, require_labels: bool = True
):
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


def _sample(data, limit: int | None, seed: int):
    if limit is None or len(data) <= limit:
        return data
    import numpy as np

    return data.subset(np.random.default_rng(seed).permutation(len(data))[:limit].tolist())


def _check_output_dir(path: Path, overwrite: bool) -> bool:
    """Fails early if `path` is taken; returns True when an interrupted run should resume.

    Changes nothing on disk: `_create_output_dir` does that once the inputs are known good.
    """
    if (path / "backup").is_dir() and not overwrite:
        return True
    if path.exists() and any(path.iterdir()) and not overwrite:
        from tfbert.errors import TfbertError

        raise TfbertError(
            f"output directory {path} already exists and is not empty; pass "
            "--overwrite to replace it, or choose another --output-dir."
        )
    return False


def _create_output_dir(path: Path, resume: bool) -> None:
    if resume:
        _say(f"Resuming the interrupted run in {path} from its last backup.")
        return
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def _print_report(report, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.format_table())


# ----- commands --------------------------------------------------------------------------------
def _build_classifier(
    args: argparse.Namespace,
    train,
    label_names: list[str],
    problem_type: str,
    tokenizer_options: dict,
    resume: bool,
):
    """The classifier to fine-tune (call under the strategy's scope) and its peak learning rate."""
    import keras

    from tfbert.config import BertConfig
    from tfbert.tasks.classifier import BertClassifier
    from tfbert.text.tokenizer import BertTokenizer
    from tfbert.text.vocab import learn_vocabulary, load_vocabulary, save_vocabulary

    keras.utils.set_random_seed(args.seed)
    if args.init_from:
        from tfbert.modeling.checkpoints import classifier_from_pretrained

        options = {k: v for k, v in tokenizer_options.items() if k != "lowercase"}
        classifier = classifier_from_pretrained(
            args.init_from,
            label_names,
            problem_type=problem_type,
            pooling=args.pooling,
            dropout=args.dropout,
            **options,
        )
        return classifier, args.learning_rate or 5e-5
    vocab_path = args.output_dir / "vocab.txt"
    if args.vocab:
        vocabulary = load_vocabulary(args.vocab)
    elif resume and vocab_path.is_file():
        vocabulary = load_vocabulary(vocab_path)
    else:
        _say(f"Learning a {args.vocab_size:,}-token WordPiece vocabulary from the train split...")
        vocabulary = learn_vocabulary(
            train.texts, args.vocab_size, lowercase=not args.cased, show_progress=True
        )
        save_vocabulary(vocabulary, vocab_path)
    tokenizer = BertTokenizer(vocabulary, **tokenizer_options)
    config = BertConfig.from_preset(args.preset or "tiny", vocab_size=len(vocabulary))
    if args.dropout is not None:
        config = config.with_dropout(args.dropout)
    classifier = BertClassifier(
        config,
        labels=label_names,
        tokenizer=tokenizer,
        problem_type=problem_type,
        pooling="cls" if args.pooling == "auto" else args.pooling,
    )
    return classifier, args.learning_rate or 5e-4


def cmd_train(args: argparse.Namespace) -> int:
    from tfbert.data import LabelVocabulary, load_dataset, train_validation_split
    from tfbert.evaluation import evaluate_classifier, plot_confusion_matrix, plot_training_curves
    from tfbert.training.distribute import create_strategy, is_chief, worker_directory
    from tfbert.training.fine_tune import TrainingConfig, fine_tune

    started = time.time()
    if args.gradient_accumulation < 1:
        raise ValueError(
            f"--gradient-accumulation must be at least 1, got {args.gradient_accumulation}."
        )
    # First: MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy = create_strategy(args.strategy, args.devices)
    chief = is_chief(strategy)
    # Workers other than the chief never write into --output-dir, only into a directory of
    # their own (its backups let them resume too), removed at the end.
    work_dir = worker_directory(args.output_dir, strategy)
    resume = _check_output_dir(work_dir, args.overwrite)
    multi_label = args.multi_label or args.problem_type == "multilabel"
    if args.dataset:
        splits = load_dataset(
            args.dataset, max_examples_per_split=args.max_examples, seed=args.seed
        )
        train, validation, label_names = splits.train, splits.validation, splits.label_names
        _say(f"Dataset {splits.name}: {len(train):,} train / {len(validation):,} validation.")
    else:
        train = _sample(
            _load_labelled(args, args.train_file, multi_label=multi_label),
            args.max_examples,
            args.seed,
        )
        label_names = LabelVocabulary.from_labels(train.labels, multi_label=multi_label).names
        if args.validation_file:
            validation = _sample(
                _load_labelled(args, args.validation_file, multi_label=multi_label),
                args.max_examples,
                args.seed,
            )
        else:
            train, validation = train_validation_split(
                train, validation_fraction=0.1, seed=args.seed
            )
        _say(
            f"Data: {len(train):,} train / {len(validation):,} validation examples, "
            f"{len(label_names)} labels."
        )
    # Check every validation label now, before anything is written: a rejected run must leave
    # no output directory behind that would block the corrected rerun.
    LabelVocabulary(label_names).encode(validation.labels, multi_label=multi_label)
    _create_output_dir(work_dir, resume)
    problem_type = "multilabel" if multi_label else args.problem_type
    tokenizer_options = {
        "max_length": args.max_length,
        "truncation": args.truncation,
        "pad_to": "longest",
        "lowercase": not args.cased,
    }

    if strategy.num_replicas_in_sync > 1:
        _say(
            f"Training on {strategy.num_replicas_in_sync} replicas ({args.strategy}); "
            f"global batch {args.batch_size}."
        )
    from tfbert.training.precision import set_precision

    set_precision(args.precision)
    with strategy.scope():
        classifier, learning_rate = _build_classifier(
            argparse.Namespace(**{**vars(args), "output_dir": work_dir}),
            train,
            label_names,
            problem_type,
            tokenizer_options,
            resume,
        )
    _say(
        f"Model: {classifier.count_params():,} parameters, {classifier.problem_type}, "
        f"labels {classifier.labels}."
    )

    config = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=learning_rate,
        warmup_fraction=args.warmup_fraction,
        weight_decay=args.weight_decay,
        seed=args.seed,
        class_weights=args.class_weights,
        early_stopping_patience=args.early_stopping,
        backup_every_steps=args.backup_every,
        gradient_accumulation_steps=args.gradient_accumulation,
        bucket_by_length=args.bucket_by_length,
    )
    history = fine_tune(
        classifier,
        train,
        validation,
        config=config,
        output_dir=args.output_dir,
        verbose=1 if sys.stdout.isatty() else 2,
        keep_backup=True,  # removed below, once the model directory is complete
    )
    if not chief:
        shutil.rmtree(work_dir, ignore_errors=True)
        return 0  # the chief writes the model directory and reports
    classifier.save_pretrained(args.output_dir)
    if args.strategy == "multi-worker":
        # Evaluating the distributed model would need every worker (and would shard the
        # data): evaluate a local copy, read back from the directory just written.
        from tfbert.tasks.classifier import BertClassifier

        classifier = BertClassifier.from_pretrained(args.output_dir)
    plot_training_curves(history.history, args.output_dir / "training_curves.png")
    report = evaluate_classifier(classifier, validation, batch_size=args.batch_size * 2)
    report.to_json(args.output_dir / "validation_report.json")
    plot_confusion_matrix(report, args.output_dir / "validation_confusion_matrix.png")
    (args.output_dir / "train_args.json").write_text(
        json.dumps(
            {
                k: str(v) if isinstance(v, Path) else v
                for k, v in vars(args).items()
                if k != "handler"
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    shutil.rmtree(args.output_dir / "backup", ignore_errors=True)  # complete: no resume
    print(f"\nValidation ({len(validation):,} examples):")
    print(report.format_table())
    print(f"\nSaved the model to {args.output_dir} ({time.time() - started:.0f} s).")
    return 0


def _add_inference_precision(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="float32",
        help="precision of the matmuls (Dense weights and attention): bfloat16 is about 1.5x "
        "faster on CPUs with AVX-512 BF16, with slightly different probabilities "
        "(default: float32)",
    )


def _load_for_inference(path: Path, precision: str):
    from tfbert.tasks.classifier import BertClassifier

    classifier = BertClassifier.from_pretrained(path)
    return classifier if precision == "float32" else classifier.for_inference(precision)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tfbert.data import load_dataset
    from tfbert.evaluation import evaluate_classifier, plot_confusion_matrix

    classifier = _load_for_inference(args.model, args.precision)
    if args.dataset:
        data = load_dataset(args.dataset, max_examples_per_split=args.max_examples).split(
            args.split
        )
        name = f"{args.dataset} {args.split}"
    else:
        data = _sample(
            _load_labelled(
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
    report_dir = args.report or args.model / "evaluation"
    stem = f"{args.dataset}_{args.split}" if args.dataset else Path(args.test_file).stem
    report.to_json(report_dir / f"{stem}.json")
    plot_confusion_matrix(report, report_dir / f"{stem}_confusion_matrix.png")
    if not args.json:
        print(f"{name}: {len(data):,} examples, {len(data) / seconds:,.0f} examples/s")
    _print_report(report, args.json)
    if not args.json:
        print(f"\nReport and confusion matrix written to {report_dir}/")
    return 0


def _read_texts(args: argparse.Namespace) -> list[str]:
    from tfbert.errors import DataError

    texts = list(args.texts)
    if args.file:
        try:
            texts += args.file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise DataError(f"{args.file} is not UTF-8; re-save it as UTF-8.") from None
        except FileNotFoundError:
            raise DataError(f"no such file: {args.file}") from None
    if not texts and not args.file:
        if sys.stdin.isatty():
            _say("Reading texts from standard input, one per line (Ctrl-D to end)...")
        texts = sys.stdin.read().splitlines()
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise DataError("no texts to classify: pass them as arguments, with --file, or on stdin.")
    return texts


def cmd_predict(args: argparse.Namespace) -> int:
    texts = _read_texts(args)
    if args.server:
        from tfbert.serving.client import PredictionClient

        with PredictionClient(
            args.server,
            model_name=args.model_name,
            protocol="rest" if args.rest else None,
            timeout=args.timeout,
            batch_size=args.batch_size,
        ) as client:
            result = client.predict(texts)
        labels, probabilities, names = result.labels, result.probabilities, result.label_names
    else:
        labels, probabilities, names = _predict_local(
            args.model, texts, args.batch_size, args.precision
        )
    for text, label, row in zip(texts, labels, probabilities, strict=True):
        scores = {name: round(float(p), 4) for name, p in zip(names, row, strict=True)}
        if args.json:
            print(
                json.dumps(
                    {"text": text, "label": label, "probabilities": scores}, ensure_ascii=False
                )
            )
        else:
            shown = " ".join(f"{name}={p:.3f}" for name, p in scores.items())
            print(f"{label}\t{shown}\t{text[:80]}")
    return 0


def _predict_local(path: Path, texts: list[str], batch_size: int, precision: str):
    from tfbert.export import find_version_dir, load_exported, signature_labels

    if (path / "config.json").is_file():
        classifier = _load_for_inference(path, precision)
        result = classifier.predict_texts(texts, batch_size=batch_size)
        return result["labels"], result["probabilities"], classifier.labels
    import tensorflow as tf

    version_dir = find_version_dir(path)
    predict = load_exported(version_dir).signatures["serving_default"]
    labels, probabilities = [], []
    for start in range(0, len(texts), batch_size):
        out = predict(text=tf.constant(texts[start : start + batch_size]))
        labels += [s.decode("utf-8") for s in out["label"].numpy()]
        probabilities += out["probabilities"].numpy().tolist()
    return labels, probabilities, signature_labels(version_dir)


def cmd_export(args: argparse.Namespace) -> int:
    import numpy as np

    from tfbert.export import directory_size

    classifier = _load_for_inference(args.model, args.precision)
    path = classifier.export(args.export_dir, version=args.version, overwrite=args.overwrite)
    size = directory_size(path) / 1e6
    params = sum(np.asarray(w).nbytes for w in classifier.weights) / 1e6
    print(
        f"Exported {path} ({size:.1f} MB; weights {params:.1f} MB). Serve it with TF Serving "
        f"(--model_base_path={args.export_dir.resolve()}): see serving/README.md"
    )
    return 0


def cmd_vocab(args: argparse.Namespace) -> int:
    from tfbert.data import load_dataset
    from tfbert.errors import DataError
    from tfbert.text.vocab import learn_vocabulary, save_vocabulary, unknown_token_rate

    if args.dataset:
        splits = load_dataset(args.dataset)
        texts, held_out = splits.train.texts, splits.validation.texts
    else:
        texts = []
        for path in args.text_file:
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                raise DataError(f"no such file: {path}") from None
            except UnicodeDecodeError:
                raise DataError(f"{path} is not UTF-8; re-save it as UTF-8.") from None
            texts += [line for line in lines if line.strip()]
        cut = max(1, len(texts) // 20)
        texts, held_out = texts[cut:], texts[:cut]
    vocabulary = learn_vocabulary(
        texts, args.vocab_size, lowercase=not args.cased, show_progress=True
    )
    save_vocabulary(vocabulary, args.output)
    rate = unknown_token_rate(vocabulary, held_out, lowercase=not args.cased)
    print(
        f"Wrote {len(vocabulary):,} tokens to {args.output}; unknown-token rate on "
        f"{len(held_out):,} held-out texts: {rate:.3%}"
    )
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from tfbert.data.pretraining import documents_from_texts
    from tfbert.tasks.pretrainer import BertPretrainer
    from tfbert.text.vocab import learn_vocabulary, load_vocabulary, save_vocabulary
    from tfbert.training.precision import set_precision
    from tfbert.training.pretrain import pretrain

    started = time.time()
    resume = _check_output_dir(args.output_dir, args.overwrite)
    if args.dataset:
        from tfbert.data import load_dataset

        texts = [t for name in args.dataset for t in load_dataset(name).train.texts]
        source = documents_from_texts(texts)
        _say(
            f"Corpus: {len(source):,} documents from the train splits of {', '.join(args.dataset)}."
        )
    elif args.corpus:
        from tfbert.data.corpora import load_corpus

        source = load_corpus(args.corpus)
        texts = [" ".join(document) for document in source]
        _say(
            f"Corpus {args.corpus!r}: {len(source):,} documents, "
            f"{sum(map(len, texts)):,} characters."
        )
    else:
        source, texts = list(args.text_files), None
    _create_output_dir(args.output_dir, resume)
    set_precision(args.precision)
    if args.init_from:
        model = BertPretrainer.from_pretrained(
            args.init_from, max_length=args.max_length, dropout=args.dropout
        )
    else:
        vocab_path = args.output_dir / "vocab.txt"
        if args.vocab:
            vocabulary = load_vocabulary(args.vocab)
        elif resume and vocab_path.is_file():
            vocabulary = load_vocabulary(vocab_path)
        else:
            if texts is None:
                from tfbert.data.pretraining import documents_dataset

                texts = [
                    " ".join(s.decode("utf-8") for s in doc.numpy())
                    for doc in documents_dataset(source)
                ]
            vocabulary = learn_vocabulary(
                texts, args.vocab_size, lowercase=not args.cased, show_progress=True
            )
            save_vocabulary(vocabulary, vocab_path)
        model = BertPretrainer.from_preset(
            args.preset or "mini",
            vocabulary=vocabulary,
            max_length=args.max_length,
            tokenizer_options={"lowercase": not args.cased},
            **(
                {}
                if args.dropout is None
                else {"hidden_dropout": args.dropout, "attention_dropout": args.dropout}
            ),
        )
    _say(f"Pretraining {model.count_params():,} parameters for {args.steps:,} steps.")
    history = pretrain(
        model,
        source,
        steps=args.steps,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        whole_word_masking=args.whole_word_masking,
        seed=args.seed,
        output_dir=args.output_dir,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    model.save_pretrained(args.output_dir)
    last = {k: v[-1] for k, v in history.history.items()}
    summary = ", ".join(f"{k} {v:.4g}" for k, v in sorted(last.items()))
    print(f"Last epoch: {summary}")
    print(
        f"Saved the pretrained model to {args.output_dir} ({time.time() - started:.0f} s); "
        f"fine-tune it with `tfbert train --init-from {args.output_dir}`."
    )
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from tfbert.data.corpora import describe_corpora
    from tfbert.data.datasets import describe_datasets

    print("Classification datasets (tfbert train/evaluate --dataset NAME):\n")
    for name, language, labels, description in describe_datasets():
        print(f"{name:10s} {language:8s} labels: {', '.join(labels)}\n  {description}\n")
    print("Pretraining corpora (tfbert pretrain --corpus NAME):\n")
    for name, description, sources in describe_corpora():
        print(f"{name:10s} {description}")
        for source in sources:
            print(f"  - {source}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from tfbert._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tfbert.errors import TfbertError

    try:
        return args.handler(args)
    except (TfbertError, ValueError, TypeError, FileNotFoundError) as error:
        if os.environ.get("TFBERT_DEBUG"):
            raise
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
