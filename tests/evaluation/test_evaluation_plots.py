"""tfbert.evaluation.plots: real PNGs, titles naming what was measured, the baseline line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from evaluation_cases import MULTI_P, MULTI_Y, multiclass_case

from tfbert.evaluation import (
    EvaluationReport,
    evaluate_predictions,
    plot_confusion_matrix,
    plot_per_class,
    plot_training_curves,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def multiclass_report() -> EvaluationReport:
    return multiclass_case()


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


# ----- titles and the per-class chart ------------------------------------------------------------
def test_titles_name_the_dataset_and_split(
    monkeypatch, tmp_path: Path, multiclass_report: EvaluationReport
) -> None:
    from tfbert.evaluation import confusion_matrix_figure, plots

    saved = []  # (first axes' title, suptitle) of each figure, read just before it is saved
    real_save = plots._save

    def save(figure, path):
        saved.append((figure.axes[0].get_title(), figure.get_suptitle()))
        return real_save(figure, path)

    monkeypatch.setattr(plots, "_save", save)
    plot_confusion_matrix(multiclass_report, tmp_path / "cm.png", dataset="snownlp", split="test")
    title = saved[-1][0]
    assert title.startswith("Confusion matrix · snownlp test\naccuracy 0.625")
    assert (
        confusion_matrix_figure(multiclass_report)
        .axes[0]
        .get_title()
        .startswith("Confusion matrix\naccuracy")
    )
    own = confusion_matrix_figure(multiclass_report, title="IMDB, 500 held-out reviews")
    assert own.axes[0].get_title().startswith("IMDB, 500 held-out reviews\n")

    multilabel = evaluate_predictions(MULTI_Y, MULTI_P, ["toxic", "insult", "threat"], "multilabel")
    plot_confusion_matrix(multilabel, tmp_path / "ml.png", dataset="jigsaw", split="validation")
    assert saved[-1][1].startswith("Per-label confusion · jigsaw validation\n")

    plot_training_curves({"loss": [1.0, 0.5]}, tmp_path / "curves.png", dataset="inews")
    assert saved[-1][1] == "Training curves · inews"


def test_per_class_chart_shows_the_majority_baseline(
    tmp_path: Path, multiclass_report: EvaluationReport
) -> None:
    from matplotlib.container import BarContainer

    from tfbert.evaluation import per_class_figure, plot_per_class

    figure = per_class_figure(multiclass_report, dataset="pets", split="dev")
    ax = figure.axes[0]
    baseline = multiclass_report.majority_baseline()
    assert ax.get_title().startswith("Per-class scores · pets dev\n")
    assert f"majority baseline accuracy {baseline.accuracy:.3f}" in ax.get_title()
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    label = next(name for name in lines if name.startswith("majority baseline (always 'cat')"))
    assert list(lines[label]) == pytest.approx([2 / 11, 2 / 11])  # macro-F1 of always "cat"
    model_line = next(name for name in lines if name.startswith("model macro-F1"))
    assert list(lines[model_line]) == pytest.approx([multiclass_report.macro_f1] * 2)
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    f1_bars = next(c for c in bars if c.get_label() == "F1")
    assert [bar.get_height() for bar in f1_bars] == pytest.approx(
        [c.f1 for c in multiclass_report.per_class]
    )
    assert_png(plot_per_class(multiclass_report, tmp_path / "per_class.png"))

    names = [f"class {i}" for i in range(45)]  # many labels: horizontal bars
    y = list(range(45)) * 2
    report = evaluate_predictions(y, np.eye(45)[y], names, "multiclass")
    image = assert_png(plot_per_class(report, tmp_path / "many.png"))
    assert image.shape[0] > image.shape[1]


def test_per_class_chart_and_confusion_title_show_the_tfidf_baseline(
    tmp_path: Path, multiclass_report: EvaluationReport
) -> None:
    from dataclasses import replace

    from matplotlib.container import BarContainer

    from tfbert.evaluation import BaselineScores, confusion_matrix_figure, per_class_figure

    f1 = {"cat": 0.9, "dog": 0.5, "bird": 0.75}
    report = replace(
        multiclass_report,
        baseline=BaselineScores("TF-IDF + linear_svc", 0.875, 0.7167, f1, fit_seconds=0.4),
    )
    ax = per_class_figure(report).axes[0]
    bars = {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}
    assert list(bars) == ["precision", "recall", "F1", "TF-IDF baseline F1"]
    assert [bar.get_height() for bar in bars["TF-IDF baseline F1"]] == pytest.approx(
        [0.9, 0.5, 0.75]  # in the report's label order, beside each label's model F1
    )
    model_x = [bar.get_x() for bar in bars["F1"]]
    assert all(
        0 < bar.get_x() - x < 0.5
        for bar, x in zip(bars["TF-IDF baseline F1"], model_x, strict=True)
    )
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert list(lines["TF-IDF baseline macro-F1 0.717"]) == pytest.approx([0.7167] * 2)
    expected = "TF-IDF baseline: accuracy 0.875 · macro-F1 0.717 (the model is below it)"
    assert ax.get_title().endswith(expected)
    assert confusion_matrix_figure(report).axes[0].get_title().endswith(expected)
    with_baseline = assert_png(plot_per_class(report, tmp_path / "with.png"))
    without = assert_png(plot_per_class(multiclass_report, tmp_path / "without.png"))
    assert with_baseline.shape != without.shape or not np.array_equal(with_baseline, without)


def test_plots_refuse_bad_paths_before_drawing(
    tmp_path: Path, multiclass_report: EvaluationReport
) -> None:
    from tfbert.evaluation import plot_per_class

    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        plot_per_class(multiclass_report, tmp_path / "dir.png")
    with pytest.raises(ValueError, match=r"ending in \.png"):
        plot_per_class(multiclass_report, tmp_path / "chart.svg")


def test_entity_scores_plot_shows_per_type_scores_and_the_confusion(tmp_path: Path) -> None:
    from matplotlib.container import BarContainer

    from tfbert.evaluation import entity_scores_figure, plot_entity_scores
    from tfbert.evaluation.entities import evaluate_entities

    true = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "I-ORG", "I-ORG", "O", "B-PER"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG", "O"], ["B-ORG", "I-ORG", "O", "O", "B-PER"]]
    report = evaluate_entities(true, predicted)
    figure = entity_scores_figure(report, dataset="conll2003", split="test")
    bars_ax, grid_ax = figure.axes[:2]
    assert figure.get_suptitle().startswith("Entity scores · conll2003 test\n")
    f1_bars = next(
        c for c in bars_ax.containers if isinstance(c, BarContainer) and c.get_label() == "F1"
    )
    assert [bar.get_height() for bar in f1_bars] == pytest.approx([r.f1 for r in report.per_type])
    lines = {line.get_label(): list(line.get_ydata()) for line in bars_ax.get_lines()}
    assert lines[f"micro-F1 {report.micro_f1:.3f}"] == pytest.approx([report.micro_f1] * 2)
    # The heatmap holds the confusion counts, with "missed" and "spurious" as the last column
    # and row, and no number in the unused corner.
    image = grid_ax.get_images()[0].get_array()
    counts = np.asarray(report.confusion, dtype=float)
    counts[-1, -1] = 0.0
    np.testing.assert_array_equal(np.asarray(image), counts)
    assert [t.get_text() for t in grid_ax.get_xticklabels()][-1] == "missed"
    assert [t.get_text() for t in grid_ax.get_yticklabels()][-1] == "spurious"
    cells = {t.get_position(): t.get_text() for t in grid_ax.texts}
    n = len(report.entity_types)
    assert (n, n) not in cells and cells[(1, 0)] == str(report.confusion[0][1])  # (x, y)
    assert_png(plot_entity_scores(report, tmp_path / "entities.png"))
