"""`tfbert prune`: a trained model (a classifier, or a NER model) in, a smaller normal model
directory out that evaluates, predicts and exports; mistakes refused in one line before any
work."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from .helpers import NEW_REVIEWS, assert_usage_error, parse_json, run, write_conll


def test_prune_writes_a_smaller_model_that_predicts(capsys, tmp_path, files, trained) -> None:
    output = tmp_path / "pruned"
    result = run(
        capsys, "prune", "--model", trained.model_dir, "--train-file", files.train,
        "--heads", 0.5, "--ffn", 0.25, "--layers", 1, "--epochs", 1, "--output-dir", output,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "Parameters:" in result.out and "Saved the pruned model" in result.out
    assert "Scoring heads, neurons and layers" in result.err
    bert = json.loads((output / "config.json").read_text(encoding="utf-8"))["bert"]
    assert bert["num_layers"] == 1 and bert["layer_heads"] == [1]  # tiny: 2 layers x 2 heads
    assert bert["intermediate_size"] == 384  # a quarter of 512 removed
    record = json.loads((output / "pruning.json").read_text(encoding="utf-8"))
    assert record["parameters"]["after"] < record["parameters"]["before"]
    predicted = run(capsys, "predict", "--model", output, *NEW_REVIEWS)
    assert predicted.code == 0, predicted.err
    assert len(predicted.out.strip().splitlines()) == len(NEW_REVIEWS)


def test_mistakes_are_refused_in_one_line(capsys, tmp_path, files, trained) -> None:
    base = ["prune", "--model", trained.model_dir, "--output-dir", tmp_path / "out"]
    assert_usage_error(run(capsys, *base, "--train-file", files.train, "--heads", 1.5), "--heads")
    assert_usage_error(run(capsys, *base, "--train-file", files.train, "--heads", 1), "--heads")
    zero = ("--train-file", files.train, "--ffn-multiple", 0)
    assert_usage_error(run(capsys, *base, *zero), "--ffn-multiple")
    assert_usage_error(run(capsys, *base), "--dataset or --train-file")
    taken = ["--output-dir", trained.model_dir, "--train-file", files.train]
    assert_usage_error(run(capsys, *base[:3], *taken), "already holds a model")
    missing = ["prune", "--model", tmp_path, "--train-file", files.train, "--output-dir", "x"]
    assert_usage_error(run(capsys, *missing), "holds no model")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def tagger(tmp_path_factory) -> SimpleNamespace:
    """A tiny BERT tagger (softmax) trained briefly on real CoNLL-2003 sentences, saved as
    `tfbert train --task ner` would, and the CoNLL files of its data."""
    import keras

    from tfbert.data.ner import load_ner_dataset, scheme_tags
    from tfbert.tasks.token_classifier import TokenClassifier
    from tfbert.text.vocab import learn_vocabulary
    from tfbert.training.fine_tune import TrainingConfig
    from tfbert.training.ner_run import fit_tagger

    root = tmp_path_factory.mktemp("prune_ner")
    data = load_ner_dataset("conll2003", max_sentences_per_split=60)
    train, test = root / "train.txt", root / "test.txt"
    write_conll(train, data["train"])
    write_conll(test, data["test"])
    keras.utils.set_random_seed(1)
    model = TokenClassifier.from_preset(
        "tiny",
        vocabulary=learn_vocabulary(data["train"].texts(), vocab_size=1000),
        tags=scheme_tags(["LOC", "MISC", "ORG", "PER"], "bio"),
        max_length=32,
    )
    training = TrainingConfig(epochs=1, batch_size=16, learning_rate=5e-3, backup_every_steps=None)
    fit_tagger(model, data["train"], data["validation"], training, verbose=0, say=lambda m: None)
    return SimpleNamespace(model_dir=model.save_pretrained(root / "model"), train=train, test=test)


def test_prune_takes_a_ner_model_and_its_output_evaluates_predicts_and_exports(
    capsys, tmp_path, tagger
) -> None:
    output = tmp_path / "pruned"
    result = run(
        capsys, "prune", "--model", tagger.model_dir, "--train-file", tagger.train,
        "--heads", 0.5, "--ffn", 0.5, "--epochs", 0, "--batch-size", 16, "--output-dir", output,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "validation sentences" in result.err and "micro avg" in result.out
    assert "validation entity-level micro F1" in result.out
    bert = json.loads((output / "config.json").read_text(encoding="utf-8"))["bert"]
    assert bert["layer_heads"] == [1, 1] and bert["intermediate_size"] % 16 == 0
    record = json.loads((output / "pruning.json").read_text(encoding="utf-8"))
    assert record["parameters"]["after"] < record["parameters"]["before"]
    evaluated = run(capsys, "evaluate", "--model", output, "--test-file", tagger.test, "--json")
    assert evaluated.code == 0, evaluated.err
    assert json.loads(evaluated.out)["num_sentences"] == 60
    exported = run(capsys, "export", "--model", output, "--export-dir", tmp_path / "export")
    assert exported.code == 0, exported.err
    outputs = []
    for model in (output, tmp_path / "export"):
        predicted = run(capsys, "predict", "--model", model, "--json", *NEW_REVIEWS)
        assert predicted.code == 0, predicted.err
        outputs.append([record["tags"] for record in parse_json(predicted.out)])
    assert outputs[0] == outputs[1] and len(outputs[0]) == len(NEW_REVIEWS)
    wrong = run(capsys, "prune", "--model", tagger.model_dir, "--dataset", "imdb",
                "--output-dir", tmp_path / "other")  # fmt: skip
    assert_usage_error(wrong, "--dataset imdb is not a named-entity recognition dataset")
    assert not (tmp_path / "other").exists()
