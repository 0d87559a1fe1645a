"""A named-entity recognition run: what `tfbert train --task ner` does, for Python users too.

    from tfbert.training.run import RunConfig
    from tfbert.training.ner_run import train_tagger

    run = train_tagger(RunConfig("runs/conll", dataset="conll2003", task="ner", crf=True))
    print(run.report.format_table())          # validation, entity level
    run.tagger.predict_texts(["Angela Merkel visited Paris."])[0]["entities"]

The run reads the `RunConfig` fields that apply to tagging:

- data: a built-in NER dataset (`dataset`: "msra" or "conll2003", with its official splits),
  or files (`train_file`, `validation_file`, `test_file`): CoNLL column files (one word and
  its tag per line, blank lines between sentences) or JSON Lines with character spans
  (`{"text": ..., "entities": [{"start", "end", "type"}]}`, by the `.jsonl`/`.json` suffix or
  `file_format`). Without a validation file, a seeded 10% of the training sentences is held
  out. `max_examples` samples each split; `scheme` rewrites the tags (bio or bioes).
- model: BERT from a checkpoint (`init_from`) or from scratch (`preset`, a learned or given
  vocabulary), chosen by language as for classification when neither is given; or
  `model="bilstm"`, the BiLSTM-CRF baseline with `crf=True`. `crf` puts a CRF on the tag
  scores; `max_length` ("auto": `NER_MAX_LENGTH`) is the window length, and longer sentences
  are split into windows sharing `stride` pieces.
- training: `tfbert.training.fine_tune.fit_task`, with the same optimizer, best-epoch
  checkpoint, backups (a rerun of the same command resumes) and early stopping as
  classification; `epochs` and `learning_rate` "auto" follow the classification rules. The
  model trains on the words it tags when served (`TokenClassifier.served_sentences`: CoNLL's
  "U.S." becomes the four words BERT reads), and the run says how many sentences that re-cut.

The output directory holds the model (`TokenClassifier.load`, `tfbert evaluate/predict/export`),
`history.json`, `training_curves.png`, `validation_report.json` and, with a test split (the
dataset's, or `test_file`), `test_report.json`: entity-level reports (`EntityReport`) of the
model run on the raw sentences as it is served, scored against the data's own entity spans.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfbert.errors import DataError, TfbertError
from tfbert.training.run import (
    AUTO,
    FROM_SCRATCH_PRESET,
    NER_MODELS,
    RunConfig,
    _plain,
    _read_start,
    _say,
    _Start,
    adopt_resolved,
    check_ner_dataset,
    check_ner_options,
    check_output_dir,
    check_resume,
    choose_start,
    create_output_dir,
    default_epochs,
    default_learning_rate,
    keras_verbosity,
    neural_backbone,
    read_marker,
    say_best_epoch,
)

__all__ = [
    "NER_MAX_LENGTH",
    "NER_MODELS",
    "TaggingRun",
    "build_tagger",
    "check_ner_dataset",
    "fit_tagger",
    "check_ner_options",
    "load_ner_run_data",
    "read_tagged_file",
    "tagged_fingerprint",
    "train_tagger",
]

NER_MAX_LENGTH = 128  # max_length "auto": windows of this many positions (or the model's limit)
JSONL_SUFFIXES = (".jsonl", ".json")
VALIDATION_SHARE = 0.1  # held out of the training file when no validation file is given


@dataclasses.dataclass
class TaggingRun:
    """What `train_tagger` returns: the trained tagger, its history and entity reports."""

    tagger: Any  # the TokenClassifier
    history: Any
    report: Any  # the validation EntityReport (None on non-chief workers)
    output_dir: Path
    validation_size: int
    seconds: float
    test_report: Any = None  # the test split's EntityReport, when there is a test split


def read_tagged_file(
    path: str | Path, *, scheme: str | None = None, file_format: str | None = None
) -> Any:
    """The `TaggedSentences` of a CoNLL column file or a JSON Lines file of character spans
    (by `file_format`, "conll" or "jsonl", else by the suffix: `.jsonl`/`.json` are JSON Lines)."""
    from tfbert.data.ner import read_conll, read_entity_jsonl

    path = Path(path)
    jsonl = file_format == "jsonl" or (file_format is None and path.suffix in JSONL_SUFFIXES)
    if jsonl:
        return read_entity_jsonl(path, scheme=scheme or "bio")
    return read_conll(path, scheme=scheme)


def _sample(data: Any, limit: int | None, seed: int) -> Any:
    return data if limit is None else data.sample(limit, seed)


def load_ner_run_data(config: RunConfig, say: Callable[[str], None] = _say) -> tuple[Any, Any, Any]:
    """The run's (train, validation, test or None) `TaggedSentences`, all in one scheme."""
    from tfbert.data.ner import load_ner_dataset

    if config.dataset:
        splits = load_ner_dataset(
            config.dataset,
            scheme=config.scheme,
            max_sentences_per_split=config.max_examples,
            seed=config.seed,
        )
        train, validation, test = splits["train"], splits["validation"], splits["test"]
    else:
        read = {"scheme": config.scheme, "file_format": config.file_format}
        train = _sample(read_tagged_file(config.train_file, **read), config.max_examples,
                        config.seed)  # fmt: skip
        if config.validation_file:
            validation = read_tagged_file(config.validation_file, **read)
            validation = _sample(validation, config.max_examples, config.seed)
        else:
            import numpy as np

            if len(train) < 2:
                raise DataError(
                    f"{config.train_file} holds one sentence; holding out validation sentences "
                    "needs two or more (or give --validation-file)."
                )
            order = np.random.default_rng(config.seed).permutation(len(train))
            held = max(1, int(VALIDATION_SHARE * len(train) + 0.5))
            train, validation = (
                train.subset(sorted(order[held:])),
                train.subset(sorted(order[:held])),
            )
        test = None
        if config.test_file:
            test = _sample(read_tagged_file(config.test_file, **read), config.max_examples,
                           config.seed)  # fmt: skip
    validation = validation.with_scheme(train.scheme)
    test = None if test is None else test.with_scheme(train.scheme)
    if not train.entity_types():
        raise DataError(
            "the training sentences hold no entity (every tag is O); a NER model needs tagged "
            "entities to learn from. Check the tag column."
        )
    sizes = f"{len(train):,} train / {len(validation):,} validation"
    if test is not None:
        sizes += f" / {len(test):,} test"
    say(f"NER data ({train.scheme}): {sizes} sentences; entity types "
        f"{', '.join(train.entity_types())}.")  # fmt: skip
    return train, validation, test


def tagged_fingerprint(*datasets: Any) -> str:
    """A SHA-256 of the words, tags and scheme of `datasets` (in order; None skipped)."""
    digest = hashlib.sha256()
    for data in datasets:
        if data is None:
            continue
        record = {"words": data.words, "tags": data.tags, "scheme": data.scheme}
        digest.update(json.dumps(record, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


def build_tagger(config: RunConfig, start: _Start, tags: list[str], scheme: str) -> Any:
    """The `TokenClassifier` to train (call under the strategy's scope)."""
    import keras

    from tfbert.tasks.token_classifier import TokenClassifier
    from tfbert.text.tokenizer import BertTokenizer

    keras.utils.set_random_seed(config.seed)
    task = {"scheme": scheme, "crf": config.crf, "stride": config.stride}
    if start.pretrained is not None:
        return TokenClassifier.from_pretrained(
            start.pretrained, tags, max_length=config.max_length, dropout=config.dropout, **task
        )
    tokenizer = BertTokenizer(
        start.vocabulary, lowercase=not config.cased, max_length=config.max_length
    )
    if config.model == "bilstm":
        # Tags read the states only: mean pooling leaves no weights without a gradient.
        backbone = neural_backbone(config, tokenizer, pooling="mean")
        return TokenClassifier(backbone, tokenizer, tags, **task)
    dropout = {} if config.dropout is None else {
        "hidden_dropout": config.dropout, "attention_dropout": config.dropout
    }  # fmt: skip
    return TokenClassifier.from_preset(
        config.preset or FROM_SCRATCH_PRESET,
        vocabulary=start.vocabulary,
        tags=tags,
        max_length=config.max_length,
        tokenizer_options={"lowercase": not config.cased},
        **task,
        **dropout,
    )


def _fit(
    tagger: Any,
    train: Any,
    validation: Any,
    config: RunConfig,
    verbose: Any,
    say: Callable[[str], None] = _say,
) -> Any:
    """Fits `tagger` as the run's settings say (`fit_tagger`), keeping the backup until the
    model directory is complete."""
    from tfbert.training.fine_tune import TrainingConfig

    training = TrainingConfig(
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_fraction=config.warmup_fraction,
        weight_decay=config.weight_decay,
        seed=config.seed,
        class_weights=False,
        early_stopping_patience=config.early_stopping,
        backup_every_steps=config.backup_every,
        gradient_accumulation_steps=config.gradient_accumulation,
    )
    return fit_tagger(
        tagger,
        train,
        validation,
        training,
        output_dir=config.output_dir,
        verbose=verbose,
        say=say,
        keep_backup=True,  # removed once the model directory is complete
    )


def fit_tagger(
    tagger: Any,
    train: Any,
    validation: Any,
    training: Any,
    *,
    output_dir: str | Path | None = None,
    verbose: Any = "auto",
    say: Callable[[str], None] = _say,
    keep_backup: bool = False,
) -> Any:
    """Fits `tagger` on the `TaggedSentences` `train` with `fit_task` and the
    `TrainingConfig` `training`: the windows of the training sentences, cut into the words
    the served model tags (`TokenClassifier.served_sentences`), in a seeded order per epoch
    (a pure function of the epoch, so a rerun resumes exactly); the best epoch on the
    `validation` sentences is kept. Returns the Keras history."""
    import tensorflow as tf

    from tfbert.contract import FEATURE_NAMES
    from tfbert.training.fine_tune import fit_task
    from tfbert.training.resume import epoch_order

    served = tagger.served_sentences(train)
    _say_served_words(train, served, "training", say)
    encoded = tagger.encode(served.words, tagger.encode_labels(served.tags))
    windows = len(encoded["labels"])

    def epoch_data(epoch: int, skip: int) -> tf.data.Dataset:
        order = epoch_order(windows, training.seed, epoch)
        features = {name: encoded[name][order] for name in FEATURE_NAMES}
        data = tf.data.Dataset.from_tensor_slices((features, encoded["labels"][order]))
        data = data.batch(training.batch_size)
        return (data.skip(skip) if skip else data).prefetch(tf.data.AUTOTUNE)

    validation_data = tagger.dataset(validation, batch_size=training.batch_size, shuffle=False)
    return fit_task(
        tagger,
        epoch_data,
        validation_data,
        config=training,
        train_examples=windows,
        output_dir=output_dir,
        verbose=verbose,
        keep_backup=keep_backup,
    )


def _say_served_words(data: Any, served: Any, name: str, say: Callable[[str], None] = _say) -> None:
    """Says how `served` (`data.to_served_words()`) differs from `data`, if it does: the words
    cut into several and the entities widened to whole words or left out."""
    split = sum(len(a) != len(b) for a, b in zip(data.words, served.words, strict=True))
    if not (split or served.snapped or served.dropped):
        return
    message = (
        f"The {name} sentences are tagged on the words the served model reads: {split:,} "
        f"sentences re-cut into them"
    )
    if served.snapped or served.dropped:
        message += (
            f"; {served.snapped:,} entities end inside such a word and were widened to it, "
            f"{served.dropped:,} left out"
        )
    say(message + ".")


def train_tagger(
    config: RunConfig,
    *,
    say: Callable[[str], None] = _say,
    verbose: int | str | None = None,
) -> TaggingRun:
    """Runs a NER `config` (`task="ner"`) end to end, as `tfbert train --task ner` does.

    Writes the model directory, reports and curves into `config.output_dir` (module
    docstring); a run killed before the end resumes from its last backup when started again
    with the same settings and data. `say` receives the progress messages (default: stderr);
    `verbose` is Keras's (default: a progress bar on a terminal, else a line per epoch).
    """
    started = time.time()
    if config.task != "ner":
        raise TfbertError(f"train_tagger runs --task ner, not {config.task!r}.")
    config.validate()
    from tfbert._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tfbert.data.ner import scheme_tags
    from tfbert.evaluation import plot_entity_scores, plot_training_curves
    from tfbert.evaluation.entities import evaluate_tagger
    from tfbert.training.distribute import create_strategy, is_chief, worker_directory
    from tfbert.training.precision import set_precision

    if config.init_from is not None:
        from tfbert.modeling.checkpoints import resolve_checkpoint

        resolve_checkpoint(config.init_from)
    strategy = create_strategy(config.strategy, config.devices)
    chief = is_chief(strategy)
    work_dir = worker_directory(config.output_dir, strategy)
    resume = check_output_dir(work_dir, config.overwrite)
    train, validation, test = load_ner_run_data(config, say)
    # Validation may hold a type the training split lacks: the model gets its tags too, so
    # that validation loss can be computed (it never learns to predict them).
    types = sorted(set(train.entity_types()) | set(validation.entity_types()))
    tags = scheme_tags(types, train.scheme)
    fingerprint = tagged_fingerprint(train, validation)
    first = (read_marker(work_dir) or {}).get("settings") if resume else None
    if first:
        adopt_resolved(config, first)
        check_resume(work_dir, "train", config.settings(), fingerprint)
    else:
        choose_start(config, train.texts(), say)
    start = _read_start(config, work_dir, train.texts(), resume, say)
    if config.max_length == AUTO:
        config.max_length = min(NER_MAX_LENGTH, start.limit)
        say(f"Windows of {config.max_length} positions; longer sentences are split into "
            "overlapping windows (choose with --max-length).")  # fmt: skip
    if config.max_length > start.limit:
        raise TfbertError(
            f"--max-length {config.max_length} is more than the model's {start.limit} position "
            f"embeddings; give at most {start.limit}."
        )
    if config.epochs == AUTO:
        config.epochs = default_epochs(config, len(train))
    if config.learning_rate is None:
        config.learning_rate = default_learning_rate(config, len(train))
    settings = config.settings()
    if resume:
        check_resume(work_dir, "train", settings, fingerprint)
    create_output_dir(work_dir, resume, command="train", settings=settings, data=fingerprint)
    if start.learned:
        from tfbert.text.vocab import save_vocabulary

        save_vocabulary(start.vocabulary, work_dir / "vocab.txt")
    set_precision(config.precision)
    with strategy.scope():
        tagger = build_tagger(config, start, tags, train.scheme)
    say(f"Model: {tagger.count_params():,} parameters, {config.model}"
        f"{' + CRF' if config.crf else ''}, {len(tags)} tags ({train.scheme}), "
        f"{config.epochs} epochs at {config.learning_rate:g}.")  # fmt: skip
    history = _fit(
        tagger,
        train,
        validation,
        config,
        keras_verbosity(verbose),
        say,
    )
    say_best_epoch(history.history, say)
    output_dir = config.output_dir
    if not chief:
        shutil.rmtree(work_dir, ignore_errors=True)
        return TaggingRun(tagger, history, None, work_dir, len(validation), 0.0)
    tagger.save_pretrained(output_dir)
    if config.strategy == "multi-worker":
        from tfbert.tasks.token_classifier import TokenClassifier

        tagger = TokenClassifier.load(output_dir)
    data_name = config.dataset or Path(config.train_file).name
    plot_training_curves(history.history, output_dir / "training_curves.png", dataset=data_name)
    batch = config.batch_size * 2
    report = evaluate_tagger(tagger, validation, batch_size=batch)
    report.to_json(output_dir / "validation_report.json")
    plot_entity_scores(
        report, output_dir / "validation_entity_scores.png", dataset=data_name, split="validation"
    )
    test_report = None
    if test is not None:
        test_report = evaluate_tagger(tagger, test, batch_size=batch)
        test_report.to_json(output_dir / "test_report.json")
        plot_entity_scores(
            test_report, output_dir / "test_entity_scores.png", dataset=data_name, split="test"
        )
    arguments = {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
    (output_dir / "train_args.json").write_text(
        json.dumps(arguments, indent=2) + "\n", encoding="utf-8"
    )
    shutil.rmtree(output_dir / "backup", ignore_errors=True)  # complete: no resume
    return TaggingRun(
        tagger, history, report, output_dir, len(validation), time.time() - started, test_report
    )
