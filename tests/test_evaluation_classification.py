"""Tests for tfbert.evaluation: metric values checked by hand on tiny cases, and the plots."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tfbert.evaluation import (
    ClassReport,
    EvaluationReport,
    _width,
    evaluate_predictions,
    plot_confusion_matrix,
    plot_training_curves,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAMES = ["cat", "dog", "bird"]


def one_hot_probs(predicted: list[int], num_classes: int, top: float = 0.7) -> np.ndarray:
    """Softmax-like rows whose argmax is `predicted` (the rest of the mass spread evenly)."""
    probs = np.full((len(predicted), num_classes), (1 - top) / (num_classes - 1))
    probs[np.arange(len(predicted)), predicted] = top
    return probs


@pytest.fixture(scope="module")
def multiclass_report() -> EvaluationReport:
    # true:  cat cat cat dog dog dog bird bird
    # pred:  cat cat dog dog dog cat bird dog
    y_true = [0, 0, 0, 1, 1, 1, 2, 2]
    y_pred = [0, 0, 1, 1, 1, 0, 2, 1]
    return evaluate_predictions(y_true, one_hot_probs(y_pred, 3), NAMES, "multiclass")


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


MULTI_Y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
MULTI_P = np.array([[0.9, 0.2, 0.6], [0.3, 0.7, 0.4], [0.6, 0.45, 0.1], [0.2, 0.1, 0.55]])


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


# ----- serialisation and text --------------------------------------------------------------------
def test_json_round_trip(tmp_path: Path, multiclass_report: EvaluationReport) -> None:
    path = multiclass_report.to_json(tmp_path / "nested" / "eval.json")
    assert path.is_file()
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["accuracy"] == pytest.approx(5 / 8)
    assert data["per_class"][0] == {
        "label": "cat",
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(2 / 3),
        "support": 3,
    }
    loaded = EvaluationReport.from_json(path)
    assert loaded == multiclass_report
    assert isinstance(loaded.per_class[0], ClassReport)


def test_json_round_trip_multilabel_and_unicode(tmp_path: Path) -> None:
    report = evaluate_predictions(MULTI_Y, MULTI_P, ["体育", "财经", "科技"], "multilabel")
    loaded = EvaluationReport.from_json(report.to_json(tmp_path / "ml.json"))
    assert loaded == report
    assert "体育" in (tmp_path / "ml.json").read_text(encoding="utf-8")


def test_from_dict_names_missing_keys(multiclass_report: EvaluationReport) -> None:
    data = multiclass_report.to_dict()
    del data["macro_f1"], data["per_class"]
    with pytest.raises(ValueError, match="missing macro_f1, per_class"):
        EvaluationReport.from_dict(data)


def test_format_table_multiclass(multiclass_report: EvaluationReport) -> None:
    table = multiclass_report.format_table()
    for name in NAMES:
        assert name in table
    assert re.search(r"^accuracy\s+0\.625\s+8$", table, re.M)
    assert re.search(r"^macro avg\s+0\.722\s+0\.611\s+0\.635\s+8$", table, re.M)  # 13/18 11/18
    assert re.search(r"^weighted avg\s+.*0\.631\s+8$", table, re.M)  # 53/84
    assert re.search(r"^dog\s+0\.500\s+0\.667\s+0\.571\s+3$", table, re.M)
    # Confusion matrix rows are labelled with the true class and hold its counts.
    assert re.search(r"^bird\s+0\s+1\s+1$", table, re.M)
    header = next(line for line in table.splitlines() if line.startswith("true \\ pred"))
    assert header.split()[-3:] == NAMES


def test_format_table_truncates_long_and_aligns_wide_names() -> None:
    names = ["a label name that is far too long for any table column", "体育新闻", "x"]
    report = evaluate_predictions([0, 1, 2], one_hot_probs([0, 1, 2], 3), names, "multiclass")
    lines = report.format_table().splitlines()
    assert any("…" in line for line in lines)
    assert all(_width(line) <= 100 for line in lines)
    start = next(i for i, line in enumerate(lines) if line.startswith("label"))
    block = lines[start : start + 2 + len(names)]  # header, rule, one row per label
    assert len({_width(line) for line in block}) == 1  # CJK counted as two columns


def test_format_table_multilabel() -> None:
    report = evaluate_predictions(MULTI_Y, MULTI_P, ["toxic", "insult", "threat"], "multilabel")
    table = report.format_table()
    assert re.search(r"^subset accuracy\s+0\.750\s+4$", table, re.M)
    assert re.search(r"^micro avg\s+1\.000\s+0\.833\s+0\.909\s+6$", table, re.M)
    assert re.search(r"^hamming_loss\s+0\.083$", table, re.M)
    assert re.search(r"^insult\s+2\s+0\s+1\s+1$", table, re.M)  # tn fp fn tp


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


# ----- plots -------------------------------------------------------------------------------------
def assert_png(path: Path, min_kb: float = 10, min_side: int = 300) -> np.ndarray:
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_kb * 1024
    image = imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert min(image.shape[:2]) >= min_side
    assert image[..., :3].std() > 0.05  # not a blank canvas
    return image


def test_plot_confusion_matrix_multiclass(
    tmp_path: Path, multiclass_report: EvaluationReport
) -> None:
    path = plot_confusion_matrix(multiclass_report, tmp_path / "plots" / "cm.png")
    assert path == tmp_path / "plots" / "cm.png"
    normalized = assert_png(path)
    counts = assert_png(
        plot_confusion_matrix(multiclass_report, tmp_path / "counts.png", normalize=False)
    )
    assert not np.array_equal(normalized, counts)  # colours (and cell text) differ


def test_plot_confusion_matrix_multilabel_grid(tmp_path: Path) -> None:
    report = evaluate_predictions(MULTI_Y, MULTI_P, ["toxic", "insult", "threat"], "multilabel")
    image = assert_png(plot_confusion_matrix(report, tmp_path / "ml.png"))
    assert image.shape[1] > image.shape[0]  # three 2x2 panels side by side


def test_plot_confusion_matrix_rejects_other_formats(
    tmp_path: Path, multiclass_report: EvaluationReport
) -> None:
    with pytest.raises(ValueError, match=r"ending in \.png"):
        plot_confusion_matrix(multiclass_report, tmp_path / "cm.jpg")


def test_plot_training_curves(tmp_path: Path) -> None:
    history = {
        "loss": [0.9, 0.6, 0.4, 0.3],
        "accuracy": [0.6, 0.75, 0.85, 0.9],
        "val_loss": [0.8, 0.6, 0.55, 0.6],
        "val_accuracy": [0.62, 0.72, 0.78, 0.77],
    }
    path = plot_training_curves(history, tmp_path / "a" / "b" / "curves.png")
    image = assert_png(path)
    assert image.shape[1] > 1.5 * image.shape[0]  # two subplots side by side

    class FakeHistory:  # keras.callbacks.History exposes the dict as `.history`
        def __init__(self, history: dict[str, list[float]]) -> None:
            self.history = history

    assert_png(plot_training_curves(FakeHistory({"loss": [1.0, 0.5]}), tmp_path / "h.png"))


def test_plot_training_curves_rejects_empty_history(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no recorded epochs"):
        plot_training_curves({"loss": []}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="list of numbers"):
        plot_training_curves({"loss": ["a", "b"]}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
