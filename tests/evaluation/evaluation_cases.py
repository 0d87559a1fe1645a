"""Small hand-checked evaluation cases shared by the tests of tfbert.evaluation."""

from __future__ import annotations

import numpy as np

from tfbert.evaluation import EvaluationReport, evaluate_predictions

NAMES = ["cat", "dog", "bird"]

MULTI_Y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
MULTI_P = np.array([[0.9, 0.2, 0.6], [0.3, 0.7, 0.4], [0.6, 0.45, 0.1], [0.2, 0.1, 0.55]])


def one_hot_probs(predicted: list[int], num_classes: int, top: float = 0.7) -> np.ndarray:
    """Softmax-like rows whose argmax is `predicted` (the rest of the mass spread evenly)."""
    probs = np.full((len(predicted), num_classes), (1 - top) / (num_classes - 1))
    probs[np.arange(len(predicted)), predicted] = top
    return probs


def multiclass_case() -> EvaluationReport:
    # true:  cat cat cat dog dog dog bird bird
    # pred:  cat cat dog dog dog cat bird dog
    y_true = [0, 0, 0, 1, 1, 1, 2, 2]
    y_pred = [0, 0, 1, 1, 1, 0, 2, 1]
    return evaluate_predictions(y_true, one_hot_probs(y_pred, 3), NAMES, "multiclass")
