"""TextCNN (Kim 2014): a convolutional backbone for text classification, trained from scratch.

Token embeddings go through parallel 1-D convolutions of several widths (3, 4 and 5 tokens by
default, ReLU); each filter's largest value over the real tokens (max-over-time pooling) forms
the text's vector. It reads the same features as BERT (`tfbert.modeling.backbone`), so it plugs
into any task, trains with `fit`, exports and serves raw strings through the in-graph tokenizer:

    preprocessor = BertTokenizer(learn_vocabulary(texts), max_length=256)
    backbone = TextCNN.from_vocabulary(preprocessor)
    model = TextClassifier(backbone, preprocessor, labels=["negative", "positive"])

Padding never changes a result: padded positions embed to zeros, which a convolution sees as the
end of the text, and they are left out of the max. `tfbert train --model textcnn` trains one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from tfbert.modeling.backbone import Backbone

# Added to padded positions before a max or a softmax over the sequence (in float32).
MASKED = -1e9


def masked_max(values: Any, mask: Any) -> Any:
    """The max over axis 1 of `values` [batch, length, width] at positions where `mask` is true."""
    scores = ops.cast(values, "float32")
    scores = ops.where(ops.expand_dims(mask, -1), scores, MASKED)
    return ops.cast(ops.max(scores, axis=1), values.dtype)


@keras.saving.register_keras_serializable(package="tfbert")
class TextCNN(Backbone):
    """Embeddings, parallel convolutions and max-over-time pooling (Kim 2014).

    Args:
        vocabulary_size: how many token ids to embed (the tokenizer's vocabulary size).
        embedding_size: width of the token embeddings.
        filters: filters per convolution width.
        kernel_sizes: the convolution widths, in tokens.
        dropout: dropout on the pooled vector while training.

    Outputs: `sequence_output` [batch, length, filters * len(kernel_sizes)], each position's
    convolution features (ReLU); `pooled_output` [batch, same width], their max over the real
    tokens.
    """

    def __init__(
        self,
        vocabulary_size: int,
        embedding_size: int = 128,
        filters: int = 128,
        kernel_sizes: Sequence[int] = (3, 4, 5),
        dropout: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        kernel_sizes = [int(size) for size in kernel_sizes]
        if vocabulary_size < 1 or embedding_size < 1 or filters < 1:
            raise ValueError("vocabulary_size, embedding_size and filters must be at least 1.")
        if not kernel_sizes or min(kernel_sizes) < 1:
            raise ValueError(f"kernel_sizes must be positive widths, got {kernel_sizes}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.size = int(vocabulary_size)
        self.embedding_size = int(embedding_size)
        self.filters = int(filters)
        self.kernel_sizes = kernel_sizes
        self.dropout_rate = float(dropout)
        self.embedding = keras.layers.Embedding(
            self.size, self.embedding_size, dtype=self.dtype_policy, name="token_embeddings"
        )
        # "same" padding gives one feature vector per token; a window reaching past the text
        # sees the zeros of padded positions, exactly as it would at the end of a shorter batch.
        self.convolutions = [
            keras.layers.Conv1D(
                self.filters,
                width,
                padding="same",
                activation="relu",
                dtype=self.dtype_policy,
                name=f"convolution_{width}",
            )
            for width in kernel_sizes
        ]
        self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout")

    @classmethod
    def from_vocabulary(cls, preprocessor: Any, **kwargs: Any) -> TextCNN:
        """A TextCNN embedding every token id `preprocessor` (a BertTokenizer) produces."""
        return cls(preprocessor.vocabulary_size, **kwargs)

    @property
    def output_size(self) -> int:
        return self.filters * len(self.kernel_sizes)

    @property
    def vocabulary_size(self) -> int:
        return self.size

    @property
    def token_embeddings(self) -> keras.Variable:
        return self.embedding.embeddings

    def build(self, input_shape: Any = None) -> None:
        self.embedding.build((None, None))
        for convolution in self.convolutions:
            convolution.build((None, None, self.embedding_size))
        self.built = True

    def call(self, features: dict[str, Any], training: bool | None = None) -> dict[str, Any]:
        mask = ops.cast(features["padding_mask"], "bool")
        vectors = self.embedding(features["token_ids"])
        vectors = vectors * ops.expand_dims(ops.cast(mask, vectors.dtype), -1)
        sequence = ops.concatenate([conv(vectors) for conv in self.convolutions], axis=-1)
        pooled = self.dropout(masked_max(sequence, mask), training=training)
        return {"sequence_output": sequence, "pooled_output": pooled}

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "vocabulary_size": self.size,
            "embedding_size": self.embedding_size,
            "filters": self.filters,
            "kernel_sizes": list(self.kernel_sizes),
            "dropout": self.dropout_rate,
        }


__all__ = ["TextCNN", "masked_max"]
