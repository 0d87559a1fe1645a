"""A bidirectional LSTM with attention pooling: a recurrent backbone trained from scratch.

Token embeddings go through a bidirectional LSTM that skips padded positions (Keras masking);
a learned query scores every position's state, a softmax over the real tokens turns the scores
into weights, and the weighted sum of the states is the text's vector (attention pooling, as
in Yang et al. 2016 and Lin et al. 2017). It reads the same features as BERT
(`tfbert.modeling.backbone`), so it plugs into any task, trains with `fit`, exports and serves
raw strings through the in-graph tokenizer:

    preprocessor = BertTokenizer(learn_vocabulary(texts), max_length=256)
    backbone = BiLSTM.from_vocabulary(preprocessor)
    model = TextClassifier(backbone, preprocessor, labels=["negative", "positive"])

`tfbert train --model bilstm` trains one.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from tfbert.modeling.backbone import Backbone
from tfbert.modeling.textcnn import MASKED

POOLINGS = ("attention", "mean")


def attention_pool(states: Any, scores: Any, mask: Any) -> Any:
    """The `scores`-weighted mean of `states` [batch, length, width] over the positions where
    `mask` [batch, length] is true; `scores` is [batch, length] (softmax in float32)."""
    scores = ops.where(mask, ops.cast(scores, "float32"), MASKED)
    weights = ops.softmax(scores, axis=-1)
    pooled = ops.sum(ops.expand_dims(weights, -1) * ops.cast(states, "float32"), axis=1)
    return ops.cast(pooled, states.dtype)


@keras.saving.register_keras_serializable(package="tfbert")
class BiLSTM(Backbone):
    """Embeddings, a masked bidirectional LSTM and attention pooling.

    Args:
        vocabulary_size: how many token ids to embed (the tokenizer's vocabulary size).
        embedding_size: width of the token embeddings.
        units: LSTM units per direction; the outputs are 2 * units wide.
        attention_size: width of the layer that scores each position against the query.
        dropout: dropout on the embeddings and on the pooled vector while training.
        pooling: "attention" (the default) or "mean", the plain mean over real tokens: for
            tasks that read only `sequence_output` (token tagging), which then carry no
            pooling weights that never get a gradient.

    Outputs: `sequence_output` [batch, length, 2 * units], the forward and backward LSTM states
    of each token; `pooled_output` [batch, 2 * units], their attention-weighted mean.
    """

    def __init__(
        self,
        vocabulary_size: int,
        embedding_size: int = 128,
        units: int = 128,
        attention_size: int = 128,
        dropout: float = 0.3,
        pooling: str = "attention",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if min(vocabulary_size, embedding_size, units, attention_size) < 1:
            raise ValueError(
                "vocabulary_size, embedding_size, units and attention_size must be at least 1."
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}.")
        self.pooling = pooling
        self.size = int(vocabulary_size)
        self.embedding_size = int(embedding_size)
        self.units = int(units)
        self.attention_size = int(attention_size)
        self.dropout_rate = float(dropout)
        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(
            self.size, self.embedding_size, dtype=policy, name="token_embeddings"
        )
        # Both directions named here: weight paths in model.safetensors must not depend on how
        # many LSTMs the process made before (Keras numbers unnamed layers).
        forward, backward = (
            keras.layers.LSTM(
                self.units, return_sequences=True, go_backwards=back, dtype=policy, name=name
            )
            for back, name in ((False, "forward"), (True, "backward"))
        )
        self.lstm = keras.layers.Bidirectional(
            forward, backward_layer=backward, merge_mode="concat", dtype=policy, name="lstm"
        )
        self.attention = self.query = None
        if pooling == "attention":
            self.attention = keras.layers.Dense(
                self.attention_size, activation="tanh", dtype=policy, name="attention"
            )
            # The learned query: one score per position, the dot product of query and projection.
            self.query = keras.layers.Dense(1, use_bias=False, dtype=policy, name="query")
        self.embedding_dropout = keras.layers.Dropout(self.dropout_rate, name="embedding_dropout")
        self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout")

    @classmethod
    def from_vocabulary(cls, preprocessor: Any, **kwargs: Any) -> BiLSTM:
        """A BiLSTM embedding every token id `preprocessor` (a BertTokenizer) produces."""
        return cls(preprocessor.vocabulary_size, **kwargs)

    @property
    def output_size(self) -> int:
        return 2 * self.units

    @property
    def vocabulary_size(self) -> int:
        return self.size

    @property
    def token_embeddings(self) -> keras.Variable:
        return self.embedding.embeddings

    def build(self, input_shape: Any = None) -> None:
        self.embedding.build((None, None))
        self.lstm.build((None, None, self.embedding_size))
        if self.attention is not None:
            self.attention.build((None, None, self.output_size))
            self.query.build((None, None, self.attention_size))
        self.built = True

    def call(self, features: dict[str, Any], training: bool | None = None) -> dict[str, Any]:
        mask = ops.cast(features["padding_mask"], "bool")
        vectors = self.embedding_dropout(self.embedding(features["token_ids"]), training=training)
        states = self.lstm(vectors, mask=mask, training=training)
        if self.attention is None:  # the mean: every real token's score is equal
            scores = ops.zeros(ops.shape(mask), "float32")
        else:
            scores = ops.squeeze(self.query(self.attention(states)), axis=-1)
        pooled = self.dropout(attention_pool(states, scores, mask), training=training)
        return {"sequence_output": states, "pooled_output": pooled}

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "vocabulary_size": self.size,
            "embedding_size": self.embedding_size,
            "units": self.units,
            "attention_size": self.attention_size,
            "dropout": self.dropout_rate,
            **({} if self.pooling == "attention" else {"pooling": self.pooling}),
        }


__all__ = ["POOLINGS", "BiLSTM", "attention_pool"]
