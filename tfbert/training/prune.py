"""A whole pruning run, as `tfbert prune` does it, callable from Python.

`prune_model(PruneConfig(model="runs/imdb", dataset="imdb", output_dir="runs/imdb-pruned"))`
loads a trained BERT classifier or NER model (`tfbert train --task ner`, CRF or not), scores
its attention heads, feed-forward neurons and layers on the validation split
(`tfbert.tasks.pruning.importance`, with the model's own loss: a classifier's on the texts, a
tagger's token-level loss on the sentences), removes the least important ones (`heads` and
`ffn`: the fractions to remove; `layers`: how many layers; each layer keeps a multiple of
`ffn_multiple` feed-forward neurons, 16 by default, so that the matmuls keep shapes the CPU's
kernels handle well), fine-tunes the smaller model on the training split (the best validation
epoch kept) and writes a normal model directory: `config.json` (the new sizes), `vocab.txt`,
`model.safetensors`, `history.json`, `validation_report.json` and `pruning.json` (the plan, the
importance scores, the parameter counts and the validation scores before pruning, after it and
after fine-tuning: accuracy for a classifier, entity-level micro F1 for a NER model). The model
then evaluates, predicts, exports and serves like any other. `prune_classifier` is the same
function under its first name.

The data is read as `tfbert train` reads it (`RunConfig`: a built-in dataset, or a training
file with an optional validation file; without one, the same 10% is held out as in training
with the same seed), so a model pruned with the data it was trained on is scored on the
validation split it never trained on. A NER model reads NER data (a built-in NER dataset, or
CoNLL column / JSONL span files) in its own tagging scheme.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfbert.errors import TfbertError
from tfbert.training.run import (
    PRETRAINED_LEARNING_RATE,
    DataSources,
    RunConfig,
    keras_verbosity,
    option,
)

PRUNING_FILE = "pruning.json"


@dataclasses.dataclass
class PruneConfig(DataSources):
    """Everything a pruning run needs; each field is the `tfbert prune` option of its name (the
    data settings, `DataSources`, given by keyword)."""

    model: str | Path
    output_dir: str | Path
    _: dataclasses.KW_ONLY  # every other setting by keyword, as the data settings
    heads: float = 0.5  # the fraction of attention heads to remove
    ffn: float = 0.5  # the fraction of feed-forward neurons to remove
    layers: int = 0  # how many whole layers to remove
    ffn_multiple: int = 16  # each layer keeps a multiple of this many neurons (1: any number)
    epochs: int = 2  # fine-tuning epochs after pruning (0: none)
    learning_rate: float = PRETRAINED_LEARNING_RATE
    batch_size: int = 32
    score_examples: int | None = 2000  # validation examples (NER: sentences) to score on
    seed: int = 13

    def validate(self) -> None:
        """Raises a `TfbertError` naming the option of the first invalid setting."""
        self.check_sources()
        for name in ("heads", "ffn"):
            value = getattr(self, name)
            if isinstance(value, bool) or not 0.0 <= value < 1.0:
                raise TfbertError(f"--{name} is the fraction to remove, in [0, 1); got {value!r}.")
        for name, low in (
            ("layers", 0),
            ("ffn_multiple", 1),
            ("epochs", 0),
            ("batch_size", 1),
            ("score_examples", 1),
        ):
            value = getattr(self, name)
            if value is None and name == "score_examples":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise TfbertError(
                    f"{option(name)} must be a whole number of at least {low}, got {value!r}."
                )
        if not self.learning_rate > 0:
            raise TfbertError(f"--learning-rate must be positive, got {self.learning_rate}.")
        output = Path(self.output_dir)
        if output.exists() and (not output.is_dir() or any(output.iterdir())):
            raise TfbertError(
                f"--output-dir {output} exists and is not an empty directory; give a new one."
            )

    def data_config(self, **more: Any) -> RunConfig:
        """The data settings as a training run's, which `load_run_data` (or, with
        `task="ner"` in `more`, `load_ner_run_data`) reads; the seed picks the held-out
        validation split."""
        return RunConfig(output_dir=self.output_dir, seed=self.seed, **self.data_sources(), **more)


@dataclasses.dataclass
class PruneRun:
    """What `prune_model` returns."""

    model: Any  # the pruned, fine-tuned classifier or NER model
    plan: Any  # the PruningPlan applied
    importance: Any  # the Importance scores it came from
    report_before: Any  # the unpruned model's validation report (EntityReport for NER)
    report: Any  # the pruned model's validation report, after fine-tuning
    parameters_before: int
    parameters: int
    output_dir: Path
    seconds: float
    metric: str = "accuracy"  # what `score` reads: "accuracy" or "entity-level micro F1"

    @property
    def classifier(self) -> Any:
        """The pruned model (its first name, from when only classifiers were pruned)."""
        return self.model

    def score(self, report: Any) -> float:
        """`report`'s headline figure: accuracy, or a NER model's entity-level micro F1."""
        return _headline(report, self.metric)


def _headline(report: Any, metric: str) -> float:
    """The `metric` ("accuracy" or "entity-level micro F1") of a validation report."""
    return report.accuracy if metric == "accuracy" else report.micro_f1


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _sizes(config: Any) -> str:
    heads = [config.heads_in_layer(i) for i in range(config.num_layers)]
    widths = [config.intermediate_size_of_layer(i) for i in range(config.num_layers)]
    return f"{config.num_layers} layers, heads {heads}, feed-forward widths {widths}"


@dataclasses.dataclass
class _Kind:
    """What differs between pruning a classifier and a NER model."""

    model: Any  # the unpruned model, loaded
    validation: Any  # its validation split (TextClassificationData or TaggedSentences)
    unit: str  # what the validation split counts: "examples" or "sentences"
    metric: str  # the headline figure of its reports (`_headline`)
    evaluate: Callable[..., Any]  # (model, validation, batch_size=) -> report
    fit: Callable[[Any, Any, Any], Any]  # (pruned, TrainingConfig, verbose) -> History

    @property
    def record_key(self) -> str:
        """Where pruning.json holds the metric before and after."""
        return "validation_accuracy" if self.metric == "accuracy" else "validation_entity_f1"


def _classifier_kind(config: PruneConfig, say: Callable[[str], None]) -> _Kind:
    """How a classifier is loaded, read, evaluated and fine-tuned."""
    from tfbert.evaluation import evaluate_classifier
    from tfbert.tasks.classifier import TextClassifier
    from tfbert.training.fine_tune import fine_tune
    from tfbert.training.run import load_run_data

    data_config = config.data_config()
    data_config.validate()
    model = TextClassifier.load(config.model)
    train, validation, _ = load_run_data(data_config, say)

    def fit(pruned: Any, training: Any, verbose: Any) -> Any:
        return fine_tune(
            pruned, train, validation, config=training, output_dir=config.output_dir,
            verbose=verbose,
        )  # fmt: skip

    return _Kind(model, validation, "examples", "accuracy", evaluate_classifier, fit)


def _tagger_kind(
    config: PruneConfig, description: dict[str, Any], say: Callable[[str], None]
) -> _Kind:
    """How a NER model is loaded, read (NER data in its scheme), evaluated (entity level)
    and fine-tuned (`tfbert.training.ner_run.fit_tagger`)."""
    from tfbert.evaluation.entities import evaluate_tagger
    from tfbert.tasks.token_classifier import TokenClassifier
    from tfbert.training.ner_run import fit_tagger, load_ner_run_data

    given = [
        flag
        for flag, value in (
            ("--text-pair-column", config.text_pair_column is not None),
            ("--clean-text", config.clean_text),
        )
        if value
    ]
    if given:
        raise TfbertError(f"{', '.join(given)} apply to classifiers; drop them for a NER model.")
    data_config = config.data_config(task="ner", scheme=description.get("scheme"))
    data_config.validate()
    model = TokenClassifier.load(config.model)
    train, validation, _ = load_ner_run_data(data_config, say)
    model.encode_labels(model.served_sentences(validation).tags)  # unknown tags: refused

    def fit(pruned: Any, training: Any, verbose: Any) -> Any:
        return fit_tagger(
            pruned, train, validation, training, output_dir=config.output_dir,
            verbose=verbose, say=say,
        )  # fmt: skip

    return _Kind(model, validation, "sentences", "entity-level micro F1", evaluate_tagger, fit)


def prune_model(
    config: PruneConfig,
    *,
    say: Callable[[str], None] = _say,
    verbose: int | str | None = None,
) -> PruneRun:
    """Runs `config` end to end, as `tfbert prune` does (module docstring), for the
    classifier or NER model in `config.model`; `say` receives the progress messages
    (default: stderr), `verbose` is Keras's for the scoring and the fine-tuning."""
    started = time.time()
    config.validate()
    from tfbert._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tfbert.contract import TOKEN_CLASSIFIER_FORMAT
    from tfbert.tasks.pruning import bert_encoder_of, importance, prune_task, pruning_plan
    from tfbert.tasks.task import read_description
    from tfbert.training.fine_tune import TrainingConfig
    from tfbert.training.run import say_best_epoch

    description = read_description(config.model)
    if description.get("format") == TOKEN_CLASSIFIER_FORMAT:
        kind = _tagger_kind(config, description, say)
    else:
        kind = _classifier_kind(config, say)
    model, validation = kind.model, kind.validation

    def score(report: Any) -> float:
        return _headline(report, kind.metric)

    bert_encoder_of(model)  # only a BERT model can be pruned: say so before any work
    output_dir = Path(config.output_dir)
    batch = config.batch_size * 2
    before = kind.evaluate(model, validation, batch_size=batch)
    say(f"Unpruned: {model.count_params():,} parameters, {_sizes(model.encoder.config)}; "
        f"validation {kind.metric} {score(before):.4f}.")  # fmt: skip
    scored = validation
    if config.score_examples is not None and len(validation) > config.score_examples:
        import numpy as np

        order = np.random.default_rng(config.seed).permutation(len(validation))
        scored = validation.subset(order[: config.score_examples].tolist())
    say(f"Scoring heads, neurons and layers on {len(scored):,} validation {kind.unit}...")
    scores = importance(
        model,
        scored,
        batch_size=config.batch_size,
        layers=config.layers > 0,
        verbose=keras_verbosity(verbose),
    )
    plan = pruning_plan(
        scores,
        heads=config.heads,
        neurons=config.ffn,
        layers=config.layers,
        neuron_multiple=config.ffn_multiple,
    )
    pruned = prune_task(model, plan)
    pruned_report = kind.evaluate(pruned, validation, batch_size=batch)
    say(f"Pruned: {pruned.count_params():,} parameters, {_sizes(pruned.encoder.config)}; "
        f"validation {kind.metric} {score(pruned_report):.4f} before fine-tuning."
    )  # fmt: skip
    if config.epochs:
        training = TrainingConfig(
            epochs=config.epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            seed=config.seed,
        )
        history = kind.fit(pruned, training, keras_verbosity(verbose))
        say_best_epoch(history.history, say)
    pruned.save_pretrained(output_dir)
    report = kind.evaluate(pruned, validation, batch_size=batch)
    report.to_json(output_dir / "validation_report.json")
    record = {
        "model": str(config.model),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(config).items()},
        "plan": plan.to_dict(),
        "parameters": {"before": model.count_params(), "after": pruned.count_params()},
        kind.record_key: {
            "unpruned": score(before),
            "pruned": score(pruned_report),
            "fine_tuned": score(report),
        },
        "importance": scores.to_dict(),
    }
    (output_dir / PRUNING_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return PruneRun(
        pruned,
        plan,
        scores,
        before,
        report,
        model.count_params(),
        pruned.count_params(),
        output_dir,
        time.time() - started,
        kind.metric,
    )


prune_classifier = prune_model  # the first name, from when only classifiers were pruned

__all__ = ["PRUNING_FILE", "PruneConfig", "PruneRun", "prune_classifier", "prune_model"]
