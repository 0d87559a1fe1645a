"""An ensemble of a trained text classifier and the TF-IDF baseline, weighted on validation.

A neural classifier (BERT, TextCNN or BiLSTM: a `TextClassifier`) and the TF-IDF + linear
model (`TfidfClassifier`) make different mistakes: one reads learned subword features, the
other counts words or characters. `EnsembleClassifier` combines their probabilities as a
weighted geometric mean, normalised again:

    p(label) ∝ p_model(label) ** a * p_baseline(label) ** b        (a, b >= 0)

that is, a softmax over the weighted sum of the members' log-probabilities. The two weights do
not have to sum to 1: each also rescales its member's confidence. That matters because the
baseline's probabilities are often not calibrated (a LinearSVC's scores through a sigmoid
are typically far too unsure): with weights tied to sum to 1 the ensemble would have to trust
the sure-sounding member more, not the better one.

`EnsembleClassifier.fit` tries every pair of weights in `WEIGHTS` (0 and 2**(i/2) from 1/16 to
4, so steps of a factor of about 1.4) on the validation split and keeps the pair with the
lowest validation log-loss. Log-loss, not accuracy, picks them: it scores every probability
rather than only which side of 0.5 it falls, so it changes smoothly with the weights, while
accuracy moves in steps of one text and is flat over wide ranges of weights (the choice would
rest on a handful of borderline texts). The pairs (1, 0) and (0, 1) are the members
themselves, so the fitted ensemble's validation log-loss is never above either member's. This
is a two-parameter stacker. A scikit-learn LogisticRegression over both members'
log-probabilities (K x 2K + K parameters) is measured beside it by benchmarks/ensemble.py: as
good on two-label data, better on three-label news, where per-label weights help; it is not
used here yet.

The ensemble *beats both* when its validation accuracy is above each member's (its log-loss
is not worse by construction); `verdict()` says so plainly, or names the better member to use
instead.

    ensemble = EnsembleClassifier.fit(model, splits.validation, train=splits.train)
    print(ensemble.format_scores(), ensemble.verdict(), sep="\n")
    report = evaluate_classifier(ensemble, splits.test)   # the usual classification report
    ensemble.save_pretrained("models/ensemble")            # model/, baseline/, config.json
    ensemble.export("exports/ensemble")                    # one SavedModel, raw strings in

The export is one SavedModel with every tfbert classifier's signatures
(tfbert.export.classifier): both members run inside it, the neural model behind its in-graph
tokenizer and the baseline behind its in-graph TF-IDF, and the weighted combination follows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfbert.contract import CONFIG_FILE
from tfbert.data.readers import TextClassificationData
from tfbert.errors import DataError, ModelFileError
from tfbert.files import atomic_write_text
from tfbert.tasks.classifier import TextClassifier, classification_result
from tfbert.tasks.inference import check_texts
from tfbert.tasks.tfidf import TfidfClassifier, TfidfGraph

FORMAT_NAME = "tfbert-ensemble"  # what an ensemble directory's config.json says it is
MODEL_DIR, BASELINE_DIR = "model", "baseline"  # the members' subdirectories
# Each member's weights tried: 0, and 1/16 to 4 in steps of a factor of sqrt(2) (1 included).
WEIGHTS = (0.0, *(round(2 ** (i / 2), 4) for i in range(-8, 5)))
SMALLEST_PROBABILITY = 1e-7  # probabilities are clipped to this before a logarithm
MEMBER_NAMES = {"model": "the trained model", "baseline": "the TF-IDF baseline"}


def combine_probabilities(
    model_probabilities: Any,
    baseline_probabilities: Any,
    model_weight: float,
    baseline_weight: float,
) -> tf.Tensor:
    """The ensemble's probabilities [batch, labels] (float32) from its members' rows:
    softmax(model_weight * log p_model + baseline_weight * log p_baseline).

    The same function runs eagerly in `predict_texts` and inside the exported graph.
    """

    def log(probabilities: Any) -> tf.Tensor:
        return tf.math.log(tf.maximum(tf.cast(probabilities, tf.float32), SMALLEST_PROBABILITY))

    return tf.nn.softmax(
        model_weight * log(model_probabilities) + baseline_weight * log(baseline_probabilities),
        axis=-1,
    )


def validation_scores(label_ids: np.ndarray, probabilities: Any, num_labels: int) -> dict:
    """Accuracy, macro-F1 and log-loss (scikit-learn) of probability rows against label ids."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    rows = np.asarray(probabilities, np.float64)
    rows = rows / rows.sum(axis=1, keepdims=True)  # float32 rows sum to 1 only approximately
    predicted = rows.argmax(axis=1)
    labels = list(range(num_labels))
    return {
        "accuracy": float(accuracy_score(label_ids, predicted)),
        "macro_f1": float(
            f1_score(label_ids, predicted, labels=labels, average="macro", zero_division=0)
        ),
        "log_loss": float(log_loss(label_ids, rows, labels=labels)),
    }


class EnsembleClassifier:
    """A trained `TextClassifier` and a `TfidfClassifier` over the same labels, combined with
    two weights fitted on validation (see the module doc).

    Build one with `EnsembleClassifier.fit(model, validation, ...)` or `.load(directory)`;
    the constructor takes the members and already chosen weights (`model_weight`,
    `baseline_weight`). `validation` holds what `fit` measured (members' and ensemble's scores,
    the grid).
    It has the face `tfbert.evaluation.evaluate_classifier` needs: `labels`, `problem_type`,
    `threshold` and `predict_texts`.
    """

    def __init__(
        self,
        model: TextClassifier,
        baseline: TfidfClassifier,
        model_weight: float,
        baseline_weight: float,
        validation: dict[str, Any] | None = None,
    ) -> None:
        check_members(model, baseline)
        weights = (float(model_weight), float(baseline_weight))
        if not all(np.isfinite(w) and w >= 0 for w in weights) or not any(weights):
            raise ValueError(
                f"the weights must be at least 0 and not both 0, got {model_weight!r} and "
                f"{baseline_weight!r}."
            )
        self.model = model
        self.baseline = baseline
        self.model_weight, self.baseline_weight = weights
        self.labels = list(model.labels)
        self.problem_type = model.problem_type
        self.threshold = 0.5
        self.validation = dict(validation or {})
        # The baseline's columns in the model's label order.
        self._baseline_columns = [baseline.labels.index(label) for label in self.labels]

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def weights(self) -> list[Any]:
        """Both members' parameters: the model's variables, the baseline's arrays."""
        baseline = [self.baseline.idf, self.baseline.weights, self.baseline.bias]
        return [*self.model.weights, *baseline]

    # ----- fitting -----------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        model: TextClassifier,
        validation: TextClassificationData,
        *,
        baseline: TfidfClassifier | None = None,
        train: TextClassificationData | None = None,
        chinese: str = "characters",
        batch_size: int = 64,
        say: Callable[[str], None] | None = None,
    ) -> EnsembleClassifier:
        """Chooses the pair of weights with the lowest log-loss on `validation`.

        `baseline` is a fitted `TfidfClassifier`; without one, it is fitted here on `train`
        (the model's training split, with the model's label order; `chinese` as in
        `TfidfClassifier.fit`). `say` receives progress lines.
        """
        if not isinstance(validation, TextClassificationData) or validation.labels is None:
            raise DataError("the validation data must be labelled TextClassificationData.")
        if len(validation) == 0:
            raise DataError("the validation data is empty; the weights are fitted on it.")
        if validation.text_pairs is not None:
            raise DataError("the ensemble reads single texts; the validation data has pairs.")
        if baseline is None:
            if train is None:
                raise DataError(
                    "give a fitted TF-IDF baseline (baseline=...) or the training data "
                    "(train=...) to fit one on."
                )
            if say is not None:
                say("Fitting the TF-IDF baseline on the training split:")
            baseline = TfidfClassifier.fit(
                train, validation, chinese=chinese, labels=model.labels, say=say
            )
        check_members(model, baseline)
        label_ids = np.asarray(model.encode_labels(validation.labels)).reshape(len(validation))
        label_ids = label_ids.astype(np.int64)
        if say is not None:
            say(f"Scoring both members on {len(validation):,} validation texts...")
        columns = [baseline.labels.index(label) for label in model.labels]
        model_p = model.predict_texts(validation.texts, batch_size=batch_size)["probabilities"]
        baseline_p = baseline.predict_texts(validation.texts)["probabilities"][:, columns]
        # The validation log-loss of every pair of weights (float64); the reported scores of
        # the chosen pair and of the members come from scikit-learn below.
        from scipy.special import log_softmax

        pairs = [(a, b) for a in WEIGHTS for b in WEIGHTS if a or b]
        rows = np.arange(len(validation))
        log_model = np.log(np.maximum(model_p.astype(np.float64), SMALLEST_PROBABILITY))
        log_baseline = np.log(np.maximum(baseline_p.astype(np.float64), SMALLEST_PROBABILITY))
        losses = [
            -float(log_softmax(a * log_model + b * log_baseline, axis=1)[rows, label_ids].mean())
            for a, b in pairs
        ]
        # Lowest log-loss; on a tie, the first pair (smaller model weight, then baseline's).
        best = int(np.argmin(losses))
        model_weight, baseline_weight = pairs[best]
        k = len(model.labels)

        def score(a: float, b: float) -> dict[str, float]:
            probabilities = combine_probabilities(model_p, baseline_p, a, b).numpy()
            return validation_scores(label_ids, probabilities, k)

        scores = {
            "model": score(1.0, 0.0),  # the members, as the grid holds them
            "baseline": score(0.0, 1.0),
            "ensemble": score(model_weight, baseline_weight),
        }
        validation_record = {
            "examples": len(validation),
            "selected_by": "log_loss",
            "scores": scores,
            "grid": [
                {"model_weight": a, "baseline_weight": b, "log_loss": loss}
                for (a, b), loss in zip(pairs, losses, strict=True)
            ],
        }
        return cls(model, baseline, model_weight, baseline_weight, validation_record)

    # ----- what the fit says -------------------------------------------------------------------
    @property
    def scores(self) -> dict[str, dict[str, float]]:
        """Validation scores of "model", "baseline" and "ensemble" (empty when not fitted here)."""
        return self.validation.get("scores", {})

    @property
    def beats_both(self) -> bool | None:
        """Whether the ensemble's validation accuracy is above both members' (None: unknown)."""
        scores = self.scores
        if not scores:
            return None
        best_member = max(scores["model"]["accuracy"], scores["baseline"]["accuracy"])
        return scores["ensemble"]["accuracy"] > best_member

    @property
    def better_member(self) -> str | None:
        """ "model" or "baseline": the member with the higher validation accuracy (lower
        log-loss on a tie); None when no validation scores are known."""
        scores = self.scores
        if not scores:
            return None
        return max(
            ("model", "baseline"),
            key=lambda m: (scores[m]["accuracy"], -scores[m]["log_loss"]),
        )

    def description(self) -> str:
        """One line: how the members are combined."""
        return (
            f"softmax({self.model_weight:g} x log p(model) + {self.baseline_weight:g} x "
            "log p(TF-IDF baseline))"
        )

    def format_scores(self) -> str:
        """The three validation scores as a small table."""
        scores = self.scores
        if not scores:
            return "(no validation scores: this ensemble was not fitted here)"
        lines = [f"{'validation':<22}{'accuracy':>10}{'macro-F1':>10}{'log-loss':>10}"]
        for key, name in (
            ("model", "model"),
            ("baseline", "TF-IDF baseline"),
            ("ensemble", "ensemble"),
        ):
            row = scores[key]
            lines.append(
                f"{name:<22}{row['accuracy']:>10.4f}{row['macro_f1']:>10.4f}{row['log_loss']:>10.4f}"
            )
        return "\n".join(lines)

    def verdict(self) -> str:
        """A plain sentence: whether the ensemble beats both members on validation, and if
        not, which member to use instead."""
        if self.beats_both is None:
            return "No validation scores are recorded for this ensemble."
        scores = self.scores
        accuracy = scores["ensemble"]["accuracy"]
        if self.beats_both:
            return (
                f"The ensemble beats both members on validation: accuracy {accuracy:.4f} vs "
                f"{scores['model']['accuracy']:.4f} (model) and "
                f"{scores['baseline']['accuracy']:.4f} (TF-IDF baseline)."
            )
        better = self.better_member
        assert better is not None
        return (
            f"The ensemble does not beat both members on validation (accuracy {accuracy:.4f}, "
            f"{MEMBER_NAMES[better]} {scores[better]['accuracy']:.4f}): use "
            f"{MEMBER_NAMES[better]} alone."
        )

    # ----- prediction --------------------------------------------------------------------------
    def predict_texts(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        batch_size: int = 32,
        verbose: int | str = 0,
    ) -> dict[str, Any]:
        """Probabilities, label ids and label names for a list of strings, in their order (the
        dict `TextClassifier.predict_texts` returns)."""
        texts, pairs = check_texts(texts, text_pairs)
        if pairs is not None:
            raise DataError("the ensemble reads single texts, not text pairs.")
        if not texts:
            probabilities = np.zeros((0, self.num_labels), np.float32)
        else:
            model_p = self.model.predict_texts(texts, batch_size=batch_size, verbose=verbose)
            baseline_p = self.baseline.predict_texts(texts)["probabilities"]
            probabilities = combine_probabilities(
                model_p["probabilities"],
                baseline_p[:, self._baseline_columns],
                self.model_weight,
                self.baseline_weight,
            ).numpy()
        return classification_result(probabilities, self.labels, self.problem_type)

    # ----- saving ------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Writes the members to `model/` and `baseline/` and the weights to config.json
        (JSON and safetensors, no pickle)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory / MODEL_DIR)
        self.baseline.save_pretrained(directory / BASELINE_DIR)
        config = {
            "format": FORMAT_NAME,
            "labels": self.labels,
            "problem_type": self.problem_type,
            "model_weight": self.model_weight,
            "baseline_weight": self.baseline_weight,
            "members": {"model": MODEL_DIR, "baseline": BASELINE_DIR},
            "validation": self.validation,
        }
        atomic_write_text(
            directory / CONFIG_FILE, json.dumps(config, indent=2, ensure_ascii=False) + "\n"
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> EnsembleClassifier:
        """Restores an ensemble written by `save_pretrained`."""
        directory = Path(directory)
        config = read_ensemble_config(directory)
        if config is None:
            raise ModelFileError(
                f"{directory / CONFIG_FILE} does not describe a tfbert ensemble; give a "
                "directory written by EnsembleClassifier.save_pretrained (`tfbert ensemble`)."
            )
        try:
            weights = float(config["model_weight"]), float(config["baseline_weight"])
            members = config.get("members", {})
            model_dir = directory / members.get("model", MODEL_DIR)
            baseline_dir = directory / members.get("baseline", BASELINE_DIR)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ModelFileError(
                f"{directory / CONFIG_FILE} is incomplete ({error}); save the ensemble again."
            ) from None
        model = TextClassifier.load(model_dir)
        baseline = TfidfClassifier.load(baseline_dir)
        return cls(model, baseline, *weights, config.get("validation"))

    # ----- export ------------------------------------------------------------------------------
    def export(
        self,
        export_base: str | Path,
        version: int | None = None,
        *,
        overwrite: bool = False,
        warmup_texts: Sequence[str] | None = None,
        micro_batch: int | None = 8,
    ) -> Path:
        """Writes ONE SavedModel taking raw strings to `<export_base>/<version>/`; returns it.

        The signatures, label names, model info and warm-up requests are every tfbert
        classifier's (tfbert.export.classifier). In the graph the neural model runs behind its
        tokenizer (in length-sorted micro-batches of `micro_batch` rows, as
        `TextClassifier.export`), the baseline behind its TF-IDF (as `TfidfClassifier.export`,
        so a baseline on jieba words cannot be exported), and the weighted combination follows.
        """
        if self.baseline.analyzer == "jieba":
            raise ModelFileError(
                "the ensemble's TF-IDF baseline uses jieba words, which run in Python, not in a "
                "TensorFlow graph; fit the baseline on characters to export the ensemble."
            )
        from tfbert.export.classifier import ClassifierServingModule, write_classifier

        tokenizer = self.model.preprocessor.with_padding("longest")
        model_logits = self.model.numeric_logits(micro_batch, constant_weights=False)
        graph = TfidfGraph(self.baseline)
        columns = tf.constant(self._baseline_columns, tf.int32)

        def probabilities(texts: tf.Tensor) -> tf.Tensor:
            model_p = self.model.probabilities(model_logits(tokenizer(texts)))
            baseline_p = graph.probabilities(graph.logits(graph.tfidf(texts)))
            baseline_p = tf.gather(baseline_p, columns, axis=1)
            return combine_probabilities(
                model_p, baseline_p, self.model_weight, self.baseline_weight
            )

        module = ClassifierServingModule(
            logits=probabilities,  # texts -> the ensemble's probabilities
            tokenizer=lambda texts: texts,  # each member tokenizes in its own way
            probabilities=lambda p: p,
            labels=self.labels,
            pair=False,
            weights=[v.value for v in self.model.weights] + graph.variables_to_track,
        )
        module.tfidf_terms = graph.vectorizer  # tracks the vocabulary's lookup table
        return write_classifier(
            module,
            self.labels,
            export_base,
            version,
            overwrite=overwrite,
            warmup_texts=warmup_texts,
            settings={
                "problem_type": self.problem_type,
                "threshold": self.threshold,
                "ensemble": {
                    "model_weight": self.model_weight,
                    "baseline_weight": self.baseline_weight,
                    "baseline": self.baseline.description(),
                },
            },
        )

    def __repr__(self) -> str:
        return (
            f"EnsembleClassifier(labels={self.labels!r}, model_weight={self.model_weight:g}, "
            f"baseline_weight={self.baseline_weight:g})"
        )


def check_members(model: Any, baseline: Any) -> None:
    """A clear error unless `model` and `baseline` can be combined: a single-text binary or
    multiclass `TextClassifier` and a `TfidfClassifier` with the same labels and problem type."""
    if not isinstance(model, TextClassifier):
        raise TypeError(
            f"the ensemble's model must be a trained TextClassifier (BERT, TextCNN or BiLSTM), "
            f"got {type(model).__name__}."
        )
    if not isinstance(baseline, TfidfClassifier):
        raise TypeError(
            f"the ensemble's baseline must be a TfidfClassifier, got {type(baseline).__name__}."
        )
    if model.problem_type not in ("binary", "multiclass"):
        raise DataError(
            f"the model is a {model.problem_type} classifier; the ensemble with the TF-IDF "
            "baseline needs a binary or multiclass one."
        )
    if sorted(model.labels) != sorted(baseline.labels):
        raise DataError(
            f"the model and the TF-IDF baseline have different labels ({model.labels} vs "
            f"{baseline.labels}); fit the baseline on the model's training data (or let the "
            "ensemble fit it)."
        )
    if model.problem_type != baseline.problem_type:
        raise DataError(
            f"the model is a {model.problem_type} classifier and the TF-IDF baseline a "
            f"{baseline.problem_type} one; they must match."
        )


def read_ensemble_config(directory: str | Path) -> dict[str, Any] | None:
    """An ensemble directory's config.json, or None when `directory` holds no ensemble."""
    path = Path(directory) / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{path} is not valid JSON ({error}).") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        return None
    return config
