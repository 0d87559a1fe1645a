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
