"""A whole pruning run, as `tfbert prune` does it, callable from Python.

`prune_classifier(PruneConfig(model="runs/imdb", dataset="imdb", output_dir="runs/imdb-pruned"))`
loads a trained BERT classifier, scores its attention heads, feed-forward neurons and layers on
the validation split (`tfbert.tasks.pruning.importance`), removes the least important ones
(`heads` and `ffn`: the fractions to remove; `layers`: how many layers; each layer keeps a
multiple of `ffn_multiple` feed-forward neurons, 16 by default, for aligned matmul shapes),
fine-tunes the smaller model on the training split (`tfbert.training.fine_tune`, the best validation epoch kept) and
writes a normal model directory: `config.json` (the new sizes), `vocab.txt`,
`model.safetensors`, `history.json`, `validation_report.json` and `pruning.json` (the plan, the
importance scores, the parameter counts and the validation scores before pruning, after it
and after fine-tuning). The model then evaluates, exports and serves like any other.

The data is read as `tfbert train` reads it (`RunConfig`: a built-in dataset, or a training
file with an optional validation file; without one, the same stratified 10% is held out as in
training with the same seed), so a model pruned with the data it was trained on is scored on
the validation split it never trained on.
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
    score_examples: int | None = 2000  # validation examples importance is measured on
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

    def data_config(self) -> RunConfig:
        """The data settings as a training run's, which `load_run_data` reads (the seed picks
        the held-out validation split)."""
        return RunConfig(output_dir=self.output_dir, seed=self.seed, **self.data_sources())


@dataclasses.dataclass
class PruneRun:
    """What `prune_classifier` returns."""

    classifier: Any  # the pruned, fine-tuned classifier
    plan: Any  # the PruningPlan applied
    importance: Any  # the Importance scores it came from
    report_before: Any  # the unpruned model's validation EvaluationReport
    report: Any  # the pruned model's validation EvaluationReport, after fine-tuning
    parameters_before: int
    parameters: int
    output_dir: Path
    seconds: float


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _sizes(config: Any) -> str:
    heads = [config.heads_in_layer(i) for i in range(config.num_layers)]
    widths = [config.intermediate_size_of_layer(i) for i in range(config.num_layers)]
    return f"{config.num_layers} layers, heads {heads}, feed-forward widths {widths}"


def prune_classifier(
    config: PruneConfig,
    *,
    say: Callable[[str], None] = _say,
    verbose: int | str | None = None,
) -> PruneRun:
    """Runs `config` end to end, as `tfbert prune` does (module docstring); `say` receives the
    progress messages (default: stderr), `verbose` is Keras's for the fine-tuning."""
    started = time.time()
    config.validate()
    data_config = config.data_config()
    data_config.validate()
    from tfbert._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tfbert.evaluation import evaluate_classifier
    from tfbert.tasks.classifier import TextClassifier
    from tfbert.tasks.pruning import bert_encoder_of, importance, prune_task, pruning_plan
    from tfbert.training.fine_tune import TrainingConfig, fine_tune
    from tfbert.training.run import load_run_data, say_best_epoch

    model = TextClassifier.load(config.model)
    bert_encoder_of(model)  # only a BERT model can be pruned: say so before any work
    train, validation, _ = load_run_data(data_config, say)
    output_dir = Path(config.output_dir)
    before = evaluate_classifier(model, validation, batch_size=config.batch_size * 2)
    say(f"Unpruned: {model.count_params():,} parameters, {_sizes(model.encoder.config)}; "
        f"validation accuracy {before.accuracy:.4f}.")  # fmt: skip
    scored = validation
    if config.score_examples is not None and len(validation) > config.score_examples:
        import numpy as np

        order = np.random.default_rng(config.seed).permutation(len(validation))
        scored = validation.subset(order[: config.score_examples].tolist())
    say(f"Scoring heads, neurons and layers on {len(scored):,} validation examples...")
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
    pruned_scores = evaluate_classifier(pruned, validation, batch_size=config.batch_size * 2)
    say(f"Pruned: {pruned.count_params():,} parameters, {_sizes(pruned.encoder.config)}; "
        f"validation accuracy {pruned_scores.accuracy:.4f} before fine-tuning.")  # fmt: skip
    history = None
    if config.epochs:
        training = TrainingConfig(
            epochs=config.epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            seed=config.seed,
        )
        history = fine_tune(
            pruned,
            train,
            validation,
            config=training,
            output_dir=output_dir,
            verbose=keras_verbosity(verbose),
        )
        say_best_epoch(history.history, say)
    pruned.save_pretrained(output_dir)
    report = evaluate_classifier(pruned, validation, batch_size=config.batch_size * 2)
    report.to_json(output_dir / "validation_report.json")
    record = {
        "model": str(config.model),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(config).items()},
        "plan": plan.to_dict(),
        "parameters": {"before": model.count_params(), "after": pruned.count_params()},
        "validation_accuracy": {
            "unpruned": before.accuracy,
            "pruned": pruned_scores.accuracy,
            "fine_tuned": report.accuracy,
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
    )


__all__ = ["PRUNING_FILE", "PruneConfig", "PruneRun", "prune_classifier"]
