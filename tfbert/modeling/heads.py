"""Task heads that sit on the encoder's outputs."""

from __future__ import annotations

from typing import Any

import keras


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
