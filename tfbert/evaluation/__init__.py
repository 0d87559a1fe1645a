"""Measuring trained models: metrics per task kind, one report face, and plots.

- `classification`: `evaluate_predictions` (arrays), `evaluate_classifier` (any text
  classifier over labelled data), `evaluate_saved_model` (an exported SavedModel).
- `report`: `EvaluationReport` and the `Report` base every task kind's report builds on
  (JSON round trip, text table); `load_report` reads any of them back. `BaselineScores`: the
  TF-IDF baseline's scores that a report shows beside the model's.
- `baseline`: `fit_baseline` (the TF-IDF baseline on a model's training split),
  `load_baseline` (the one `tfbert train` saved in a model directory).
- `plots`: confusion matrices, per-class scores with the majority-class and TF-IDF baselines,
  training curves; titles name the dataset and split they measure.

A new task kind adds its own module here (metrics and a `Report` subclass with its `kind`)
without changing these.

Importing this package is cheap: scikit-learn, matplotlib and TensorFlow are imported by the
functions that need them.
"""

from tfbert.evaluation.baseline import BASELINE_DIR, fit_baseline, load_baseline
from tfbert.evaluation.classification import (
    PROBLEM_TYPES,
    ExportedClassifier,
    TextClassifier,
    baseline_scores,
    evaluate_classifier,
    evaluate_predictions,
    evaluate_saved_model,
)
from tfbert.evaluation.plots import (
    confusion_matrix_figure,
    entity_scores_figure,
    per_class_figure,
    plot_confusion_matrix,
    plot_entity_scores,
    plot_per_class,
    plot_training_curves,
    training_curves_figure,
)
from tfbert.evaluation.report import (
    BaselineScores,
    ClassReport,
    EvaluationReport,
    MajorityBaseline,
    Report,
    load_report,
)

__all__ = [
    "BASELINE_DIR",
    "PROBLEM_TYPES",
    "BaselineScores",
    "ClassReport",
    "EvaluationReport",
    "ExportedClassifier",
    "MajorityBaseline",
    "Report",
    "TextClassifier",
    "baseline_scores",
    "confusion_matrix_figure",
    "entity_scores_figure",
    "evaluate_classifier",
    "evaluate_predictions",
    "evaluate_saved_model",
    "fit_baseline",
    "load_baseline",
    "load_report",
    "per_class_figure",
    "plot_confusion_matrix",
    "plot_entity_scores",
    "plot_per_class",
    "plot_training_curves",
    "training_curves_figure",
]
