"""BertClassifier: text classification with one set of weights and two faces.

- The classifier itself is a Keras model on numeric features (`token_ids`, `segment_ids`,
  `padding_mask` -> logits). That is what `fit` trains, under any `tf.distribute` strategy:
  Keras 3.15's `fit` under MirroredStrategy cannot take string inputs.
- `text_model()` wraps the same layers behind the in-graph tokenizer: strings in, probabilities
  out. That is what predicts and what gets exported; nothing outside the graph is needed.

Problem types: "binary" (one logit, sigmoid, binary cross-entropy), "multiclass" (softmax,
sparse categorical cross-entropy), "multilabel" (one sigmoid per label, binary cross-entropy).
Probabilities always have one column per label, so binary models report [P(neg), P(pos)].
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfbert.config import BertConfig
from tfbert.errors import ModelFileError
from tfbert.modeling.bert import FEATURE_NAMES, BertEncoder
from tfbert.modeling.heads import ClassificationHead
from tfbert.text.tokenizer import BertTokenizer, check_tokenizer_fits
from tfbert.text.vocab import load_vocabulary, save_vocabulary
from tfbert.weights import assign_weights, read_safetensors, save_safetensors

PROBLEM_TYPES = ("binary", "multiclass", "multilabel")
POOLINGS = ("cls", "mean")
CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE = "config.json", "vocab.txt", "model.safetensors"
FORMAT_NAME = "tfbert-classifier"


@keras.saving.register_keras_serializable(package="tfbert")
class BertClassifier(keras.Model):
    """A BERT encoder with a classification head, its tokenizer and its label names.

    Args:
        config: the encoder's BertConfig (or its dict).
        labels: label names; their order defines the label ids.
        tokenizer: the BertTokenizer (or its Keras config) that turns text into features.
        problem_type: "binary", "multiclass", "multilabel", or "auto" (binary for two labels).
        classifier_dropout: dropout before the head; defaults to the config's hidden dropout.
        threshold: the probability above which a label is predicted (multilabel only).
        pooling: what the head reads. "cls": BERT's pooler output (the [CLS] vector through a
            dense tanh layer), as in Devlin et al. 2019. "mean": the average of the last
            layer's vectors over real tokens; the right choice for checkpoints trained with
            mean pooling, such as sentence-transformers models (all-MiniLM-L6-v2), whose
            pooler was never trained for their final task.
    """

    def __init__(
        self,
        config: BertConfig | dict[str, Any],
        labels: Sequence[str],
        tokenizer: BertTokenizer | dict[str, Any],
        problem_type: str = "auto",
        classifier_dropout: float | None = None,
        threshold: float = 0.5,
        pooling: str = "cls",
        **kwargs: Any,
    ) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
        config = config if isinstance(config, BertConfig) else BertConfig.from_dict(config)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        labels = [str(label) for label in labels]
        problem_type = _resolve_problem_type(problem_type, labels)
        check_tokenizer_fits(config, tokenizer)
        dropout = config.hidden_dropout if classifier_dropout is None else classifier_dropout

        inputs = {
            name: keras.Input(shape=(None,), dtype="int32", name=name) for name in FEATURE_NAMES
        }
        encoder = BertEncoder(config, name="encoder")
        head = ClassificationHead(
            1 if problem_type == "binary" else len(labels),
            dropout=dropout,
            initializer_range=config.initializer_range,
            name="classifier",
        )
        # A [CLS] head needs only that position from the last layer (see BertEncoder).
        cls_position = (
            keras.ops.zeros_like(inputs["token_ids"][:, :1]) if pooling == "cls" else None
        )
        outputs = encoder(inputs, output_positions=cls_position)
        if pooling == "mean":
            # float32: a bfloat16 sum over hundreds of positions loses precision.
            summary = keras.layers.GlobalAveragePooling1D(dtype="float32", name="mean_pooling")(
                outputs["sequence_output"], mask=keras.ops.cast(inputs["padding_mask"], "bool")
            )
            # The pooler gets no gradient; freezing it keeps it out of the optimizer.
            encoder.pooler.trainable = False
        else:
            summary = outputs["pooled_output"]
        logits = head(summary)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        self.bert_config = config
        self.encoder = encoder
        self.head = head
        self.tokenizer = tokenizer
        self.labels = labels
        self.problem_type = problem_type
        self.classifier_dropout = dropout
        self.threshold = threshold
        self.pooling = pooling

    # ----- construction ------------------------------------------------------------------------
    @classmethod
    def from_preset(
        cls,
        preset: str,
        *,
        vocabulary: Sequence[str] | str | Path,
        labels: Sequence[str],
        max_length: int = 128,
        problem_type: str = "auto",
        pooling: str = "cls",
        tokenizer_options: dict[str, Any] | None = None,
        **config_overrides: Any,
    ) -> BertClassifier:
        """A randomly initialised classifier of a named size; `vocab_size` fits the vocabulary."""
        tokenizer = BertTokenizer(vocabulary, max_length=max_length, **(tokenizer_options or {}))
        config_overrides.setdefault("vocab_size", tokenizer.vocabulary_size)
        config = BertConfig.from_preset(preset, **config_overrides)
        return cls(
            config, labels=labels, tokenizer=tokenizer, problem_type=problem_type, pooling=pooling
        )

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    # ----- training ----------------------------------------------------------------------------
    def compile(
        self, optimizer: Any = "auto", loss: Any = "auto", metrics: Any = "auto", **kwargs: Any
    ) -> None:
        """Keras `compile` with the loss and metrics that match the problem type by default."""
        if optimizer == "auto":
            from tfbert.training.optimization import create_optimizer

            optimizer = create_optimizer(2e-5)
        if loss == "auto":
            loss = (
                keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                if self.problem_type == "multiclass"
                else keras.losses.BinaryCrossentropy(from_logits=True)
            )
        if metrics == "auto":
            metrics = (
                [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
                if self.problem_type == "multiclass"
                else [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]
            )
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        # Our compile() keeps Keras's signature, so the saved compile config applies as is.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def encode_labels(self, labels: Sequence[Any]) -> np.ndarray:
        """Label names (or lists of names, for multilabel) to the targets `fit` expects."""
        from tfbert.data.readers import LabelVocabulary

        multi_label = self.problem_type == "multilabel"
        targets = LabelVocabulary(self.labels).encode(labels, multi_label=multi_label)
        return targets.astype(np.float32)[:, None] if self.problem_type == "binary" else targets

    def probabilities(self, logits: Any) -> tf.Tensor:
        """Logits to one probability per label (float32)."""
        logits = tf.cast(logits, tf.float32)
        if self.problem_type == "multiclass":
            return tf.nn.softmax(logits, axis=-1)
        positive = tf.sigmoid(logits)
        return (
            tf.concat([1.0 - positive, positive], axis=-1)
            if self.problem_type == "binary"
            else positive
        )

    def for_inference(self, precision: str = "bfloat16") -> BertClassifier:
        """A copy for prediction and export whose Dense weights are stored and multiplied in
        `precision` ("float32", "bfloat16" or "float16"), the attention matmuls too; the rest
        stays float32.

        bfloat16 runs the encoder about 1.5x faster on CPUs with AVX-512 BF16 and halves the
        Dense weights; predictions move slightly (benchmarks/results has the accuracy change on
        real test splits). The copy is for inference: train the float32 model. Its
        `predict_texts` and exports bake the weights in as constants, taken when first used:
        change them with `set_weights`/`load_weights` (which refresh `predict_texts`), not by
        assigning to the variables.
        """
        from tfbert.training.precision import INFERENCE_POLICIES, dtype_policy

        if precision not in INFERENCE_POLICIES:
            raise ValueError(
                f"Unknown precision {precision!r}; choose one of {', '.join(INFERENCE_POLICIES)}."
            )
        with dtype_policy(INFERENCE_POLICIES[precision]):
            twin = type(self).from_config(self.get_config())
        twin.set_weights(self.get_weights())
        return twin

    # ----- the text face -----------------------------------------------------------------------
    def text_model(self, pair: bool = False) -> keras.Model:
        """A Keras model from raw strings to probabilities, sharing this model's weights.

        Inputs: `text` (and `text_pair` with `pair=True`), 1-D string tensors.
        """
        text = keras.Input(shape=(), dtype="string", name="text")
        inputs: Any = text
        if pair:
            inputs = {
                "text": text,
                "text_pair": keras.Input(shape=(), dtype="string", name="text_pair"),
            }
        features = self.tokenizer(inputs)
        probabilities = keras.layers.Lambda(self.probabilities, name="probabilities")(
            self(features)
        )
        return keras.Model(inputs, probabilities, name=f"{self.name}_text")

    def predict_texts(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        batch_size: int = 32,
        verbose: int | str = 0,
    ) -> dict[str, Any]:
        """Probabilities, label ids and label names for a list of strings."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return {
                "probabilities": np.zeros((0, self.num_labels), np.float32),
                "label_ids": np.zeros((0,), np.int64),
                "labels": [],
            }
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        pairs = None if text_pairs is None else list(text_pairs)
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"Got {len(texts)} texts but {len(pairs)} text_pairs; pass one each.")
        for name, values in (("texts", texts), ("text_pairs", pairs or [])):
            wrong = next((v for v in values if not isinstance(v, str)), None)
            if wrong is not None:
                raise TypeError(f"{name} must be strings, got {type(wrong).__name__}: {wrong!r}.")
        # Predict in order of length, each batch padded to its longest text, so that little
        # compute goes to padding; then restore the caller's order. One cached tf.function per
        # batch (tokenizer + model): no input pipeline or `predict` loop to set up per call.
        lengths = [len(t) + (len(pairs[i]) if pairs else 0) for i, t in enumerate(texts)]
        order = np.argsort(lengths, kind="stable")
        logits_of = self._logits_function(pair=pairs is not None)
        progress = keras.utils.Progbar(len(texts)) if verbose in (1, "auto") else None
        chunks = []
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            batch = [tf.constant([texts[i] for i in rows], tf.string)]
            if pairs is not None:
                batch.append(tf.constant([pairs[i] for i in rows], tf.string))
            chunks.append(logits_of(*batch).numpy())
            if progress is not None:
                progress.add(len(rows))
        sorted_logits = np.concatenate(chunks)
        logits = np.empty_like(sorted_logits)
        logits[order] = sorted_logits
        probabilities = self.probabilities(logits).numpy()
        label_ids = probabilities.argmax(axis=-1)
        result = {
            "probabilities": probabilities,
            "label_ids": label_ids,
            "labels": [self.labels[i] for i in label_ids],
        }
        if self.problem_type == "multilabel":
            result["predicted"] = [
                [self.labels[j] for j in np.flatnonzero(row >= self.threshold)]
                for row in probabilities
            ]
        return result

    def _logits_function(self, pair: bool) -> Any:
        """A cached tf.function from a batch of strings (and pairs) to float32 logits, padded
        to the batch's longest text.

        A `for_inference` copy in bfloat16/float16 runs with its weights frozen in as
        constants, as its export does (oneDNN then lays them out once, not on every call);
        `set_weights` and `load_weights` refresh it. Other models read their current weights
        on every call, so predicting between epochs sees the trained weights.
        """
        from tfbert.export import numeric_logits_function

        # Cached outside Keras's attribute tracking: the functions are not part of the model.
        cache = self.__dict__.setdefault("_logits_functions", {})
        if pair not in cache:
            tokenizer = self.tokenizer.with_padding("longest")
            numeric = numeric_logits_function(
                self, constant_weights=self.stores_low_precision_weights
            )

            def logits(*strings: tf.Tensor) -> tf.Tensor:  # (texts,) or (texts, pairs)
                return numeric(tokenizer(strings if pair else strings[0]))

            signature = [tf.TensorSpec([None], tf.string)] * (2 if pair else 1)
            cache[pair] = tf.function(logits, input_signature=signature)
        return cache[pair]

    @property
    def stores_low_precision_weights(self) -> bool:
        """Whether the Dense weights are stored in bfloat16/float16: a `for_inference` copy."""
        return self.encoder.pooler.kernel.dtype in ("bfloat16", "float16")

    def set_weights(self, weights: Any) -> None:
        super().set_weights(weights)
        self._forget_logits_functions()

    def load_weights(self, *args: Any, **kwargs: Any) -> Any:
        result = super().load_weights(*args, **kwargs)
        self._forget_logits_functions()
        return result

    def _forget_logits_functions(self) -> None:
        """Drops the cached predict functions: frozen weights in them are stale now."""
        self.__dict__.pop("_logits_functions", None)

    # ----- saving ------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Writes config.json, vocab.txt and model.safetensors: everything to rebuild the model."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tokenizer_config = {
            key: value
            for key, value in self.tokenizer.get_config().items()
            if key
            in ("max_length", "lowercase", "strip_accents", "pad_to", "truncation", "head_fraction")
        }
        description = {
            "format": FORMAT_NAME,
            "bert": self.bert_config.to_dict(),
            "labels": self.labels,
            "problem_type": self.problem_type,
            "classifier_dropout": self.classifier_dropout,
            "threshold": self.threshold,
            "pooling": self.pooling,
            "tokenizer": tokenizer_config,
        }
        save_vocabulary(self.tokenizer.vocabulary, directory / VOCAB_FILE)
        save_safetensors(self, directory / WEIGHTS_FILE, metadata={"format": FORMAT_NAME})
        (directory / CONFIG_FILE).write_text(
            json.dumps(description, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return directory

    @classmethod
    def from_pretrained(
        cls,
        path_or_name: str | Path,
        labels: Sequence[str] | None = None,
        *,
        num_classes: int | None = None,
        problem_type: str = "auto",
        pooling: str = "auto",
        **tokenizer_overrides: Any,
    ) -> BertClassifier:
        """Loads a trained classifier, or starts a new one from pretrained BERT weights.

        Without `labels`/`num_classes`: `path_or_name` is a directory written by
        `save_pretrained` (e.g. by `tfbert train`) and the whole classifier is restored.
        With them: the encoder comes from any checkpoint `tfbert.modeling.checkpoints` reads
        (Hugging Face, Google BERT, tfbert, or the name "minilm-l6") and the head is new.
        """
        if labels is not None or num_classes is not None:
            from tfbert.tasks.pretrained import classifier_from_pretrained

            if labels is None:
                labels = [str(i) for i in range(num_classes)]
            return classifier_from_pretrained(
                path_or_name,
                labels,
                problem_type=problem_type,
                pooling=pooling,
                **tokenizer_overrides,
            )
        directory = Path(path_or_name)
        config_path = directory / CONFIG_FILE
        if not config_path.is_file():
            raise ModelFileError(
                f"{directory} is not a tfbert model directory: {CONFIG_FILE} is missing. "
                "Point to the --output-dir of `tfbert train` (or a save_pretrained directory)."
            )
        try:
            description = json.loads(config_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ModelFileError(f"{config_path} is not valid JSON ({error}).") from None
        if description.get("format") != FORMAT_NAME:
            raise ModelFileError(f"{config_path} does not describe a tfbert classifier.")
        tokenizer = BertTokenizer(
            load_vocabulary(directory / VOCAB_FILE),
            **{**description["tokenizer"], **tokenizer_overrides},
        )
        model = cls(
            description["bert"],
            labels=description["labels"],
            tokenizer=tokenizer,
            problem_type=description["problem_type"],
            classifier_dropout=description.get("classifier_dropout"),
            threshold=description.get("threshold", 0.5),
            pooling=description.get("pooling", "cls"),
        )
        assign_weights(
            model, read_safetensors(directory / WEIGHTS_FILE), source=str(directory / WEIGHTS_FILE)
        )
        return model

    def export(self, export_base: str | Path, version: int | None = None, **kwargs: Any) -> Path:
        """Writes a self-contained SavedModel to `<export_base>/<version>/` (see tfbert.export)."""
        from tfbert.export import export_saved_model

        return export_saved_model(self, export_base, version=version, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "config": self.bert_config.to_dict(),
            "labels": self.labels,
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "problem_type": self.problem_type,
            "classifier_dropout": self.classifier_dropout,
            "threshold": self.threshold,
            "pooling": self.pooling,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BertClassifier:
        return cls(**config)


def _resolve_problem_type(problem_type: str, labels: list[str]) -> str:
    if problem_type == "auto":
        problem_type = "binary" if len(labels) == 2 else "multiclass"
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(
            f"problem_type must be 'auto' or one of {PROBLEM_TYPES}, got {problem_type!r}."
        )
    minimum = 1 if problem_type == "multilabel" else 2
    if len(labels) < minimum:
        raise ValueError(
            f"A {problem_type} classifier needs at least {minimum} labels, got {labels}."
        )
    if problem_type == "binary" and len(labels) != 2:
        raise ValueError(f"A binary classifier needs exactly 2 labels, got {len(labels)}.")
    if len(set(labels)) != len(labels):
        raise ValueError(f"Label names must be unique, got {labels}.")
    return problem_type
