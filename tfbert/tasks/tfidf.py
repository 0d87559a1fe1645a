"""A TF-IDF + linear model baseline classifier (scikit-learn), scored and served like tfbert models.

`TfidfClassifier.fit(train, validation)` turns texts into TF-IDF vectors (sublinear term
frequency, L2-normalised rows) and picks the best of LogisticRegression, LinearSVC and
ComplementNB over a few regularisation values by validation accuracy (macro-F1 breaks ties).
The terms follow the texts' script:

- space-separated text: lowercased words of two or more letters/digits (scikit-learn's default
  token pattern), word 1-2-grams;
- Chinese/Japanese (at least `CJK_SHARE` of the letters are CJK): character 1-3-grams, or with
  `chinese="jieba"` (needs the `jieba` package) jieba words and their 1-2-grams.

It has the face `tfbert.evaluation.evaluate_classifier` needs (`labels`, `problem_type`,
`threshold`, `predict_texts`), so its report is the BERT classifier's report:

    model = TfidfClassifier.fit(splits.train, splits.validation)
    print(model.description())                      # the chosen configuration
    report = evaluate_classifier(model, splits.test)
    model.save_pretrained("models/tfidf")          # JSON + safetensors, no pickle
    model.export("exports/tfidf")                   # a SavedModel taking raw strings

Every chosen model is linear, `logits = tfidf(text) @ W + b`, and its probabilities follow the
problem type as in `TextClassifier`: binary models have one logit through a sigmoid, multiclass
models a softmax. LogisticRegression and ComplementNB give their own probabilities this way
(ComplementNB's `predict_proba` is a softmax over its joint log-likelihoods). LinearSVC has no
probabilities: its decision scores go through the same sigmoid/softmax. They rank the labels
like the SVM (the predicted label is the SVM's) but are not calibrated; calibrating would cost
a cross-validated refit and leave the model no longer one linear layer that exports as such.

Multilabel data is refused: train a `TextClassifier` for it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfbert.contract import CONFIG_FILE
from tfbert.data.labels import LabelVocabulary
from tfbert.data.readers import TextClassificationData
from tfbert.errors import DataError, MissingDependencyError, ModelFileError
from tfbert.files import atomic_write, atomic_write_text
from tfbert.tasks.inference import check_texts
from tfbert.text.cleaning import is_cjk_character

FORMAT_NAME = "tfbert-tfidf"  # what a TF-IDF model directory's config.json says it is
VOCABULARY_FILE = "vocabulary.json"
WEIGHTS_FILE = "model.safetensors"
CJK_SHARE = 0.2  # texts whose letters are at least this share CJK are cut into characters
CHINESE_MODES = ("characters", "jieba")
# Regularisation values tried on the validation split, per model.
SEARCH: dict[str, tuple[float, ...]] = {
    "logistic_regression": (1.0, 10.0, 100.0),  # C
    "linear_svc": (0.1, 0.3, 1.0),  # C
    "complement_nb": (0.1, 0.3, 1.0),  # alpha
}
MODEL_NAMES = tuple(SEARCH)

# Python's `\w` and `\s` on str patterns (what scikit-learn's token pattern and whitespace
# collapsing use), written for RE2 so that the exported graph cuts text the same way.
WORD_CHARACTERS = r"\p{L}\p{N}_"
WHITESPACE = (
    r"\t-\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
    r"\x{205f}\x{3000}"
)
_PY_WHITESPACE_RUN = re.compile(r"\s\s+")
_PY_WORD = re.compile(r"(?u)\b\w\w+\b")


# ----- terms: the same cuts in Python (fitting, predict_texts) and in the graph (export) --------
def cjk_share(texts: Sequence[str], limit: int = 2000) -> float:
    """The share of CJK characters among the letters of (the first `limit` of) `texts`."""
    cjk = letters = 0
    for text in texts[:limit]:
        for char in text:
            if char.isalpha():
                letters += 1
                cjk += is_cjk_character(char)
    return cjk / letters if letters else 0.0


def word_terms(text: str, ngrams: int = 2) -> list[str]:
    """Lowercased words of two or more word characters and their n-grams up to `ngrams`."""
    return _ngrams(_PY_WORD.findall(text.lower()), ngrams)


def character_terms(text: str, ngrams: int = 3) -> list[str]:
    """Character 1..`ngrams`-grams of the lowercased text, whitespace runs read as one space."""
    text = _PY_WHITESPACE_RUN.sub(" ", text.lower())
    return [text[i : i + n] for n in range(1, ngrams + 1) for i in range(len(text) - n + 1)]


def jieba_terms(text: str, ngrams: int = 2) -> list[str]:
    """jieba's words (whitespace dropped) of the lowercased text and their n-grams."""
    import jieba

    return _ngrams([w for w in jieba.lcut(text.lower()) if w.strip()], ngrams)


def _ngrams(tokens: list[str], ngrams: int) -> list[str]:
    terms = list(tokens)
    for n in range(2, ngrams + 1):
        terms += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return terms


ANALYZERS: dict[str, Callable[..., list[str]]] = {
    "words": word_terms,
    "characters": character_terms,
    "jieba": jieba_terms,
}
DEFAULT_NGRAMS = {"words": 2, "characters": 3, "jieba": 2}


def _graph_terms(analyzer: str, ngrams: int) -> Callable[[Any], Any]:
    """strings [batch] -> ragged terms [batch, None], as `ANALYZERS[analyzer]` cuts them."""
    import tensorflow as tf

    def terms(text: Any) -> Any:
        text = tf.strings.lower(text, encoding="utf-8")
        if analyzer == "characters":
            text = tf.strings.regex_replace(text, f"[{WHITESPACE}]{{2,}}", " ")
            tokens = tf.strings.unicode_split(text, "UTF-8")
            separator = ""
        else:
            # Runs of word characters: what `\b\w\w+\b` finds once short runs are dropped.
            text = tf.strings.regex_replace(text, f"[^{WORD_CHARACTERS}]+", " ")
            tokens = tf.strings.split(tf.strings.strip(text), " ")
            tokens = tf.ragged.boolean_mask(
                tokens, tf.strings.length(tokens, unit="UTF8_CHAR") >= 2
            )
            separator = " "
        grams = [tokens] + [
            tf.strings.ngrams(tokens, n, separator=separator) for n in range(2, ngrams + 1)
        ]
        return tf.concat(grams, axis=1)

    return terms


@dataclass
class SearchResult:
    """One configuration tried on the validation split."""

    model: str
    parameter: str
    value: float
    accuracy: float
    macro_f1: float
    seconds: float


class TfidfClassifier:
    """TF-IDF features and one linear layer, fitted with scikit-learn (see the module doc).

    Build one with `TfidfClassifier.fit(train, validation)` or `TfidfClassifier.load(dir)`.
    The constructor takes the fitted parts: `vocabulary` (terms in column order), `idf` [V],
    `weights` [V, K] and `bias` [K], with K = 1 for binary problems, else one per label.
    """

    def __init__(
        self,
        labels: Sequence[str],
        analyzer: str,
        ngrams: int,
        vocabulary: Sequence[str],
        idf: np.ndarray,
        weights: np.ndarray,
        bias: np.ndarray,
        problem_type: str = "auto",
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.labels = [str(label) for label in labels]
        if problem_type == "auto":
            problem_type = "binary" if len(self.labels) == 2 else "multiclass"
        if problem_type not in ("binary", "multiclass"):
            raise ValueError(
                f"a TF-IDF baseline is binary or multiclass, got problem_type {problem_type!r}."
            )
        if analyzer not in ANALYZERS:
            raise ValueError(f"analyzer must be one of {tuple(ANALYZERS)}, got {analyzer!r}.")
        self.problem_type = problem_type
        self.threshold = 0.5
        self.analyzer = analyzer
        self.ngrams = int(ngrams)
        self.vocabulary = list(vocabulary)
        self.idf = np.asarray(idf, np.float64)
        self.weights = np.asarray(weights, np.float64)
        self.bias = np.asarray(bias, np.float64)
        outputs = 1 if problem_type == "binary" else len(self.labels)
        if self.weights.shape != (len(self.vocabulary), outputs) or self.bias.shape != (outputs,):
            raise ValueError(
                f"weights {self.weights.shape} and bias {self.bias.shape} do not fit "
                f"{len(self.vocabulary)} terms and {outputs} outputs."
            )
        self.settings = dict(settings or {})
        self._index = {term: i for i, term in enumerate(self.vocabulary)}

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    # ----- fitting -----------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        train: TextClassificationData,
        validation: TextClassificationData,
        *,
        chinese: str = "characters",
        analyzer: str | None = None,
        min_df: int = 2,
        models: Sequence[str] = MODEL_NAMES,
        labels: Sequence[str] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> TfidfClassifier:
        """Fits TF-IDF on `train` and keeps the linear model that scores best on `validation`.

        `analyzer` ("words", "characters", "jieba") overrides the choice by script; for
        Chinese text `chinese` picks characters or jieba words. Terms seen in fewer than
        `min_df` training texts are dropped. `labels` fixes the label order (default: sorted
        training labels). `say` receives one line per configuration tried.
        """
        from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

        started = time.perf_counter()
        _check_data(train, "training")
        _check_data(validation, "validation")
        if chinese not in CHINESE_MODES:
            raise ValueError(f"chinese must be one of {CHINESE_MODES}, got {chinese!r}.")
        unknown = [m for m in models if m not in SEARCH]
        if unknown or not models:
            raise ValueError(f"models must be among {MODEL_NAMES}, got {list(models)}.")
        share = cjk_share(train.texts)
        if analyzer is None:
            analyzer = chinese if share >= CJK_SHARE else "words"
        if analyzer not in ANALYZERS:
            raise ValueError(f"analyzer must be one of {tuple(ANALYZERS)}, got {analyzer!r}.")
        if analyzer == "jieba":
            _need_jieba()
        vocabulary_of_labels = (
            LabelVocabulary.from_labels(train.labels)
            if labels is None
            else LabelVocabulary([str(x) for x in labels])
        )
        label_names = list(vocabulary_of_labels.names)
        y_train = np.asarray(vocabulary_of_labels.encode(train.labels))
        y_valid = np.asarray(vocabulary_of_labels.encode(validation.labels))
        missing = [label_names[i] for i in sorted(set(range(len(label_names))) - set(y_train))]
        if missing:
            raise DataError(
                f"no training example has the label(s) {missing[:5]}; a linear model cannot "
                "learn a label it never sees."
            )

        ngrams = DEFAULT_NGRAMS[analyzer]
        counter = CountVectorizer(
            analyzer=_Analyzer(analyzer, ngrams), min_df=min(min_df, len(train)),
            lowercase=False, dtype=np.float64,
        )  # fmt: skip
        counts = counter.fit_transform(train.texts)
        transformer = TfidfTransformer(sublinear_tf=True).fit(counts)
        vocabulary = counter.get_feature_names_out().tolist()
        x_train = transformer.transform(counts)
        x_valid = transformer.transform(counter.transform(validation.texts))
        vectorized = time.perf_counter() - started

        binary = len(label_names) == 2
        tried: list[SearchResult] = []
        best: tuple[tuple[float, float], Any, SearchResult] | None = None
        for name in models:
            for value in SEARCH[name]:
                begun = time.perf_counter()
                estimator = _estimator(name, value).fit(x_train, y_train)
                weights, bias = _linear_parts(name, estimator, binary)
                logits = x_valid @ weights + bias
                result = SearchResult(
                    name, "alpha" if name == "complement_nb" else "C", value,
                    *_scores(y_valid, _predict_ids(logits, binary), len(label_names)),
                    time.perf_counter() - begun,
                )  # fmt: skip
                tried.append(result)
                if say is not None:
                    say(f"  {name} {result.parameter}={value:g}: validation accuracy "
                        f"{result.accuracy:.4f}, macro-F1 {result.macro_f1:.4f} "
                        f"({result.seconds:.1f} s)")  # fmt: skip
                key = (result.accuracy, result.macro_f1)
                if best is None or key > best[0]:
                    best = (key, (weights, bias), result)
        assert best is not None
        (weights, bias), chosen = best[1], best[2]
        settings = {
            "model": chosen.model,
            chosen.parameter: chosen.value,
            "analyzer": analyzer,
            "ngrams": [1, ngrams],
            "min_df": min_df,
            "sublinear_tf": True,
            "cjk_share": round(share, 4),
            "vocabulary_size": len(vocabulary),
            "validation_accuracy": chosen.accuracy,
            "validation_macro_f1": chosen.macro_f1,
            "train_examples": len(train),
            "validation_examples": len(validation),
            "vectorize_seconds": round(vectorized, 3),
            "seconds": round(time.perf_counter() - started, 3),
            "search": [vars(r) for r in tried],
        }
        return cls(
            label_names, analyzer, ngrams, vocabulary, transformer.idf_,
            np.asarray(weights), np.asarray(bias), settings=settings,
        )  # fmt: skip

    def description(self) -> str:
        """One line naming the chosen model and features, e.g. for a command's output."""
        s = self.settings
        value = next((f"{k}={s[k]:g}" for k in ("C", "alpha") if k in s), "")
        terms = {"words": "word", "characters": "character", "jieba": "jieba word"}[self.analyzer]
        text = (
            f"TF-IDF ({terms} 1-{self.ngrams}-grams, {len(self.vocabulary):,} terms, sublinear "
            f"tf) + {s.get('model', 'a linear model')} {value}".rstrip()
        )
        if "validation_accuracy" in s:
            text += f": validation accuracy {s['validation_accuracy']:.4f}"
        return text

    # ----- prediction --------------------------------------------------------------------------
    def transform(self, texts: Sequence[str]) -> Any:
        """TF-IDF rows (a scipy CSR matrix [N, V]) for `texts`, as fitted."""
        from scipy import sparse
        from sklearn.preprocessing import normalize

        analyze = _Analyzer(self.analyzer, self.ngrams)
        rows, cols, values = [], [], []
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            for term in analyze(text):
                column = self._index.get(term)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            rows += [row] * len(counts)
            cols += list(counts)
            values += list(counts.values())
        matrix = sparse.csr_matrix(
            (np.asarray(values, np.float64), (rows, cols)), shape=(len(texts), len(self.idf))
        )
        matrix.data = 1.0 + np.log(matrix.data)
        return normalize(matrix @ sparse.diags(self.idf))

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """The linear model's scores [N, 1] (binary) or [N, labels]."""
        return np.asarray(self.transform(texts) @ self.weights + self.bias)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Logits to one probability per label (float32), as `TextClassifier.probabilities`."""
        logits = np.asarray(logits, np.float64)
        if self.problem_type == "binary":
            positive = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1).astype(np.float32)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict_texts(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        batch_size: int = 32,
        verbose: int | str = 0,
    ) -> dict[str, Any]:
        """Probabilities, label ids and label names for a list of strings, in their order (the
        dict `TextClassifier.predict_texts` returns). `batch_size` and `verbose` are accepted
        for the same call shape; the whole list is scored at once."""
        from tfbert.tasks.classifier import classification_result

        texts, pairs = check_texts(texts, text_pairs)
        if pairs is not None:
            raise DataError("the TF-IDF baseline reads single texts, not text pairs.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        if not texts:
            probabilities = np.zeros((0, self.num_labels), np.float32)
        else:
            probabilities = self.probabilities(self.logits(texts))
        return classification_result(probabilities, self.labels, self.problem_type)

    # ----- saving ------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Writes config.json, vocabulary.json and model.safetensors (idf, weights, bias)."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {
            "format": FORMAT_NAME,
            "labels": self.labels,
            "problem_type": self.problem_type,
            "analyzer": self.analyzer,
            "ngrams": self.ngrams,
            "settings": self.settings,
        }
        atomic_write_text(
            directory / VOCABULARY_FILE, json.dumps(self.vocabulary, ensure_ascii=False)
        )
        arrays = {"idf": self.idf, "weights": self.weights, "bias": self.bias}
        # Atomic, and with the umask's permissions (safetensors alone writes 0600).
        atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(arrays, str(tmp)))
        atomic_write_text(
            directory / CONFIG_FILE, json.dumps(config, indent=2, ensure_ascii=False) + "\n"
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TfidfClassifier:
        """Restores a model written by `save_pretrained`."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        directory = Path(directory)
        config_path = directory / CONFIG_FILE
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelFileError(
                f"{config_path} does not exist; give a directory written by "
                "TfidfClassifier.save_pretrained (`tfbert baseline --output-dir`)."
            ) from None
        except (ValueError, UnicodeDecodeError) as error:
            raise ModelFileError(f"{config_path} is not valid JSON ({error}).") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
            raise ModelFileError(f"{config_path} does not describe a tfbert TF-IDF baseline.")
        try:
            vocabulary = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
            arrays = load_file(str(directory / WEIGHTS_FILE))
            return cls(
                config["labels"], config["analyzer"], config["ngrams"], vocabulary,
                arrays["idf"], arrays["weights"], arrays["bias"],
                problem_type=config["problem_type"], settings=config.get("settings"),
            )  # fmt: skip
        except (OSError, ValueError, KeyError, SafetensorError) as error:
            raise ModelFileError(
                f"{directory} holds an incomplete or damaged TF-IDF baseline ({error}); "
                "save it again."
            ) from None

    # ----- export ------------------------------------------------------------------------------
    def export(
        self,
        export_base: str | Path,
        version: int | None = None,
        *,
        overwrite: bool = False,
        warmup_texts: Sequence[str] | None = None,
    ) -> Path:
        """Writes a SavedModel taking raw strings to `<export_base>/<version>/` and returns it.

        The signatures are every tfbert classifier's (tfbert.export.classifier). In the graph,
        Keras's `TextVectorization` carries the vocabulary and counts the terms, which are cut
        by TensorFlow string ops written to match the Python cuts; sublinear tf, IDF, L2
        normalisation and the linear layer follow. jieba runs in Python only, so a model on
        jieba words cannot be exported: fit one on characters for that.
        """
        if self.analyzer == "jieba":
            raise ModelFileError(
                "a TF-IDF model on jieba words cannot be exported (jieba runs in Python, not in "
                "a TensorFlow graph); fit it on characters (analyzer='characters') to export."
            )
        from tfbert.export.classifier import ClassifierServingModule, write_classifier

        graph = TfidfGraph(self)
        module = ClassifierServingModule(
            logits=graph.logits,
            tokenizer=graph.tfidf,
            probabilities=graph.probabilities,
            labels=self.labels,
            pair=False,
            weights=graph.variables_to_track,
        )
        module.tfidf_terms = graph.vectorizer  # tracks the vocabulary's lookup table
        return write_classifier(
            module,
            self.labels,
            export_base,
            version,
            overwrite=overwrite,
            warmup_texts=warmup_texts,
            settings={"problem_type": self.problem_type, "baseline": "tfidf", **_plain(self)},
        )


class TfidfGraph:
    """The fitted model in TensorFlow: strings -> TF-IDF rows -> logits -> probabilities."""

    def __init__(self, model: TfidfClassifier) -> None:
        import keras
        import tensorflow as tf

        self.problem_type = model.problem_type
        self.terms = _graph_terms(model.analyzer, model.ngrams)  # strings -> ragged terms
        self.vectorizer = keras.layers.TextVectorization(
            standardize=None,
            split=self.terms,
            output_mode="count",
            vocabulary=model.vocabulary,
            sparse=True,
            name="tfidf_terms",
        )
        # Column 0 of the counts is the out-of-vocabulary bucket: its IDF is 0, so it drops out.
        self.idf = tf.Variable(
            np.concatenate([[0.0], model.idf]).astype(np.float32), trainable=False, name="idf"
        )
        self.kernel = tf.Variable(model.weights.astype(np.float32), trainable=False, name="kernel")
        self.bias = tf.Variable(model.bias.astype(np.float32), trainable=False, name="bias")
        self.variables_to_track = [self.idf, self.kernel, self.bias]

    def tfidf(self, texts: Any) -> Any:
        """strings [batch] -> sparse L2-normalised TF-IDF rows [batch, 1 + V] (float32)."""
        import tensorflow as tf

        counts = tf.cast(self.vectorizer(texts), tf.float32)
        values = (1.0 + tf.math.log(counts.values)) * tf.gather(self.idf, counts.indices[:, 1])
        rows = counts.indices[:, 0]
        norms = tf.math.sqrt(
            tf.math.unsorted_segment_sum(tf.square(values), rows, tf.shape(texts)[0])
        )
        values = tf.math.divide_no_nan(values, tf.gather(norms, rows))
        return tf.SparseTensor(counts.indices, values, counts.dense_shape)

    def logits(self, features: Any) -> Any:
        """Sparse TF-IDF rows [batch, 1 + V] -> logits [batch, outputs]."""
        import tensorflow as tf

        kernel = tf.concat([tf.zeros_like(self.kernel[:1]), self.kernel], axis=0)
        return tf.sparse.sparse_dense_matmul(features, kernel) + self.bias

    def probabilities(self, logits: Any) -> Any:
        import tensorflow as tf

        if self.problem_type == "multiclass":
            return tf.nn.softmax(logits, axis=-1)
        positive = tf.sigmoid(logits)
        return tf.concat([1.0 - positive, positive], axis=-1)


# ----- helpers ---------------------------------------------------------------------------------
class _Analyzer:
    """A picklable analyzer for scikit-learn (its parallel paths may copy the vectorizer)."""

    def __init__(self, analyzer: str, ngrams: int) -> None:
        self.analyzer, self.ngrams = analyzer, ngrams

    def __call__(self, text: str) -> list[str]:
        return ANALYZERS[self.analyzer](text, self.ngrams)


def _need_jieba() -> None:
    try:
        import jieba  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "jieba words need the jieba package: pip install jieba (or the tfbert extra "
            '".[baselines]"); or use Chinese characters (the default).'
        ) from None
    import logging

    logging.getLogger("jieba").setLevel(logging.WARNING)  # no "Building prefix dict" chatter


def _check_data(data: Any, what: str) -> None:
    if not isinstance(data, TextClassificationData):
        raise TypeError(f"the {what} data must be a TextClassificationData, got {type(data)}.")
    if len(data) == 0 or data.labels is None:
        raise DataError(f"the {what} data has no labelled examples.")
    if data.is_multi_label:
        raise DataError(
            f"the {what} data is multilabel; the TF-IDF baseline is binary or multiclass "
            "(train a TextClassifier with problem_type='multilabel' instead)."
        )
    if data.text_pairs is not None:
        raise DataError(f"the {what} data holds text pairs; the TF-IDF baseline reads one text.")


def _estimator(name: str, value: float) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    if name == "logistic_regression":
        return LogisticRegression(C=value, max_iter=2000)
    if name == "linear_svc":
        return LinearSVC(C=value)
    return ComplementNB(alpha=value)


def _linear_parts(name: str, estimator: Any, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """(weights [V, K], bias [K]) whose logits give the estimator's predictions."""
    if name == "complement_nb":
        # predict_proba = softmax(X @ feature_log_prob_.T), no prior with two or more classes.
        weights = estimator.feature_log_prob_.T
        bias = np.zeros(weights.shape[1])
        if binary:  # softmax over two columns == sigmoid of their difference
            return weights[:, 1:] - weights[:, :1], bias[:1]
        return weights, bias
    return estimator.coef_.T.copy(), np.asarray(estimator.intercept_, np.float64).copy()


def _predict_ids(logits: np.ndarray, binary: bool) -> np.ndarray:
    return (logits[:, 0] > 0).astype(np.int64) if binary else logits.argmax(axis=1)


def _scores(y: np.ndarray, predicted: np.ndarray, classes: int) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    macro = f1_score(y, predicted, labels=list(range(classes)), average="macro", zero_division=0)
    return float(accuracy_score(y, predicted)), float(macro)


def _plain(model: TfidfClassifier) -> dict[str, Any]:
    keep = ("model", "C", "alpha", "analyzer", "ngrams", "vocabulary_size")
    return {k: model.settings[k] for k in keep if k in model.settings}
