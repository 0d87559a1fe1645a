"""A text classifier's serving signatures (raw strings in; the tokenizer is in the graph).

- `serving_default` (Predict API): `text` [batch] string (and `text_pair` for pair models) ->
  `probabilities` [batch, labels] float32, `label_id` [batch] int64, `label` [batch] string.
- `classify` (Classify API, method `tensorflow/serving/classify`): serialized `tf.Example`s in
  `inputs` with a bytes feature `text` (and `text_pair`) -> `classes` [batch, labels] string
  and `scores` [batch, labels] float32.

Each variable is tracked once by a plain `tf.Module` (Keras's ExportArchive tracks them twice,
doubling the export), or not at all when the weights are frozen into the graph as constants.
The version also holds the label names (`assets.extra/tfbert_labels.json`) and TF Serving
warm-up requests, one per signature. Use it through the classifier:

    model.export("exports/imdb")                      # exports/imdb/1/
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import tensorflow as tf

from tfbert.contract import (
    CLASSIFY_CLASSES,
    CLASSIFY_INPUTS,
    CLASSIFY_METHOD,
    CLASSIFY_SCORES,
    CLASSIFY_SIGNATURE,
    PREDICT_SIGNATURE,
    TEXT_INPUT,
    TEXT_PAIR_INPUT,
)
from tfbert.export.saved_model import write_labels, write_model_info, write_saved_model
from tfbert.export.warmup import DEFAULT_WARMUP_TEXTS, write_warmup_requests


class ClassifierServingModule(tf.Module):
    """Predict and Classify functions over strings; the weights are tracked once (or are
    constants inside `logits`), the functions close over the model untracked.

    Args:
        logits: features -> float32 logits (a task's numeric inference function).
        tokenizer: strings (or a (texts, pairs) tuple) -> features, padding to the longest.
        probabilities: logits -> probabilities, one column per label.
        labels: label names in column order.
        pair: whether the model reads sentence pairs.
        weights: variables to track (empty for constant-weight exports).
    """

    def __init__(
        self,
        logits: Callable[[dict[str, tf.Tensor]], tf.Tensor],
        tokenizer: Callable[[Any], dict[str, tf.Tensor]],
        probabilities: Callable[[tf.Tensor], tf.Tensor],
        labels: Sequence[str],
        pair: bool,
        weights: Sequence[Any] = (),
    ) -> None:
        super().__init__(name="tfbert_serving")
        label_names = tf.constant(list(labels))
        self._weights = list(weights)
        text_names = (TEXT_INPUT, TEXT_PAIR_INPUT) if pair else (TEXT_INPUT,)

        def outputs(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            scores = probabilities(logits(features))
            label_id = tf.argmax(scores, axis=-1)
            return {
                "probabilities": scores,
                "label_id": label_id,
                "label": tf.gather(label_names, label_id),
            }

        def classify(inputs):
            spec = {name: tf.io.FixedLenFeature([], tf.string) for name in text_names}
            parsed = tf.io.parse_example(inputs, spec)
            text = tuple(parsed[name] for name in text_names) if pair else parsed[TEXT_INPUT]
            scores = outputs(tokenizer(text))["probabilities"]
            classes = tf.tile(label_names[None, :], [tf.shape(scores)[0], 1])
            return {CLASSIFY_CLASSES: classes, CLASSIFY_SCORES: scores}

        def string_batch(name: str) -> tf.TensorSpec:
            return tf.TensorSpec([None], tf.string, name=name)

        if pair:
            self.predict = tf.function(
                lambda text, text_pair: outputs(tokenizer((text, text_pair))),
                input_signature=[string_batch(TEXT_INPUT), string_batch(TEXT_PAIR_INPUT)],
                autograph=False,
            )
        else:
            self.predict = tf.function(
                lambda text: outputs(tokenizer(text)),
                input_signature=[string_batch(TEXT_INPUT)],
                autograph=False,
            )
        self.classify = tf.function(
            classify, input_signature=[string_batch(CLASSIFY_INPUTS)], autograph=False
        )


def write_classifier(
    module: ClassifierServingModule,
    labels: Sequence[str],
    export_base: str | Path,
    version: int | None = None,
    *,
    pair: bool = False,
    overwrite: bool = False,
    warmup_texts: Sequence[str] | None = None,
    settings: dict[str, Any] | None = None,
) -> Path:
    """Writes a classifier's serving module as `<export_base>/<version>/` (see the module doc).

    `warmup_texts` (default: a few fixed English and Chinese samples; an empty sequence writes
    none) become TF Serving warm-up requests, so a server's first real request is not the one
    paying for tracing. `settings` (problem type, threshold) are recorded beside the labels.
    """
    texts = DEFAULT_WARMUP_TEXTS if warmup_texts is None else warmup_texts

    def extra(directory: Path) -> None:
        write_labels(directory, list(labels))
        write_model_info(
            directory, {"task": "classifier", "labels": list(labels), **(settings or {})}
        )
        if len(texts):
            write_warmup_requests(directory, texts, pair=pair)

    return write_saved_model(
        module,
        {
            PREDICT_SIGNATURE: module.predict.get_concrete_function(),
            CLASSIFY_SIGNATURE: module.classify.get_concrete_function(),
        },
        export_base,
        version,
        overwrite=overwrite,
        methods={CLASSIFY_SIGNATURE: CLASSIFY_METHOD},
        write_extra=extra,
    )
