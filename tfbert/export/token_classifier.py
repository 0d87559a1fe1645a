"""A token classifier's (NER model's) serving signatures: raw strings in, entities out.

Both signatures, `serving_default` and `entities` (the same function under a name of its
own), take `text` [batch] string and return, per text, padded to the batch's most and with
counts (the shape TF Serving's Predict API needs; names in `tfbert.contract.TAGGER_OUTPUTS`):

- `entity_count` [batch] int32; `entity_type`, `entity_text` [batch, entities] string;
  `entity_start`, `entity_end` [batch, entities] int64, character offsets into the original
  string (`text[start:end]` in Python is the entity); `entity_score` [batch, entities] float32.
- `token_count` [batch] int32; `token_tag` [batch, words] string; `token_start`, `token_end`
  [batch, words] int64; `token_score` [batch, words] float32: each word's tag, its place in
  the string and its probability.

Tokenization, the windows of long texts, the model, CRF decoding and the reading of entities
from tags all run in the graph. `tagged_texts` turns the outputs into Python dicts:

    predict = tf.saved_model.load("exports/ner/1").signatures["serving_default"]
    texts = ["Angela Merkel visited Paris."]
    tagged_texts(texts, predict(text=tf.constant(texts)))[0]["entities"]

Written with the atomic versioned writer (`tfbert.export.saved_model`); the version also holds
the tag names (`assets.extra/tfbert_labels.json`), the scheme and TF Serving warm-up requests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import tensorflow as tf

from tfbert.contract import (
    PREDICT_SIGNATURE,
    TAGGER_SIGNATURE,
    TEXT_INPUT,
    TOKEN_CLASSIFIER_TASK,
)
from tfbert.contract import tagged_texts as tagged_texts  # re-exported: written in the contract
from tfbert.export.saved_model import write_labels, write_model_info, write_saved_model
from tfbert.export.warmup import DEFAULT_WARMUP_TEXTS, write_warmup_requests


class TokenClassifierServingModule(tf.Module):
    """The tagging function over strings; the weights are tracked once (or are constants
    inside `tag`).

    Args:
        tag: a 1-D string batch -> the `TAGGER_OUTPUTS` tensors (a task's `tag_function`).
        weights: variables to track (empty for constant-weight exports).
    """

    def __init__(
        self, tag: Callable[[tf.Tensor], dict[str, tf.Tensor]], weights: Sequence[Any] = ()
    ) -> None:
        super().__init__(name="tfbert_serving")
        self._weights = list(weights)
        self.predict = tf.function(
            lambda text: tag(text),
            input_signature=[tf.TensorSpec([None], tf.string, name=TEXT_INPUT)],
            autograph=False,
        )


def write_token_classifier(
    module: TokenClassifierServingModule,
    tags: Sequence[str],
    export_base: str | Path,
    version: int | None = None,
    *,
    overwrite: bool = False,
    warmup_texts: Sequence[str] | None = None,
    settings: dict[str, Any] | None = None,
) -> Path:
    """Writes a token classifier's serving module as `<export_base>/<version>/`.

    `warmup_texts` (default: a few English and Chinese samples; empty writes none) become TF
    Serving warm-up requests; `settings` (scheme, CRF, entity types) are recorded beside the
    tag names.
    """
    texts = DEFAULT_WARMUP_TEXTS if warmup_texts is None else warmup_texts

    def extra(directory: Path) -> None:
        write_labels(directory, list(tags))
        write_model_info(
            directory, {"task": TOKEN_CLASSIFIER_TASK, "tags": list(tags), **(settings or {})}
        )
        if len(texts):
            write_warmup_requests(directory, texts, classify=False)

    function = module.predict.get_concrete_function()
    return write_saved_model(
        module,
        {PREDICT_SIGNATURE: function, TAGGER_SIGNATURE: function},
        export_base,
        version,
        overwrite=overwrite,
        write_extra=extra,
    )
