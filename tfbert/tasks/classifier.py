"""Text classification: a backbone, a preprocessor and a classification head.

- `TextClassifier(backbone, preprocessor, labels)` takes any backbone
  (`tfbert.modeling.backbone.Backbone`): the BERT encoder, or a network of your own.
- `BertClassifier(config, labels, tokenizer)` builds the BERT encoder from a config, starts
  from named sizes (`from_preset`) or from pretrained weights (`from_pretrained`).

The model itself maps numeric features to logits (what `fit` trains); `text_model()` and
`predict_texts()` put the in-graph tokenizer in front of it, and `export()` writes a SavedModel
that takes raw strings (tfbert.export.classifier has its signatures).

Problem types: "binary" (one logit, sigmoid, binary cross-entropy), "multiclass" (softmax,
sparse categorical cross-entropy), "multilabel" (one sigmoid per label, binary cross-entropy).
Probabilities always have one column per label, so binary models report [P(neg), P(pos)].

    model = BertClassifier.from_preset("tiny", vocabulary=vocab, labels=["neg", "pos"])
    model.fit(...)                                    # or tfbert.training.fine_tune
    model.predict_texts(["a fine film"])["labels"]
    model.export("exports/reviews")                   # exports/reviews/1/
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfbert.config import BertConfig, parse_layer_pooling
from tfbert.data.readers import LabelVocabulary
from tfbert.export.classifier import ClassifierServingModule, write_classifier
from tfbert.modeling.backbone import Backbone
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import (
    TFBERT_FORMAT,
    PretrainedBert,
    load_encoder_weights,
    load_pretrained,
)
from tfbert.modeling.heads import ClassificationHead, LastLayersPooling
from tfbert.tasks.inference import check_texts, numeric_function, predict_in_length_order
from tfbert.tasks.task import (
    Task,
    default_optimizer,
    feature_inputs,
)
from tfbert.text.tokenizer import BertTokenizer

PROBLEM_TYPES = ("binary", "multiclass", "multilabel")
POOLINGS = ("cls", "mean")
FORMAT_NAME = TFBERT_FORMAT  # what a classifier directory's config.json says it is


@keras.saving.register_keras_serializable(package="tfbert")
class TextClassifier(Task):
    """A classification head on any backbone, with its tokenizer and its label names.

    Args:
        backbone: features -> sequence and pooled outputs (`tfbert.modeling.backbone`).
        preprocessor: the BertTokenizer that turns text into features.
        labels: label names; their order defines the label ids.
        problem_type: "binary", "multiclass", "multilabel", or "auto" (binary for two labels).
        classifier_dropout: dropout before the head; defaults to the backbone's hidden dropout
            for BERT, else 0.1.
        threshold: the probability above which a label is predicted (multilabel only).
        pooling: what the head reads. "cls": the backbone's pooled output (BERT: the [CLS]
            vector through a dense tanh layer, Devlin et al. 2019). "mean": the average of the
            sequence output over real tokens; the right choice for checkpoints trained with
            mean pooling, such as sentence-transformers models, whose pooler was never trained
            for their final task. "lastN_mean" / "lastN_concat" (e.g. "last4_mean"): the
            [CLS] vectors of the backbone's last N layers averaged or concatenated (Sun et al.
            2019); the backbone must return its hidden states (`supports_hidden_states`).
    """

    format_name = FORMAT_NAME
    kind, names_key = "tfbert classifier", "labels"

    def __init__(
        self,
        backbone: Backbone | dict[str, Any],
        preprocessor: BertTokenizer | dict[str, Any],
        labels: Sequence[str],
        problem_type: str = "auto",
        classifier_dropout: float | None = None,
        threshold: float = 0.5,
        pooling: str = "cls",
        **kwargs: Any,
    ) -> None:
        layer_pooling = parse_layer_pooling(pooling)
        if pooling not in POOLINGS and layer_pooling is None:
            raise ValueError(
                f"pooling must be one of {POOLINGS} or 'lastN_mean'/'lastN_concat' (N layers), "
                f"got {pooling!r}."
            )
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        if isinstance(preprocessor, dict):
            preprocessor = keras.saving.deserialize_keras_object(preprocessor)
        labels = [str(label) for label in labels]
        problem_type = _resolve_problem_type(problem_type, labels)
        self.check_parts(backbone, preprocessor)
        if layer_pooling is not None and not backbone.supports_hidden_states:
            raise ValueError(
                f"pooling={pooling!r} reads every layer's output, which "
                f"{type(backbone).__name__} does not return; use pooling='cls' or 'mean'."
            )
        classifier_dropout = self.head_dropout(backbone, classifier_dropout)

        inputs = feature_inputs()
        head = ClassificationHead(
            1 if problem_type == "binary" else len(labels),
            dropout=classifier_dropout,
            initializer_range=getattr(getattr(backbone, "config", None), "initializer_range", 0.02),
            name="classifier",
        )
        # A [CLS] head needs only that position from the last layer (see BertEncoder).
        positions = None
        if pooling == "cls" and backbone.supports_output_positions:
            positions = keras.ops.zeros_like(inputs["token_ids"][:, :1])
        if positions is not None:
            outputs = backbone(inputs, output_positions=positions)
        elif layer_pooling is not None:
            outputs = backbone(inputs, return_all_layers=True)
        else:
            outputs = backbone(inputs)
        if layer_pooling is not None:
            count, mode = layer_pooling
            summary = LastLayersPooling(count, mode, name="layer_pooling")(outputs["hidden_states"])
        elif pooling == "mean":
            # float32: a bfloat16 sum over hundreds of positions loses precision.
            summary = keras.layers.GlobalAveragePooling1D(dtype="float32", name="mean_pooling")(
                outputs["sequence_output"], mask=keras.ops.cast(inputs["padding_mask"], "bool")
            )
        else:
            summary = outputs["pooled_output"]
        if pooling != "cls" and backbone.pooler is not None:
            # The pooler gets no gradient; freezing it keeps it out of the optimizer.
            backbone.pooler.trainable = False
        logits = head(summary)
        super().__init__(
            inputs=inputs, outputs=logits, backbone=backbone, preprocessor=preprocessor, **kwargs
        )
        self.head = head
        self.labels = labels
        self.problem_type = problem_type
        self.classifier_dropout = classifier_dropout
        self.threshold = threshold
        self.pooling = pooling

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    # ----- training ----------------------------------------------------------------------------
    def compile(
        self, optimizer: Any = "auto", loss: Any = "auto", metrics: Any = "auto", **kwargs: Any
    ) -> None:
        """Keras `compile` with the loss and metrics that match the problem type by default."""
        if optimizer == "auto":
            optimizer = default_optimizer(2e-5)
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
        features = self.preprocessor(inputs)
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
        """Probabilities, label ids and label names for a list of strings, in their order."""
        texts, pairs = check_texts(texts, text_pairs)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        if not texts:
            probabilities = np.zeros((0, self.num_labels), np.float32)
        else:
            logits = predict_in_length_order(
                self._logits_function(pair=pairs is not None), texts, pairs, batch_size, verbose
            )
            probabilities = self.probabilities(logits).numpy()
        return classification_result(probabilities, self.labels, self.problem_type, self.threshold)

    def numeric_logits(
        self, micro_batch: int | None = None, constant_weights: bool | None = None
    ) -> Any:
        """features -> float32 logits, traced once for any batch and length (see
        tfbert.tasks.inference.numeric_function); `constant_weights` freezes the weights in
        (None: no, the function reads the variables, which every caller shares)."""
        return numeric_function(
            self,
            micro_batch,
            bool(constant_weights),
            self.head.num_outputs,
            self.preprocessor.max_length,
        )

    def _logits_function(self, pair: bool) -> Any:
        """A cached tf.function from a batch of strings (and pairs) to float32 logits, padded
        to the batch's longest text.

        It reads the model's current weights on every call (as its export does), so
        predicting between epochs sees the trained weights.
        """

        def build() -> Any:
            tokenizer = self.preprocessor.with_padding("longest")
            numeric = self.numeric_logits()

            def logits(*strings: tf.Tensor) -> tf.Tensor:  # (texts,) or (texts, pairs)
                return numeric(tokenizer(strings if pair else strings[0]))

            signature = [tf.TensorSpec([None], tf.string)] * (2 if pair else 1)
            return tf.function(logits, input_signature=signature)

        return self.cached_function(("logits", pair), build)

    # ----- export ------------------------------------------------------------------------------
    def export(
        self,
        export_base: str | Path,
        version: int | None = None,
        *,
        pair: bool = False,
        overwrite: bool = False,
        warmup_texts: Sequence[str] | None = None,
        micro_batch: int | None = 8,
        constant_weights: bool | None = None,
    ) -> Path:
        """Writes a self-contained SavedModel to `<export_base>/<version>/` and returns it.

        Signatures, label names and warm-up requests: tfbert.export.classifier. Requests are
        tokenized and padded to their longest text; with `micro_batch` (rows) the model then
        runs on micro-batches of similar length (exact); None runs each request as one batch.
        The weights are stored once, as variables in the precision they are kept in (bfloat16
        Dense kernels for a `for_inference("bfloat16")` copy) and read by every signature.
        `constant_weights=True` bakes them into the graph as constants instead (the runtime
        then holds copies per signature: benchmarks/footprint.py); such an export has no
        `variables/` to restore or fine-tune. None (the default) means False.
        """
        if micro_batch is not None and (
            not isinstance(micro_batch, int) or isinstance(micro_batch, bool) or micro_batch < 1
        ):
            raise ValueError(
                f"micro_batch must be a positive integer or None, got {micro_batch!r}."
            )
        constant_weights = bool(constant_weights)
        module = ClassifierServingModule(
            logits=self.numeric_logits(micro_batch, constant_weights),
            tokenizer=self.preprocessor.with_padding("longest"),
            probabilities=self.probabilities,
            labels=self.labels,
            pair=pair,
            weights=[] if constant_weights else [v.value for v in self.weights],
        )
        return write_classifier(
            module,
            self.labels,
            export_base,
            version,
            pair=pair,
            overwrite=overwrite,
            warmup_texts=warmup_texts,
            settings={"problem_type": self.problem_type, "threshold": self.threshold},
        )

    # ----- saving ------------------------------------------------------------------------------
    def task_config(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "problem_type": self.problem_type,
            "classifier_dropout": self.classifier_dropout,
            "threshold": self.threshold,
            "pooling": self.pooling,
        }

    @classmethod
    def from_parts(
        cls, backbone: Backbone, preprocessor: BertTokenizer, settings: dict[str, Any]
    ) -> TextClassifier:
        options = {
            "problem_type": settings.get("problem_type", "auto"),
            "classifier_dropout": settings.get("classifier_dropout"),
            "threshold": settings.get("threshold", 0.5),
            "pooling": settings.get("pooling", "cls"),
        }
        if type(backbone) is BertEncoder:  # a BERT model keeps its class and config
            return BertClassifier(backbone.config, settings["labels"], preprocessor, **options)
        return TextClassifier(backbone, preprocessor, settings["labels"], **options)

    @classmethod
    def from_pretrained(cls, directory: str | Path, **tokenizer_overrides: Any) -> TextClassifier:
        """Restores a classifier written by `save_pretrained` (the same as `load`)."""
        return cls.load(directory, **tokenizer_overrides)


@keras.saving.register_keras_serializable(package="tfbert")
class BertClassifier(TextClassifier):
    """A BERT encoder with a classification head (TextClassifier with a `BertEncoder`).

    Args:
        config: the encoder's BertConfig (or its dict).
        labels, problem_type, classifier_dropout, threshold, pooling: as TextClassifier.
        tokenizer: the BertTokenizer (or its Keras config) that turns text into features.
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
        config = config if isinstance(config, BertConfig) else BertConfig.from_dict(config)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        super().__init__(
            BertEncoder(config, name="encoder"),
            tokenizer,
            labels,
            problem_type=problem_type,
            classifier_dropout=classifier_dropout,
            threshold=threshold,
            pooling=pooling,
            **kwargs,
        )
        self.bert_config = config

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

    @classmethod
    def from_pretrained(
        cls,
        path_or_name: str | Path | PretrainedBert,
        labels: Sequence[str] | None = None,
        *,
        num_classes: int | None = None,
        problem_type: str = "auto",
        pooling: str = "auto",
        max_length: int | None = None,
        allow_missing: bool = False,
        dropout: float | None = None,
        **tokenizer_options: Any,
    ) -> TextClassifier:
        """Loads a trained classifier, or starts a new one from pretrained BERT weights.

        Without `labels`/`num_classes`: `path_or_name` is a directory written by
        `save_pretrained` (e.g. by `tfbert train`) and the whole classifier is restored
        (`tokenizer_options` override saved tokenizer settings).
        With them: the encoder comes from any checkpoint `tfbert.modeling.checkpoints` reads
        (Hugging Face, Google BERT, keras-hub, tfbert, or the name "minilm-l6"), or from a
        `PretrainedBert` already read with `load_pretrained`, and the head is new. The
        tokenizer uses the checkpoint's vocabulary and lowercasing (override with
        `lowercase=...` or any other BertTokenizer option). `pooling="auto"` follows the
        checkpoint's own pooling when it declares one (sentence-transformers models: mean),
        else BERT's [CLS] pooler. `dropout` replaces the checkpoint's hidden and attention
        dropout (a model pretrained without dropout is usually fine-tuned with 0.1).
        """
        if max_length is not None:
            tokenizer_options["max_length"] = max_length
        if labels is None and num_classes is None:
            return cls.load(path_or_name, **tokenizer_options)
        tokenizer_options.setdefault("max_length", 128)
        if labels is None:
            labels = [str(i) for i in range(num_classes)]
        pretrained = (
            path_or_name
            if isinstance(path_or_name, PretrainedBert)
            else load_pretrained(path_or_name)
        )
        config = pretrained.config if dropout is None else pretrained.config.with_dropout(dropout)
        options = {**pretrained.tokenizer_options(), **tokenizer_options}
        tokenizer = BertTokenizer(pretrained.vocabulary, **options)
        model = BertClassifier(
            config,
            labels=labels,
            tokenizer=tokenizer,
            problem_type=problem_type,
            pooling=(pretrained.pooling or "cls") if pooling == "auto" else pooling,
        )
        load_encoder_weights(model.encoder, pretrained, allow_missing=allow_missing)
        return model

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "config": self.bert_config.to_dict(),
            "tokenizer": keras.saving.serialize_keras_object(self.preprocessor),
            **self.task_config(),
        }


def classification_result(
    probabilities: np.ndarray, labels: Sequence[str], problem_type: str, threshold: float = 0.5
) -> dict[str, Any]:
    """What `predict_texts` returns for rows of probabilities: `probabilities`, `label_ids`,
    `labels` (the most likely label) and, for multilabel, `predicted` (labels >= threshold)."""
    label_ids = probabilities.argmax(axis=-1)
    result = {
        "probabilities": probabilities,
        "label_ids": label_ids,
        "labels": [labels[i] for i in label_ids],
    }
    if problem_type == "multilabel":
        result["predicted"] = [
            [labels[j] for j in np.flatnonzero(row >= threshold)] for row in probabilities
        ]
    return result


def classifier_from_pretrained(path_or_name: str | Path, labels: Sequence[str], **options: Any):
    """A BertClassifier whose encoder starts from a pretrained checkpoint (see
    `BertClassifier.from_pretrained`; kept under this name for one release)."""
    return BertClassifier.from_pretrained(path_or_name, labels, **options)


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
