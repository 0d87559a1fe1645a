"""The whole BERT forward pass (Devlin et al. 2019), in Keras 3 layers.

    token_ids, segment_ids, padding_mask            [batch, length] int32
      -> BertEmbeddings: token + position + segment embeddings, LayerNorm, dropout
      -> num_layers x TransformerBlock (post-LN):
             x = LayerNorm(x + Dropout(SelfAttention(x, mask)))
             x = LayerNorm(x + Dropout(Dense(GELU(Dense(x)))))
      -> sequence_output [batch, length, hidden]
      -> pooler: tanh(Dense(sequence_output[:, 0]))  -> pooled_output [batch, hidden]

Heads that read only some positions (a [CLS] classifier, masked-LM pretraining) pass
`output_positions`: the last block then computes just those rows (BertEncoder).

Padding positions are removed from attention with an additive bias, so padding never changes the
outputs at real positions. Layer and weight names mirror the original checkpoint's structure so
importers can map names one to one.

Precision: only the matmuls follow Keras's dtype policy (bfloat16 or float16 under a mixed policy:
the Dense layers, the feed-forward GELU and the two attention matmuls, as PyTorch's autocast
does); the residual stream, embeddings, LayerNorm and the attention softmax and dropout always run
in float32. On CPUs, bfloat16 matmuls through oneDNN run about twice as fast as float32 while
stand-alone bfloat16 element-wise ops (erf, moments) run slower than float32 ones, so this split
is both the faster and the more accurate one (tfbert.modeling.precision).

Layout: inside the stack the hidden states are kept as one [batch * length, hidden] matrix, so
every Dense layer is a plain 2-D matmul that TensorFlow's graph optimiser fuses with its bias and
activation into one oneDNN call (a 3-D input goes through reshapes that block the fusion); only
attention reshapes to [batch, heads, length, head_size].
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops

from tfbert.config import BertConfig
from tfbert.modeling.backbone import Backbone
from tfbert.modeling.kernels import add_dropout_norm, fused_gelu
from tfbert.modeling.layers import (  # noqa: F401  (re-exported: the layers BERT is built from)
    Dense,
    Dropout,
    LayerNorm,
    activation_function,
    dense_layer,
    exact_gelu,
    float32,
    layer_norm,
    weight_initializer,
)


def _as_config(config: BertConfig | dict[str, Any]) -> BertConfig:
    return config if isinstance(config, BertConfig) else BertConfig.from_dict(config)


class _ConfiguredLayer(keras.layers.Layer):
    """A layer built from a BertConfig, serialised as the config's dict; computes in float32."""

    def __init__(self, config: BertConfig | dict[str, Any], **kwargs: Any) -> None:
        kwargs["dtype"] = "float32"  # see the module docstring: only Dense layers go lower
        super().__init__(**kwargs)
        self.config = _as_config(config)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "config": self.config.to_dict()}


@keras.saving.register_keras_serializable(package="tfbert")
class BertEmbeddings(_ConfiguredLayer):
    def __init__(self, config: BertConfig | dict[str, Any], **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        # The word table, the largest weight, is stored in the policy's variable dtype: float32
        # for training (also under mixed precision), bfloat16/float16 in a `for_inference` copy,
        # halving an export; the looked-up rows are cast back, so the sums below stay float32.
        self.token_embedding = keras.layers.Embedding(
            c.vocab_size,
            c.hidden_size,
            embeddings_initializer=weight_initializer(c),
            dtype=keras.config.dtype_policy().variable_dtype,
            name="token_embedding",
        )
        self.segment_embedding = keras.layers.Embedding(
            c.type_vocab_size,
            c.hidden_size,
            embeddings_initializer=weight_initializer(c),
            dtype="float32",
            name="segment_embedding",
        )
        self.layer_norm = layer_norm(c, "layer_norm")
        self.dropout = Dropout(c.hidden_dropout, dtype="float32")

    def build(self, input_shape: Any = None) -> None:
        c = self.config
        self.position_embedding = self.add_weight(
            shape=(c.max_position_embeddings, c.hidden_size),
            initializer=weight_initializer(c),
            name="position_embedding",
        )
        self.token_embedding.build((None, None))
        self.segment_embedding.build((None, None))
        self.layer_norm.build((None, None, c.hidden_size))
        self.built = True

    def call(self, token_ids, segment_ids, training=None):
        length = ops.shape(token_ids)[1]
        positions = ops.slice(self.position_embedding, (0, 0), (length, self.config.hidden_size))
        x = ops.cast(self.token_embedding(token_ids), "float32") + self.segment_embedding(
            segment_ids
        )
        x = x + ops.cast(positions[None], x.dtype)
        return self.dropout(self.layer_norm(x), training=training)


@keras.saving.register_keras_serializable(package="tfbert")
class SelfAttention(_ConfiguredLayer):
    """Multi-head scaled dot-product self-attention with a padding bias.

    `num_heads` (default: the config's) is this layer's head count; a pruned encoder keeps
    fewer heads in some layers (`BertConfig.layer_heads`), each still `head_size` wide.
    """

    def __init__(
        self, config: BertConfig | dict[str, Any], num_heads: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        self.num_heads = c.num_heads if num_heads is None else int(num_heads)
        width = self.num_heads * c.head_size
        self.query, self.key, self.value = (
            dense_layer(c, width, name) for name in ("query", "key", "value")
        )
        self.output_dense = dense_layer(c, c.hidden_size, "output")
        self.dropout = Dropout(c.attention_dropout, dtype="float32")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self.num_heads != self.config.num_heads:
            config["num_heads"] = self.num_heads
        return config

    def build(self, input_shape: Any = None) -> None:
        hidden = self.config.hidden_size
        for layer in (self.query, self.key, self.value):
            layer.build((None, None, hidden))
        self.output_dense.build((None, None, self.num_heads * self.config.head_size))
        self.built = True

    def call(self, x, key_bias, training=None, queries=None, head_mask=None):
        """x: [batch * length, hidden]; key_bias: [batch, length]. Returns the queries' shape.

        queries: the positions that attend, [batch, query_length, hidden] (default: every
        row of x); keys and values always come from all of x.
        head_mask: [num_heads] multipliers of each head's output (0 silences a head; a float
        tensor whose gradient is that head's importance, Michel et al. 2019); None (the
        default) adds nothing to the graph.
        """
        c = self.config
        num_heads, width = self.num_heads, self.num_heads * c.head_size
        batch, length = ops.shape(key_bias)[0], ops.shape(key_bias)[1]
        query_length = length if queries is None else ops.shape(queries)[1]
        query_rows = x if queries is None else ops.reshape(queries, (-1, c.hidden_size))

        def heads(projection, rows, n):  # [batch * n, width] -> [batch, heads, n, head_size]
            t = ops.reshape(projection(rows), (batch, n, num_heads, c.head_size))
            return ops.transpose(t, (0, 2, 1, 3))

        # Explicit head-major layout and batched matmuls: about 25% faster on CPU than the
        # equivalent einsums, which transpose inside every call. Both matmuls run in the Dense
        # layers' precision; the softmax and dropout in float32 (see below for inference).
        q = heads(self.query, query_rows, query_length)
        k, v = heads(self.key, x, length), heads(self.value, x, length)
        # The padding bias rides in the scores matmul as one more feature (1 on the query
        # side, the key's bias on the key side) instead of a separate pass over the
        # [batch, heads, length, length] scores: a quarter faster at 512 tokens, same result.
        scale = ops.cast(1.0 / c.head_size**0.5, q.dtype)
        ones = ops.ones((batch, num_heads, query_length, 1), q.dtype)
        q = ops.concatenate([q * scale, ones], axis=-1)
        column = (batch, num_heads, length, 1)
        # expand_dims, not key_bias[:, None, :, None]: LiteRT has no strided slice adding axes.
        key_column = ops.expand_dims(ops.expand_dims(key_bias, 1), -1)
        bias = ops.cast(ops.broadcast_to(key_column, column), k.dtype)
        k = ops.concatenate([k, bias], axis=-1)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))
        if training or scores.dtype != "bfloat16":
            probs = ops.cast(ops.softmax(float32(scores), axis=-1), v.dtype)
        else:
            # oneDNN's bfloat16 softmax accumulates in float32: bit-identical to the float32
            # softmax rounded to bfloat16, and 1.5x faster without the float32 copy of the
            # scores. Training keeps float32 for the softmax's gradient.
            probs = tf.nn.softmax(scores, axis=-1)
        if training and self.dropout.rate > 0:
            # Dropout on the probabilities as the matmul reads them, its 1 / (1 - rate) scale
            # applied to v (a quarter the size, in float32): three fewer passes over the
            # [batch, heads, length, length] probabilities and their gradient.
            keep = self.dropout.keep_mask(ops.shape(probs))
            probs = ops.where(keep, probs, ops.zeros_like(probs))
            v = ops.cast(float32(v) * (1.0 / (1.0 - self.dropout.rate)), v.dtype)
        context = ops.matmul(probs, v)
        if head_mask is not None:
            context = context * ops.cast(ops.reshape(head_mask, (1, num_heads, 1, 1)), v.dtype)
        context = ops.transpose(context, (0, 2, 1, 3))
        return float32(self.output_dense(ops.reshape(context, (-1, width))))


@keras.saving.register_keras_serializable(package="tfbert")
class TransformerBlock(_ConfiguredLayer):
    """One post-LayerNorm encoder block, as in the original BERT.

    `layer_index` picks this block's head count and feed-forward width from the config (they
    differ between the layers of a pruned encoder); None: the config's `num_heads` and
    `intermediate_size`.
    """

    def __init__(
        self, config: BertConfig | dict[str, Any], layer_index: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        self.layer_index = layer_index
        index = 0 if layer_index is None else layer_index
        heads = c.num_heads if layer_index is None else c.heads_in_layer(index)
        self.intermediate_size = (
            c.intermediate_size if layer_index is None else c.intermediate_size_of_layer(index)
        )
        self.attention = SelfAttention(c, num_heads=heads, name="attention")
        self.attention_layer_norm = layer_norm(c, "attention_layer_norm")
        # GELU in the matmul's precision: at inference TensorFlow fuses it into the matmul (a
        # fused bfloat16 GELU costs almost nothing; a separate float32 one 12% of a bfloat16
        # forward); in training it runs as fused_gelu.
        self.intermediate = dense_layer(c, self.intermediate_size, "intermediate")
        self.activation = activation_function(c.hidden_act)
        self.output_dense = dense_layer(c, c.hidden_size, "output")
        self.output_layer_norm = layer_norm(c, "output_layer_norm")
        self.dropout = Dropout(c.hidden_dropout, dtype="float32")

    def build(self, input_shape: Any = None) -> None:
        c = self.config
        self.attention.build()
        self.attention_layer_norm.build((None, None, c.hidden_size))
        self.intermediate.build((None, None, c.hidden_size))
        self.output_dense.build((None, None, self.intermediate_size))
        self.output_layer_norm.build((None, None, c.hidden_size))
        self.built = True

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self.layer_index is not None:
            config["layer_index"] = self.layer_index
        return config

    def call(self, x, key_bias, training=None, positions=None, head_mask=None, neuron_mask=None):
        """x: [batch * length, hidden] float32; key_bias: [batch, length].

        Returns x's shape, or with `positions` ([batch, p] int) only those positions,
        [batch * p, hidden]: they still attend to every token, but the rest of the block (the
        attention output, the feed-forward and both LayerNorms) runs on p rows per sequence
        instead of `length`.

        head_mask ([heads]) and neuron_mask ([intermediate_size]) multiply each attention
        head's output and each feed-forward neuron's activation (importance scoring,
        tfbert.tasks.pruning); None adds nothing to the graph.
        """
        queries, residual = None, x
        if positions is not None:
            hidden_size = self.config.hidden_size
            shape = (ops.shape(key_bias)[0], ops.shape(key_bias)[1], hidden_size)
            queries = tf.gather(ops.reshape(x, shape), positions, batch_dims=1)  # [batch, p, h]
            residual = ops.reshape(queries, (-1, hidden_size))
        attended = self.attention(
            x, key_bias, training=training, queries=queries, head_mask=head_mask
        )
        x = self._add_and_norm(self.attention_layer_norm, residual, attended, training)
        hidden = self.intermediate(x, training=training)
        if training and self.config.hidden_act == "gelu":
            hidden = fused_gelu(hidden)
        else:
            hidden = self.activation(hidden)
        if neuron_mask is not None:
            hidden = hidden * ops.cast(neuron_mask, hidden.dtype)
        transformed = self.output_dense(hidden)
        return self._add_and_norm(self.output_layer_norm, x, transformed, training)

    def _add_and_norm(self, norm, x, branch, training):
        if training:
            return add_dropout_norm(x, branch, norm, self.dropout)
        return norm(x + float32(branch))


@keras.saving.register_keras_serializable(package="tfbert")
class BertEncoder(_ConfiguredLayer, Backbone):
    """Embeddings, the transformer stack and the pooler.

    Call with a dict of `token_ids`, `segment_ids`, `padding_mask` ([batch, length] int32; any
    length up to `max_position_embeddings`). Returns a dict with `sequence_output`,
    `pooled_output` and, with `return_all_layers=True`, `hidden_states` (the embedding output
    followed by every block's output).

    `output_positions` ([batch, p] int32) asks for the outputs at those positions only:
    `sequence_output` is then [batch, p, hidden] and the pooler reads its first row (put
    position 0 first for BERT's [CLS] pooler). The last block then computes only those p
    positions: the same values, with 10 of that block's 12 hidden^2-sized matmuls per token
    skipped (only its keys and values need every token): ~14% of a 6-layer encoder's FLOPs
    for a [CLS] classifier, which asks for position 0 alone, and for masked-LM pretraining,
    which asks for [CLS] and the masked positions.
    """

    def __init__(
        self,
        config: BertConfig | dict[str, Any],
        *,
        embeddings: BertEmbeddings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        # Another encoder's embeddings, shared (ELECTRA's generator reads its discriminator's):
        # their width may differ from hidden_size, and a projection then maps them to it.
        self.shares_embeddings = embeddings is not None
        self.embeddings = embeddings or BertEmbeddings(c, name="embeddings")
        width = self.embeddings.config.hidden_size
        self.embedding_projection = None
        if width != c.hidden_size:
            self.embedding_projection = dense_layer(c, c.hidden_size, "embedding_projection")
        self.blocks = [
            TransformerBlock(c, layer_index=i if c.is_pruned else None, name=f"layer_{i}")
            for i in range(c.num_layers)
        ]
        self.pooler = dense_layer(c, c.hidden_size, "pooler", activation="tanh")

    def build(self, input_shape: Any = None) -> None:
        if not self.embeddings.built:
            self.embeddings.build()
        if self.embedding_projection is not None:
            self.embedding_projection.build((None, self.embeddings.config.hidden_size))
        for block in self.blocks:
            block.build()
        self.pooler.build((None, self.config.hidden_size))
        self.built = True

    def masked(self, head_mask: Any = None, neuron_mask: Any = None) -> Any:
        """A context in which every call of this encoder applies these masks (as if passed
        to `call`): for reading a task's loss through its own graph with masked heads and
        neurons (tfbert.tasks.pruning). Within a `tf.function`, enter it while tracing.

            with model.encoder.masked(head_mask=[tf.ones([12])] * 6):
                logits = model(features)
        """
        return _Masks(self, head_mask, neuron_mask)

    def call(
        self,
        inputs,
        training=None,
        return_all_layers=False,
        output_positions=None,
        head_mask=None,
        neuron_mask=None,
    ):
        """head_mask / neuron_mask: per layer (lowest first), None or a float vector of the
        layer's heads / feed-forward neurons that multiplies their outputs (see
        TransformerBlock); None for the whole list or a layer adds nothing to the graph."""
        if head_mask is None and neuron_mask is None:
            head_mask, neuron_mask = self.__dict__.get("_active_masks", (None, None))
        if output_positions is not None and return_all_layers:
            raise ValueError(
                "output_positions computes only those positions in the last layer; ask for "
                "return_all_layers without it."
            )
        embedded = self.embeddings(inputs["token_ids"], inputs["segment_ids"], training=training)
        if self.embedding_projection is not None:
            embedded = float32(self.embedding_projection(embedded))
        shape = ops.shape(embedded)
        # [batch, key] additive bias: 0 where attended, -30000 at padding (finite in float16
        # too; exp underflows to exactly 0 in the float32 softmax).
        mask = ops.cast(inputs["padding_mask"], "float32")
        key_bias = (1.0 - mask) * -30000.0
        x = ops.reshape(embedded, (-1, self.config.hidden_size))  # see "Layout" above
        hidden_states = [embedded]
        for index, block in enumerate(self.blocks):
            last = index == len(self.blocks) - 1
            x = block(
                x,
                key_bias,
                training=training,
                positions=output_positions if last else None,
                head_mask=None if head_mask is None else head_mask[index],
                neuron_mask=None if neuron_mask is None else neuron_mask[index],
            )
            if return_all_layers:
                hidden_states.append(ops.reshape(x, shape))
        if output_positions is not None:
            shape = (shape[0], ops.shape(output_positions)[1], shape[2])
        sequence = ops.reshape(x, shape)
        pooled = float32(self.pooler(sequence[:, 0]))
        outputs = {"sequence_output": sequence, "pooled_output": pooled}
        if return_all_layers:
            outputs["hidden_states"] = hidden_states
        return outputs

    def compute_output_spec(
        self,
        inputs,
        training=None,
        return_all_layers=False,
        output_positions=None,
        head_mask=None,
        neuron_mask=None,
    ):
        token_ids = inputs["token_ids"]
        batch, length = token_ids.shape[0], token_ids.shape[1]
        if output_positions is not None:
            length = output_positions.shape[1]
        hidden = self.config.hidden_size
        dtype = self.compute_dtype
        sequence = keras.KerasTensor((batch, length, hidden), dtype=dtype)
        outputs = {
            "sequence_output": sequence,
            "pooled_output": keras.KerasTensor((batch, hidden), dtype=dtype),
        }
        if return_all_layers:
            outputs["hidden_states"] = [
                keras.KerasTensor((batch, length, hidden), dtype=dtype)
                for _ in range(self.config.num_layers + 1)
            ]
        return outputs

    # ----- the Backbone contract ----------------------------------------------------------------
    supports_output_positions = True
    supports_hidden_states = True

    def layer_groups(self) -> list[list[keras.Variable]]:
        """The embeddings' variables, then each transformer block's (the pooler is in none)."""
        return [list(self.embeddings.weights)] + [list(block.weights) for block in self.blocks]

    @property
    def output_size(self) -> int:
        return self.config.hidden_size

    @property
    def vocabulary_size(self) -> int:
        return self.config.vocab_size

    @property
    def max_length(self) -> int:
        return self.config.max_position_embeddings

    @property
    def token_embeddings(self) -> keras.Variable:
        return self.embeddings.token_embedding.embeddings

    @property
    def matmul_dtype(self) -> str:
        return self.pooler.compute_dtype  # the layer itself computes in float32

    @property
    def stores_low_precision_weights(self) -> bool:
        return self.pooler.kernel.dtype in ("bfloat16", "float16")


class _Masks:
    """The context of `BertEncoder.masked` (kept out of Keras's attribute tracking)."""

    def __init__(self, encoder: BertEncoder, head_mask: Any, neuron_mask: Any) -> None:
        self.encoder, self.masks = encoder, (head_mask, neuron_mask)

    def __enter__(self) -> BertEncoder:
        self.previous = self.encoder.__dict__.get("_active_masks", (None, None))
        self.encoder.__dict__["_active_masks"] = self.masks
        return self.encoder

    def __exit__(self, *exc: Any) -> None:
        self.encoder.__dict__["_active_masks"] = self.previous
