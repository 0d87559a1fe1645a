"""Task heads that sit on a backbone's outputs: classification, token classification (with an
optional CRF), pooling over the last layers, masked-LM.

A head is a Keras layer a task builds on `backbone(features)`; its logits are float32 so that
softmax, sigmoid and the losses stay accurate under mixed precision.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops

from tfbert.config import LAYER_POOLING_MODES, BertConfig
from tfbert.modeling.crf import CRF
from tfbert.modeling.layers import activation_function, dense_layer, float32, layer_norm


@keras.saving.register_keras_serializable(package="tfbert")
class ClassificationHead(keras.layers.Layer):
    """Dropout then a dense layer from the pooled output to one logit per output unit.

    The logits are always float32 so that softmax/sigmoid and the loss stay accurate under
    mixed precision.
    """

    def __init__(
        self, num_outputs: int, dropout: float = 0.1, initializer_range: float = 0.02, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.num_outputs = num_outputs
        self.dropout_rate = dropout
        self.initializer_range = initializer_range
        self.dropout = keras.layers.Dropout(dropout, dtype="float32")
        self.dense = keras.layers.Dense(
            num_outputs,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
            dtype="float32",
            name="logits",
        )

    def build(self, input_shape: Any) -> None:
        self.dense.build(input_shape)
        self.built = True

    def call(self, pooled_output, training=None):
        return self.dense(self.dropout(pooled_output, training=training))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (*input_shape[:-1], self.num_outputs)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_outputs": self.num_outputs,
            "dropout": self.dropout_rate,
            "initializer_range": self.initializer_range,
        }


@keras.saving.register_keras_serializable(package="tfbert")
class TokenClassificationHead(ClassificationHead):
    """Dropout then a dense layer from every position's vector to one score per tag (float32).

    Call it on a backbone's `sequence_output` [batch, length, width]; it returns the emissions
    [batch, length, num_outputs]. With `crf=True` it also holds a `CRF` (`self.crf`: transition,
    start and end scores) that a task uses for its loss and for decoding; the emissions are
    the same either way.
    """

    def __init__(
        self,
        num_outputs: int,
        dropout: float = 0.1,
        initializer_range: float = 0.02,
        crf: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_outputs, dropout, initializer_range, **kwargs)
        self.supports_masking = True  # it takes a masked input and drops the mask
        self.use_crf = bool(crf)
        self.crf = CRF(num_outputs, name="crf") if self.use_crf else None

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        if self.crf is not None:
            self.crf.build()

    def call(self, sequence_output, training=None):
        # A backbone with Keras masking (the BiLSTM) attaches its padding mask to its output;
        # the emissions carry none, or Keras would apply it to the per-sequence CRF loss.
        return super().call(tf.identity(sequence_output), training=training)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "crf": self.use_crf}


@keras.saving.register_keras_serializable(package="tfbert")
class LastLayersPooling(keras.layers.Layer):
    """The first ([CLS]) vector of each of the last `num_layers` layers, averaged ("mean") or
    concatenated ("concat"), in float32.

    Sun et al. 2019 ("How to Fine-Tune BERT for Text Classification?") compared such
    poolings with the usual [CLS] pooler. Call it on a backbone's `hidden_states` (the list of
    every layer's output, lowest first); a classifier builds it for `pooling="last4_mean"`.
    """

    def __init__(self, num_layers: int = 4, mode: str = "mean", **kwargs: Any) -> None:
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}.")
        if mode not in LAYER_POOLING_MODES:
            raise ValueError(f"mode must be one of {LAYER_POOLING_MODES}, got {mode!r}.")
        self.num_layers, self.mode = num_layers, mode

    def _firsts(self, hidden_states: list) -> list:
        if len(hidden_states) < self.num_layers:
            raise ValueError(
                f"Pooling over the last {self.num_layers} layers needs as many; the backbone "
                f"has {len(hidden_states)} (embeddings included): pool over fewer."
            )
        return [h[:, 0] for h in hidden_states[-self.num_layers :]]

    def call(self, hidden_states):
        firsts = [ops.cast(h, "float32") for h in self._firsts(hidden_states)]
        if self.mode == "mean":
            return ops.mean(ops.stack(firsts, axis=0), axis=0)
        return ops.concatenate(firsts, axis=-1)

    def compute_output_spec(self, hidden_states):
        first = self._firsts(hidden_states)[0]
        width = first.shape[-1] * (self.num_layers if self.mode == "concat" else 1)
        return keras.KerasTensor((first.shape[0], width), dtype="float32")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_layers": self.num_layers, "mode": self.mode}


@keras.saving.register_keras_serializable(package="tfbert")
class MaskedLMHead(keras.layers.Layer):
    """Gathers the masked positions, transforms them and decodes with the tied embeddings.

    Built by a pretraining task around its backbone's token embedding layer (which this layer uses
    but does not own: its matrix is trained and saved with the encoder). `input_size` is the
    width of the outputs it reads when they are not `config.hidden_size` wide (ELECTRA's
    narrower generator decoding with its discriminator's embeddings); the transform maps them
    to the embeddings' width, `config.hidden_size`.
    """

    def __init__(
        self,
        config: BertConfig | dict[str, Any],
        token_embedding: keras.layers.Embedding,
        input_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs["dtype"] = "float32"  # as the encoder: only the matmuls follow the policy
        super().__init__(**kwargs)
        self.config = config if isinstance(config, BertConfig) else BertConfig.from_dict(config)
        c = self.config
        self.input_size = input_size or c.hidden_size
        self.transform = dense_layer(c, c.hidden_size, "transform")
        self.activation = activation_function(c.hidden_act)
        self.layer_norm = layer_norm(c, "transform_layer_norm")
        # A function, not an attribute: Keras would otherwise track the embedding layer as a
        # sub-layer of this head too.
        self._token_embeddings = lambda: token_embedding.embeddings

    def build(self, input_shape: Any = None) -> None:
        hidden = self.config.hidden_size
        self.transform.build((None, None, self.input_size))
        self.layer_norm.build((None, None, hidden))
        self.output_bias = self.add_weight(
            shape=(self.config.vocab_size,), initializer="zeros", name="output_bias"
        )
        self.built = True

    def call(self, masked_output):
        """Logits for the encoder's outputs at the masked positions, [b, p, hidden] (the
        encoder selects them: its `output_positions`).

        The decoder is one [b * p, hidden] x [hidden, vocab] matmul in the Dense layers'
        compute dtype (bfloat16 under a bfloat16 policy, as the encoder's matmuls), its logits
        widened to float32 for the softmax. A batched [b, p, hidden] x [vocab, hidden] einsum
        would make autodiff build the embeddings' gradient as [b, vocab, hidden] and sum it.
        """
        x = self.layer_norm(self.activation(float32(self.transform(masked_output))))
        dtype = self.transform.compute_dtype
        shape = ops.shape(x)
        rows = ops.cast(ops.reshape(x, (-1, shape[-1])), dtype)
        embeddings = ops.cast(self._token_embeddings(), dtype)
        logits = float32(ops.matmul(rows, ops.transpose(embeddings)))
        logits = ops.reshape(logits, (shape[0], shape[1], self.config.vocab_size))
        return logits + ops.cast(self.output_bias, "float32")

    def compute_output_spec(self, masked_output):
        shape = (*masked_output.shape[:2], self.config.vocab_size)
        return keras.KerasTensor(shape, dtype="float32")

    def get_config(self) -> dict[str, Any]:
        # Only a task rebuilds this layer (it needs the backbone's embedding layer).
        return {
            **super().get_config(),
            "config": self.config.to_dict(),
            "input_size": self.input_size,
        }
