"""`tfbert train`: the options of `tfbert.training.run.RunConfig`, then one call to
`train_classifier` (or, with `--task ner`, to `tfbert.training.ner_run.train_tagger`)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.cli.common import (
    dropout_rate,
    non_negative_int,
    positive_float,
    positive_int,
    sequence_length,
)
from tfbert.config import PRESETS
from tfbert.evaluation.baseline import BASELINE_DIR
from tfbert.training import run

DEFAULTS = {f.name: f.default for f in dataclasses.fields(run.RunConfig) if f.name != "output_dir"}


def auto_or(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An option type taking "auto" (chosen from the data) or what `parse` takes."""

    def parse_auto(text: str) -> Any:
        return run.AUTO if text == run.AUTO else parse(text)

    parse_auto.__name__ = f"'auto' or {parse.__name__}"
    return parse_auto


def on_off_auto(text: str) -> bool | str:
    """--class-weights: on, off or auto."""
    values = {"on": True, "off": False, run.AUTO: run.AUTO}
    if text not in values:
        raise argparse.ArgumentTypeError(f"expected on, off or auto, got {text!r}")
    return values[text]


def add_parser(commands: Any) -> None:
    d = DEFAULTS
    train = commands.add_parser(
        "train",
        help="fine-tune a classifier (or, with --task ner, a NER model) on a built-in dataset "
        "or your own files",
        description="Fine-tune a BERT classifier, from pretrained weights (--init-from) or from "
        "scratch (a --preset size and a learned or given vocabulary). With neither, English "
        f"text starts from the pretrained {run.DEFAULT_PRETRAINED} and other text trains the "
        f"{run.FROM_SCRATCH_PRESET!r} preset from scratch. --model textcnn or bilstm trains a "
        "TextCNN or BiLSTM baseline instead, from scratch. --task ner trains a named-entity "
        "recognizer (a tag per word; --crf, --scheme) on --dataset msra|conll2003 or on "
        "CoNLL column / JSONL span files.",
    )
    train.add_argument(
        "--task",
        choices=list(run.TASKS),
        default=d["task"],
        help="classification (a label per text) or ner (named-entity recognition: a tag per "
        "word; CoNLL column or JSONL span files, or --dataset msra|conll2003) "
        f"(default: {d['task']})",
    )
    common.add_training_sources(train)
    train.add_argument(
        "--test-file",
        type=Path,
        help="--task ner: test data, scored after training into test_report.json (default: "
        "the dataset's test split; none for files)",
    )
    common.add_data_arguments(train, training=True)
    model = train.add_argument_group("model")
    model.add_argument(
        "--model",
        choices=list(run.MODELS),
        default=d["model"],
        help="the network: bert, or a baseline trained from scratch on a vocabulary learned "
        "from the training texts: textcnn (convolutions, Kim 2014) or bilstm (a bidirectional "
        "LSTM with attention pooling); they take no --preset/--init-from, and --dropout sets "
        f"their own dropout (default: {d['model']})",
    )
    init = model.add_mutually_exclusive_group()
    init.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=None,
        help="model size from scratch (default: none; with neither --preset nor --init-from, "
        f"{run.DEFAULT_PRETRAINED} for English text, else {run.FROM_SCRATCH_PRESET})",
    )
    init.add_argument(
        "--init-from",
        default=None,
        help="pretrained weights: a directory (Hugging Face, Google BERT or tfbert layout) or "
        f"the name {run.DEFAULT_PRETRAINED} (default: chosen by language, see --preset)",
    )
    model.add_argument(
        "--dropout",
        type=dropout_rate,
        default=None,
        help="hidden and attention dropout; for textcnn/bilstm their own dropout (default: the "
        "checkpoint's, or the preset's 0.1; textcnn 0.5, bilstm 0.3)",
    )
    model.add_argument(
        "--vocab",
        default=None,
        help="WordPiece vocab.txt, or the built-in bert-base-chinese, for a model from scratch "
        "(default: learn one from the training texts)",
    )
    model.add_argument(
        "--vocab-size",
        type=positive_int,
        default=d["vocab_size"],
        help=f"largest size of the learned vocabulary (default: {d['vocab_size']})",
    )
    model.add_argument(
        "--cased",
        action="store_true",
        help="keep case and accents of a model from scratch (default: lowercase)",
    )
    model.add_argument(
        "--max-length",
        type=auto_or(sequence_length),
        default=d["max_length"],
        metavar="auto|N",
        help="tokens per example including [CLS]/[SEP]; auto: the length that keeps "
        f"{run.LENGTH_COVERAGE * 100:.0f}%% of the training texts whole under the run's tokenizer, "
        f"rounded up to a multiple of {run.LENGTH_STEP}, {run.AUTO_LENGTH_RANGE[0]} to "
        f"{run.AUTO_LENGTH_RANGE[1]} (default: {d['max_length']})",
    )
    model.add_argument(
        "--truncation",
        choices=[run.AUTO, "end", "head_tail"],
        default=d["truncation"],
        help="for long texts: keep the start (end) or the start and the end "
        f"(head_tail; Sun et al. 2019); auto: head_tail when more than "
        f"{run.LONG_TEXT_SHARE * 100:.0f}%% of the training texts are longer than --max-length "
        f"(default: {d['truncation']})",
    )
    model.add_argument(
        "--pooling",
        default=d["pooling"],
        help="what the classifier head reads: BERT's [CLS] pooler (cls), the mean of the "
        "token vectors (mean), or the [CLS] vectors of the last N layers averaged or "
        "concatenated (lastN_mean, lastN_concat, e.g. last4_mean; Sun et al. 2019); "
        "auto: the checkpoint's own pooling when it declares one "
        f"(sentence-transformers models such as minilm-l6: mean), else cls (default: "
        f"{d['pooling']})",
    )
    model.add_argument(
        "--problem-type",
        choices=["auto", "binary", "multiclass", "multilabel"],
        default=d["problem_type"],
        help="auto: multilabel with --multi-label, else by label count "
        f"(default: {d['problem_type']})",
    )
    ner = train.add_argument_group("named-entity recognition (--task ner)")
    ner.add_argument(
        "--crf",
        action="store_true",
        help="a CRF output layer: trained on whole tag sequences, decoded with Viterbi; with "
        "--model bilstm, the BiLSTM-CRF baseline (default: off, a softmax per word)",
    )
    ner.add_argument(
        "--scheme",
        choices=["bio", "bioes"],
        default=None,
        help="tag scheme the model learns (default: the training data's own)",
    )
    ner.add_argument(
        "--stride",
        type=non_negative_int,
        default=None,
        help="pieces shared by consecutive windows of a sentence longer than --max-length "
        "(default: a quarter of the window)",
    )
    fit = train.add_argument_group("training")
    fit.add_argument(
        "--epochs",
        type=auto_or(positive_int),
        default=d["epochs"],
        metavar="auto|N",
        help="passes over the training data; auto: from a pretrained checkpoint "
        f"{run.PRETRAINED_EPOCHS['medium']}, or {run.PRETRAINED_EPOCHS['small']} under "
        f"{run.SMALL_DATA:,} examples and {run.PRETRAINED_EPOCHS['large']} over "
        f"{run.LARGE_DATA:,}; twice that from scratch (the best validation epoch is kept) "
        f"(default: {d['epochs']})",
    )
    fit.add_argument(
        "--batch-size",
        type=positive_int,
        default=d["batch_size"],
        help=f"global batch size (default: {d['batch_size']})",
    )
    fit.add_argument(
        "--gradient-accumulation",
        type=positive_int,
        default=d["gradient_accumulation"],
        metavar="N",
        help="average the gradients of N batches into one update: an effective batch of "
        "N x --batch-size; the learning-rate schedule counts updates "
        f"(default: {d['gradient_accumulation']})",
    )
    fit.add_argument(
        "--learning-rate",
        type=positive_float,
        default=None,
        help=f"peak learning rate (default: {run.PRETRAINED_LEARNING_RATE:g} from a pretrained "
        f"checkpoint, {run.LARGE_DATA_LEARNING_RATE:g} over {run.LARGE_DATA:,} examples, "
        f"{run.FROM_SCRATCH_LEARNING_RATE:g} from scratch, "
        f"{run.NEURAL_LEARNING_RATE:g} for textcnn/bilstm)",
    )
    common.add_schedule(fit, d)
    fit.add_argument(
        "--class-weights",
        type=on_off_auto,
        nargs="?",
        const=True,
        default=d["class_weights"],
        metavar="on|off|auto",
        help="weight classes inversely to their frequency (alone: on); auto: on when the "
        f"largest class has more than {run.IMBALANCE_RATIO:g}x the examples of the smallest "
        f"(default: {d['class_weights']})",
    )
    fit.add_argument(
        "--early-stopping",
        type=non_negative_int,
        default=None,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without validation improvement (default: off)",
    )
    fit.add_argument("--seed", type=int, default=d["seed"], help=f"(default: {d['seed']})")
    fit.add_argument(
        "--bucket-by-length",
        action="store_true",
        help="batch texts of similar length together (still shuffled): each batch pads only to "
        "its longest text, so less compute goes to padding, but the batches hold other "
        "examples than without it, which changes training (default: off)",
    )
    fit.add_argument(
        "--strategy",
        choices=list(run.STRATEGIES),
        default=d["strategy"],
        help="tf.distribute strategy: mirrored = all local GPUs (or --devices), "
        f"multi-worker = the cluster in TF_CONFIG (default: {d['strategy']})",
    )
    common.add_backup_every(fit, d["backup_every"])
    fit.add_argument(
        "--precision",
        choices=list(run.PRECISIONS),
        default=d["precision"],
        help="compute precision: bfloat16 on CPUs with AVX-512 BF16 and on TPUs/recent GPUs, "
        "float16 (with loss scaling) on GPUs; weights stay float32 "
        f"(default: {d['precision']})",
    )
    fit.add_argument(
        "--devices",
        nargs="+",
        default=None,
        help="devices for --strategy mirrored, e.g. /gpu:0 /gpu:1 (default: all GPUs)",
    )
    techniques = train.add_argument_group("fine-tuning techniques (off by default)")
    techniques.add_argument(
        "--layer-decay",
        type=float,
        default=d["layer_decay"],
        help="layer-wise learning-rate decay: the top BERT layer learns at --learning-rate, "
        "each layer below at this factor times the one above (Sun et al. 2019: 0.95)",
    )
    techniques.add_argument(
        "--fgm-epsilon",
        type=float,
        default=d["fgm_epsilon"],
        help="adversarial training on the token embeddings (FGM, Miyato et al. 2017) with a "
        "perturbation of this size, e.g. 1.0; a step costs about two",
    )
    common.add_augmentation(
        techniques,
        d,
        "add this many edited copies of every training text (random deletion, swap or "
        "insertion of words, or of characters in Chinese); validation is not augmented",
    )
    common.add_run_outputs(
        train,
        output="where the trained model, logs and reports go",
        baseline="fit the TF-IDF baseline on the same split after training (seconds), report it "
        "beside the model with a warning when the model is below it, and save it in "
        f"<output-dir>/{BASELINE_DIR} for `tfbert evaluate`; --no-baseline skips it",
        baseline_default=d["baseline"],
    )
    train.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    names = {f.name for f in dataclasses.fields(run.RunConfig)}
    config = run.RunConfig(**{k: v for k, v in vars(args).items() if k in names})
    config.validate()  # before TensorFlow loads: mistakes are reported at once
    if config.task == "ner":
        return _train_tagger(config)
    result = run.train_classifier(config, say=common.say)
    if result.report is None:
        return 0  # a worker other than the chief: the chief reports
    print(f"\nValidation ({result.validation_size:,} examples):")
    print(result.report.format_table())
    print(f"\nSaved the model to {result.output_dir} ({result.seconds:.0f} s).")
    return 0


def _train_tagger(config: run.RunConfig) -> int:
    from tfbert.training.ner_run import train_tagger

    result = train_tagger(config, say=common.say)
    if result.report is None:
        return 0  # a worker other than the chief: the chief reports
    print(f"\nValidation ({result.validation_size:,} sentences):")
    print(result.report.format_table())
    if result.test_report is not None:
        print(f"\nTest ({result.test_report.num_sentences:,} sentences):")
        print(result.test_report.format_table())
    print(f"\nSaved the model to {result.output_dir} ({result.seconds:.0f} s).")
    return 0
