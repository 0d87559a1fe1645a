"""What a task asks of any backbone: packed features in, sequence and pooled vectors out.

A task (tfbert.tasks) is given a backbone and a preprocessor; it never builds either itself.
Any Keras layer that follows this contract plugs in: the BERT encoder
(`tfbert.modeling.bert.BertEncoder`), or a TextCNN, a BiLSTM or a bag of embeddings.

    features = {"token_ids": ..., "segment_ids": ..., "padding_mask": ...}  # [batch, length] int32
    outputs = backbone(features, training=False)
    outputs["sequence_output"]  # [batch, length, output_size]: one vector per token
    outputs["pooled_output"]    # [batch, output_size]: one vector per text

A new backbone subclasses `Backbone`, registers itself with
`keras.saving.register_keras_serializable`, implements `call`, `get_config` and
`output_size`, and is then saved and restored with the task (`save_pretrained`).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from tfbert.contract import FEATURE_NAMES


class Backbone(keras.layers.Layer):
    """Base class of the networks a task reads features through (see the module docstring).

    Optional abilities, off by default:
    - `supports_output_positions`: `call(..., output_positions=[batch, p])` returns the
      sequence output at those positions only (and may compute less). Without it a task
      gathers the positions itself.
    - `pooler`: a layer whose output is `pooled_output`; a task that does not read the pooled
      output freezes it so the optimizer does not track weights without gradients.
    - `token_embeddings`: the [vocab, hidden] input embedding matrix (tied masked-LM decoders,
      adversarial training on the embeddings).
    - `supports_hidden_states`: `call(..., return_all_layers=True)` adds `hidden_states`, the
      list of every layer's [batch, length, output_size] output, lowest first (pooling over
      the last layers).
    - `layer_groups()`: the trainable variables by layer, lowest first (layer-wise
      learning-rate decay).
    """

    feature_names = FEATURE_NAMES
    supports_output_positions = False
    supports_hidden_states = False
    pooler: keras.layers.Layer | None = None

    @property
    def output_size(self) -> int:
        """The width of `sequence_output` and `pooled_output`."""
        raise NotImplementedError(f"{type(self).__name__} must define output_size.")

    @property
    def vocabulary_size(self) -> int | None:
        """How many token ids the backbone embeds (None: it does not embed token ids)."""
        return None

    @property
    def max_length(self) -> int | None:
        """The longest sequence the backbone accepts (None: any length)."""
        return None

    def layer_groups(self) -> list[list[keras.Variable]] | None:
        """The variables of each layer, from the input up (None: not divided into layers)."""
        return None

    @property
    def token_embeddings(self) -> keras.Variable:
        raise NotImplementedError(f"{type(self).__name__} has no token embedding matrix.")

    @property
    def matmul_dtype(self) -> str:
        """The dtype the backbone's matmuls compute in (bfloat16 under a bfloat16 policy)."""
        return self.dtype_policy.compute_dtype

    @property
    def stores_low_precision_weights(self) -> bool:
        """Whether the weights are stored in bfloat16/float16 (a `for_inference` copy)."""
        return any(v.dtype in ("bfloat16", "float16") for v in self.weights)

    def compute_output_spec(self, features: dict[str, Any], training: Any = None, **_: Any):
        """Output shapes for Keras's functional API: [batch, length, output_size] per token,
        [batch, output_size] per text (override when they differ)."""
        batch, length = features["token_ids"].shape
        dtype = self.compute_dtype
        return {
            "sequence_output": keras.KerasTensor((batch, length, self.output_size), dtype),
            "pooled_output": keras.KerasTensor((batch, self.output_size), dtype),
        }

    def dummy_inputs(self, batch: int = 1, length: int = 8) -> dict[str, Any]:
        """Numeric features of the right structure, for building weights before loading them."""
        ones = ops.ones((batch, length), dtype="int32")
        return {"token_ids": ones, "segment_ids": ops.zeros_like(ones), "padding_mask": ones}

    def check_preprocessor(self, preprocessor: Any) -> None:
        """Raises ValueError when `preprocessor` makes ids or lengths this backbone cannot take."""
        longest = self.max_length
        max_length = getattr(preprocessor, "max_length", None)
        if longest is not None and max_length is not None and max_length > longest:
            raise ValueError(
                f"max_length {max_length} exceeds the model's {longest} position embeddings; "
                "lower max_length (for long texts, truncation='head_tail' keeps the start and "
                "the end)."
            )
        size = self.vocabulary_size
        vocabulary_size = getattr(preprocessor, "vocabulary_size", None)
        if size is not None and vocabulary_size is not None and vocabulary_size > size:
            raise ValueError(
                f"The vocabulary has {vocabulary_size} tokens but the model embeds only {size}; "
                f"use a model with vocab_size >= {vocabulary_size}."
            )
