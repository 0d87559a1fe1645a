"""tfbert.evaluation.classification: metric values checked by hand on tiny cases, and models and
exports evaluated on real text."""

from __future__ import annotations

import numpy as np
import pytest
from evaluation_cases import MULTI_P, MULTI_Y, NAMES, multiclass_case, one_hot_probs

from tfbert.evaluation import EvaluationReport, evaluate_predictions


@pytest.fixture(scope="module")
def multiclass_report() -> EvaluationReport:
    return multiclass_case()


# ----- metric values -----------------------------------------------------------------------------
def test_multiclass_matches_hand_computation(multiclass_report: EvaluationReport) -> None:
    r = multiclass_report
    # Confusion rows: cat -> [2 cat, 1 dog], dog -> [1 cat, 2 dog], bird -> [1 dog, 1 bird].
    assert r.confusion_matrix == [[2, 1, 0], [1, 2, 0], [0, 1, 1]]
    # Column sums give predicted counts: cat 3, dog 4, bird 1.
    expected = {
        "cat": (2 / 3, 2 / 3, 2 / 3, 3),
        "dog": (2 / 4, 2 / 3, 4 / 7, 3),  # F1 = 2 * (1/2 * 2/3) / (1/2 + 2/3) = 4/7
        "bird": (1 / 1, 1 / 2, 2 / 3, 2),
    }
    assert [c.label for c in r.per_class] == NAMES
    for c in r.per_class:
        p, rec, f1, support = expected[c.label]
        assert (c.precision, c.recall, c.f1) == pytest.approx((p, rec, f1))
        assert c.support == support
    assert r.problem_type == "multiclass"
    assert r.num_examples == 8
    assert r.accuracy == pytest.approx(5 / 8)
    assert r.macro_precision == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)  # 13/18
    assert r.macro_recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)  # 11/18
    assert r.macro_f1 == pytest.approx((2 / 3 + 4 / 7 + 2 / 3) / 3)  # 40/63
    assert r.weighted_f1 == pytest.approx((3 * 2 / 3 + 3 * 4 / 7 + 2 * 2 / 3) / 8)  # 53/84
    assert r.extra["weighted_precision"] == pytest.approx((3 * 2 / 3 + 3 * 1 / 2 + 2 * 1) / 8)
    assert r.extra["weighted_recall"] == pytest.approx(5 / 8)  # weighted recall == accuracy


def test_class_never_predicted_gets_zero_row() -> None:
    # "bird" is never predicted (precision 0/0 -> 0) and "fish" appears nowhere at all.
    names = ["cat", "dog", "bird", "fish"]
    report = evaluate_predictions([0, 1, 2, 2], one_hot_probs([0, 1, 1, 1], 4), names, "multiclass")
    rows = {c.label: c for c in report.per_class}
    assert list(rows) == names
    assert (rows["bird"].precision, rows["bird"].recall, rows["bird"].f1) == (0.0, 0.0, 0.0)
    assert rows["bird"].support == 2
    assert (rows["fish"].precision, rows["fish"].recall, rows["fish"].support) == (0.0, 0.0, 0)
    assert rows["dog"].precision == pytest.approx(1 / 3)
    assert rows["dog"].recall == 1.0
    # The zero rows count in the macro average: F1s are 1, 1/2, 0, 0.
    assert report.macro_f1 == pytest.approx((1 + 0.5) / 4)
    assert report.confusion_matrix == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0]]
    assert "roc_auc" not in report.extra  # undefined for a class with no true examples


def test_binary_with_roc_auc() -> None:
    # Positive scores 0.35 and 0.8 vs negatives 0.1 and 0.4: 3 of 4 pairs ranked right.
    positive = np.array([0.1, 0.4, 0.35, 0.8])
    probs = np.stack([1 - positive, positive], axis=1)
    report = evaluate_predictions(np.array([0, 0, 1, 1]), probs, ["neg", "pos"], "binary")
    assert report.extra["roc_auc"] == pytest.approx(0.75)
    # argmax predicts [0, 0, 0, 1]: one true positive, one false negative.
    assert report.confusion_matrix == [[2, 0], [1, 1]]
    assert report.accuracy == pytest.approx(3 / 4)
    pos = report.per_class[1]
    assert (pos.precision, pos.recall, pos.f1) == pytest.approx((1.0, 0.5, 2 / 3))
    neg = report.per_class[0]
    assert (neg.precision, neg.recall) == pytest.approx((2 / 3, 1.0))


def test_binary_roc_auc_skipped_when_one_class_only() -> None:
    probs = np.array([[0.8, 0.2], [0.3, 0.7]])
    report = evaluate_predictions([0, 0], probs, ["neg", "pos"], "binary")
    assert "roc_auc" not in report.extra
    assert report.accuracy == 0.5


def test_multiclass_roc_auc_one_vs_rest_for_perfect_ranking() -> None:
    y = [0, 1, 2, 0, 1, 2]
    report = evaluate_predictions(y, one_hot_probs(y, 3), NAMES, "multiclass")
    assert report.extra["roc_auc"] == pytest.approx(1.0)
    assert report.accuracy == 1.0 and report.macro_f1 == 1.0


def test_multilabel_default_threshold() -> None:
    report = evaluate_predictions(MULTI_Y, MULTI_P, ["a", "b", "c"], "multilabel")
    # At 0.5 only example 3 / label b (0.45) is missed: 3 of 4 rows exact, 1 of 12 cells wrong.
    assert report.accuracy == pytest.approx(3 / 4)
    assert report.extra["hamming_loss"] == pytest.approx(1 / 12)
    assert report.extra["threshold"] == 0.5
    b = report.per_class[1]
    assert (b.precision, b.recall, b.f1, b.support) == pytest.approx((1.0, 0.5, 2 / 3, 2))
    # Micro: tp 5, fp 0, fn 1.
    assert report.extra["micro_precision"] == 1.0
    assert report.extra["micro_recall"] == pytest.approx(5 / 6)
    assert report.extra["micro_f1"] == pytest.approx(10 / 11)
    assert report.macro_f1 == pytest.approx((1 + 2 / 3 + 1) / 3)
    # Per-label [[tn, fp], [fn, tp]].
    assert report.confusion_matrix == [[[2, 0], [0, 2]], [[2, 0], [1, 1]], [[2, 0], [0, 2]]]
    assert report.extra["roc_auc"] == pytest.approx(1.0)  # every label is ranked perfectly


def test_multilabel_threshold_is_inclusive_and_changes_predictions() -> None:
    report = evaluate_predictions(MULTI_Y, MULTI_P, ["a", "b", "c"], "multilabel", threshold=0.4)
    # 0.45 now counts as b (fixed), and 0.4 >= 0.4 adds a false c on example 2.
    assert report.confusion_matrix[1] == [[2, 0], [0, 2]]
    assert report.confusion_matrix[2] == [[1, 1], [0, 2]]
    assert report.accuracy == pytest.approx(3 / 4)
    c = report.per_class[2]
    assert (c.precision, c.recall) == pytest.approx((2 / 3, 1.0))
    assert report.extra["threshold"] == 0.4


# ----- validation --------------------------------------------------------------------------------
GOOD_P = one_hot_probs([0, 1, 2], 3)


@pytest.mark.parametrize(
    ("y_true", "probabilities", "names", "problem_type", "message"),
    [
        ([0, 1], GOOD_P, NAMES, "multiclass", "2 examples but probabilities has 3 rows"),
        ([0, 1, 2], GOOD_P, ["cat", "dog"], "multiclass", "3 columns but there are 2"),
        ([0, 1, 3], GOOD_P, NAMES, "multiclass", r"outside 0\.\.2 \(e\.g\. 3 at position 2\)"),
        ([0, -1, 2], GOOD_P, NAMES, "multiclass", "outside 0..2"),
        ([0, 1, 2], np.where(GOOD_P == 0.7, np.nan, GOOD_P), NAMES, "multiclass", "NaN"),
        ([], np.zeros((0, 3)), NAMES, "multiclass", "Nothing to evaluate"),
        ([0, 1, 2], GOOD_P, NAMES, "regression", "Unknown problem_type 'regression'"),
        ([0, 1, 2], GOOD_P * 10 - 3, NAMES, "multiclass", "look like logits"),
        ([0.0, 1.5, 2.0], GOOD_P, NAMES, "multiclass", "non-integer"),
        (["cat", "dog", "bird"], GOOD_P, NAMES, "multiclass", "label_names.index"),
        (np.eye(3), GOOD_P, NAMES, "multiclass", r"y_true\.argmax\(axis=1\)"),
        ([0, 1, 2], GOOD_P, NAMES, "binary", "exactly 2 label_names"),
        ([0, 1, 0], np.array([0.2, 0.9, 0.1]), ["n", "p"], "binary", r"np\.stack\(\[1 - p, p\]"),
        ([0, 1, 2], GOOD_P, ["cat", "cat", "bird"], "multiclass", "duplicates"),
        ([[1, 0]] * 3, GOOD_P, NAMES, "multilabel", "same shape as probabilities"),
        (np.eye(3) * 2, GOOD_P, NAMES, "multilabel", "only 0 and 1"),
        ([[1], [0]], [[0.9], [0.2]], ["spam"], "multilabel", "problem_type='binary'"),
    ],
)
def test_validation_errors(y_true, probabilities, names, problem_type, message) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_predictions(y_true, probabilities, names, problem_type)


def test_multilabel_threshold_out_of_range() -> None:
    with pytest.raises(ValueError, match="threshold must be in"):
        evaluate_predictions(MULTI_Y, MULTI_P, ["a", "b", "c"], "multilabel", threshold=1.5)


# ----- models and exports on real text -----------------------------------------------------------
def _imdb(imdb_reviews, start: int, per_label: int):
    """`per_label` real IMDB reviews of each label, interleaved, from position `start` of each."""
    from tfbert.data import TextClassificationData

    negative = [t for t, y in imdb_reviews if y == "0"][start : start + per_label]
    positive = [t for t, y in imdb_reviews if y == "1"][start : start + per_label]
    texts = [t for pair in zip(negative, positive, strict=True) for t in pair]
    return TextClassificationData(texts, ["negative", "positive"] * per_label)


def _tiny(english_vocab, labels, **kwargs):
    import keras

    from tfbert.tasks.classifier import BertClassifier

    keras.utils.set_random_seed(5)
    return BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=list(labels), max_length=48, **kwargs
    )


@pytest.fixture(scope="module")
def trained_export(english_vocab, imdb_reviews, tmp_path_factory):
    """A tiny binary classifier trained on 160 real IMDB reviews and exported twice (mean
    pooling: a [CLS] vector this untrained barely varies between texts)."""
    from tfbert.training.fine_tune import TrainingConfig, fine_tune

    model = _tiny(english_vocab, ["negative", "positive"], pooling="mean")
    config = TrainingConfig(epochs=2, batch_size=16, learning_rate=1e-3)
    fine_tune(model, _imdb(imdb_reviews, 0, 80), None, config=config, verbose=0)
    base = tmp_path_factory.mktemp("exports") / "imdb"
    model.export(base, warmup_texts=[])
    model.export(base, warmup_texts=[])  # version 2: the base directory evaluates this one
    return model, base


def assert_same_report(exported: EvaluationReport, original: EvaluationReport) -> None:
    """Same counts exactly; scores equal up to float32 noise in the probabilities."""
    assert exported.problem_type == original.problem_type
    assert exported.label_names == original.label_names
    assert exported.num_examples == original.num_examples
    assert exported.confusion_matrix == original.confusion_matrix
    assert [c.support for c in exported.per_class] == [c.support for c in original.per_class]
    assert _flat(exported.to_dict()) == pytest.approx(_flat(original.to_dict()), abs=1e-5)
    assert exported.format_table() == original.format_table()


def _flat(data, prefix=""):
    """Numbers of a nested report dict by path, for an approximate comparison."""
    if isinstance(data, dict):
        return {
            k: v for key, value in data.items() for k, v in _flat(value, f"{prefix}{key}.").items()
        }
    if isinstance(data, list):
        return {
            k: v for i, value in enumerate(data) for k, v in _flat(value, f"{prefix}{i}.").items()
        }
    return {prefix: data}


def test_saved_model_report_matches_the_model_it_was_exported_from(
    trained_export, imdb_reviews
) -> None:
    from tfbert.evaluation import evaluate_classifier, evaluate_saved_model

    model, base = trained_export
    test = _imdb(imdb_reviews, 300, 40)  # 80 reviews the model never saw
    original = evaluate_classifier(model, test)
    assert original.problem_type == "binary" and original.num_examples == 80
    # Probabilities that differ from review to review: equal ROC AUCs mean equal rankings.
    probabilities = model.predict_texts(test.texts)["probabilities"][:, 1]
    assert probabilities.std() > 1e-3
    assert "roc_auc" in original.extra

    from_base = evaluate_saved_model(base, test)  # highest version, 2
    assert_same_report(from_base, original)
    from_version = evaluate_saved_model(base / "1", test, batch_size=7)
    assert_same_report(from_version, original)


def test_exported_classifier_reads_the_export(trained_export, imdb_reviews) -> None:
    from tfbert.evaluation import ExportedClassifier, TextClassifier

    model, base = trained_export
    exported = ExportedClassifier(base)
    assert exported.path == base / "2"
    assert exported.labels == ["negative", "positive"]
    assert exported.problem_type == "binary" and not exported.pair
    assert isinstance(exported, TextClassifier)
    texts = [t for t, _ in imdb_reviews[300:310]]
    got = exported.predict_texts(texts, batch_size=3)
    expected = model.predict_texts(texts)
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-5)
    assert got["labels"] == expected["labels"]


def test_saved_model_problem_type_read_from_the_outputs(english_vocab, tmp_path) -> None:
    """Softmax rows make a multiclass export, sigmoid rows a multilabel one; either way the
    report equals the model's own."""
    from tfbert.data import TextClassificationData
    from tfbert.evaluation import evaluate_classifier, evaluate_saved_model

    texts = ["A fine film.", "Dull and long.", "Funny, sad and far too long.", "Okay.", "Wow!"]
    single = TextClassificationData(texts, ["good", "bad", "mixed", "mixed", "good"])
    multi = TextClassificationData(
        texts, [["good"], ["bad"], ["good", "bad"], [], ["good", "funny"]]
    )
    for labels, problem_type, data in (
        (["bad", "good", "mixed"], "multiclass", single),
        (["bad", "funny", "good"], "multilabel", multi),
    ):
        model = _tiny(english_vocab, labels, problem_type=problem_type)
        path = model.export(tmp_path / problem_type, warmup_texts=[])
        report = evaluate_saved_model(path, data)
        assert report.problem_type == problem_type
        assert_same_report(report, evaluate_classifier(model, data))


def test_an_export_records_its_problem_type_and_threshold(english_vocab, tmp_path) -> None:
    """The export's model-info file carries the settings; without it they are inferred."""
    from tfbert.contract import ASSETS_EXTRA, MODEL_INFO_FILE
    from tfbert.evaluation import ExportedClassifier

    model = _tiny(english_vocab, ["bad", "funny", "good"], problem_type="multilabel")
    model.threshold = 0.3
    path = model.export(tmp_path / "multi", warmup_texts=[])
    exported = ExportedClassifier(path)
    assert (exported.problem_type, exported.threshold) == ("multilabel", 0.3)
    (path / ASSETS_EXTRA / MODEL_INFO_FILE).unlink()  # an export from before the file existed
    older = ExportedClassifier(path)
    assert (older.problem_type, older.threshold) == ("multilabel", 0.5)


def test_saved_model_pair_export(english_vocab, imdb_reviews, tmp_path) -> None:
    from tfbert.data import TextClassificationData
    from tfbert.evaluation import evaluate_classifier, evaluate_saved_model
    from tfbert.export import export_saved_model

    model = _tiny(english_vocab, ["no", "yes"])
    path = export_saved_model(model, tmp_path / "pairs", pair=True, warmup_texts=[])
    reviews = [t for t, _ in imdb_reviews[:12]]
    data = TextClassificationData(reviews[:6], ["no", "yes"] * 3, text_pairs=reviews[6:])
    assert_same_report(evaluate_saved_model(path, data), evaluate_classifier(model, data))
    with pytest.raises(ValueError, match="sentence-pair model; the data needs a second text"):
        evaluate_saved_model(path, TextClassificationData(reviews[:2], ["no", "yes"]))


def test_saved_model_bad_input_is_one_line(trained_export, tmp_path) -> None:
    from tfbert.data import TextClassificationData
    from tfbert.errors import DataError, ModelFileError
    from tfbert.evaluation import evaluate_saved_model

    _, base = trained_export
    with pytest.raises(ModelFileError, match="neither a tfbert model directory nor a SavedModel"):
        evaluate_saved_model(tmp_path, TextClassificationData(["a"], ["positive"]))
    with pytest.raises(DataError, match="no labels"):
        evaluate_saved_model(base, TextClassificationData(["a", "b"], None))
    with pytest.raises(DataError, match="not in the label vocabulary: 'meh'"):
        evaluate_saved_model(base, TextClassificationData(["a", "b"], ["positive", "meh"]))
    with pytest.raises(DataError, match="paired texts"):
        evaluate_saved_model(base, TextClassificationData(["a"], ["positive"], text_pairs=["b"]))
    with pytest.raises(DataError, match="Unknown problem_type 'ner'"):
        evaluate_saved_model(base, TextClassificationData(["a"], ["positive"]), problem_type="ner")


def test_evaluate_classifier_takes_any_text_classifier(imdb_reviews) -> None:
    """Not a BertClassifier: a word-count rule with the three things evaluation needs."""
    from tfbert.evaluation import evaluate_classifier

    class WordRule:
        labels = ["negative", "positive"]
        problem_type = "binary"

        def predict_texts(self, texts, text_pairs=None, batch_size=32, verbose=0):
            good = np.array([t.lower().count("great") + t.lower().count("best") for t in texts])
            bad = np.array([t.lower().count("bad") + t.lower().count("worst") for t in texts])
            positive = np.where(good > bad, 0.8, np.where(good < bad, 0.2, 0.5))
            return {"probabilities": np.stack([1 - positive, positive], axis=1)}

    data = _imdb(imdb_reviews, 0, 50)
    report = evaluate_classifier(WordRule(), data)
    expected = evaluate_predictions(
        [0 if label == "negative" else 1 for label in data.labels],
        WordRule().predict_texts(data.texts)["probabilities"],
        ["negative", "positive"],
        "binary",
    )
    assert report == expected
    assert 0.5 < report.accuracy < 1.0  # the rule is real but imperfect on real reviews
