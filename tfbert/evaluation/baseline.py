"""The TF-IDF baseline every evaluation is compared with: fit it, keep it beside a model, reload it.

A model is worth its training time only where it beats what a TF-IDF + linear model
(`tfbert.tasks.tfidf.TfidfClassifier`) fitted in seconds on the same training split already
gets. `tfbert train` fits that baseline after training, scores it beside the model on the
validation split and saves it in the model directory (`BASELINE_DIR`); `tfbert evaluate` reuses
it on any split, or fits one when it knows the training split. From Python:

    from tfbert.evaluation import evaluate_classifier
    from tfbert.evaluation.baseline import fit_baseline, load_baseline

    baseline = load_baseline("runs/imdb") or fit_baseline(
        splits.train, splits.validation, labels=model.labels
    )
    report = evaluate_classifier(model, splits.test, baseline=baseline)
    print(report.format_table())        # the baseline beside the model, and a warning if below

The baseline is binary or multiclass and reads one text per example: for multilabel data or
text pairs there is none, and `fit_baseline` says so in one line instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tfbert.errors import DataError

BASELINE_DIR = "baseline"  # where a model directory keeps its fitted TF-IDF baseline


def why_no_baseline(data: Any, problem_type: str | None = None) -> str | None:
    """Why no TF-IDF baseline can be fitted for a model of `problem_type` on `data` (one
    line), or None when one can."""
    if problem_type == "multilabel" or getattr(data, "is_multi_label", False):
        return (
            "No TF-IDF baseline: it gives one label per text, and this data is multilabel "
            "(the model's report stands alone)."
        )
    if getattr(data, "text_pairs", None) is not None:
        return (
            "No TF-IDF baseline: it reads one text per example, and this data holds text pairs "
            "(the model's report stands alone)."
        )
    return None


def fit_baseline(
    train: Any,
    validation: Any,
    *,
    labels: Sequence[str] | None = None,
    problem_type: str | None = None,
    say: Callable[[str], None] | None = None,
) -> Any:
    """The TF-IDF baseline fitted on `train` and chosen on `validation`, or None.

    `labels` fixes its label order (give the model's, so that their per-label scores line up);
    `problem_type` is the model's. Where no baseline fits (multilabel data, text pairs, a label
    with no training example, too few texts for any term) the result is None and `say` (e.g.
    `print`; default: silent) gets one line saying why; otherwise `say` gets the chosen
    configuration and its fit time. The result is a `tfbert.tasks.tfidf.TfidfClassifier`:
    save it with `save_pretrained`.
    """
    from tfbert.tasks.tfidf import TfidfClassifier

    say = say or (lambda message: None)
    reason = why_no_baseline(train, problem_type)
    if reason is not None:
        say(reason)
        return None
    say(f"Fitting the TF-IDF baseline on {len(train):,} training texts...")
    try:
        model = TfidfClassifier.fit(train, validation, labels=labels)
    except (DataError, ValueError) as error:  # ValueError: scikit-learn found no terms
        say(f"No TF-IDF baseline: {error}")
        return None
    say(f"TF-IDF baseline: {model.description()} ({model.settings['seconds']:.1f} s).")
    return model


def load_baseline(model_dir: str | Path) -> Any:
    """The TF-IDF baseline saved in a model directory by `tfbert train`, or None if it has none."""
    from tfbert.tasks.tfidf import CONFIG_FILE, TfidfClassifier

    directory = Path(model_dir) / BASELINE_DIR
    if not (directory / CONFIG_FILE).is_file():
        return None
    return TfidfClassifier.load(directory)


__all__ = ["BASELINE_DIR", "fit_baseline", "load_baseline", "why_no_baseline"]
