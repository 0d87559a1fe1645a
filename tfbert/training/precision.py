"""Mixed precision by name: float32, bfloat16 (CPU/TPU and recent GPUs), float16 (GPUs).

Keras keeps variables in float32 and computes in the lower precision. In tfbert only the matmuls
follow the policy (tfbert.modeling.bert: the Dense layers and the two attention matmuls, as
PyTorch's autocast does): embeddings, the residual stream, LayerNorm, the attention softmax and
dropout, the classification logits and the losses stay float32. Measured on a 2-core AVX-512
BF16 CPU (MiniLM-L6 shape, 32 x 128 tokens): oneDNN's bfloat16 matmuls run about 2x float32,
but a stand-alone bfloat16 GELU-erf took 18 ms against 7 ms in float32 per feed-forward block;
computing everything in bfloat16 gave 1.2x float32, the matmul-only split 1.3x (152 vs 115
examples/s) with outputs 13x closer to float32. At inference the feed-forward GELU runs inside
its Dense layer (fused into the matmul by oneDNN, in the Dense's precision): the encoder makes
193 examples/s in bfloat16 against 129 in float32 (1.5x). In training the GELU cannot stay fused
(its gradient needs the pre-activation), so it runs as `fused_gelu`, whose forward pass and
gradient are each one XLA-compiled loop in float32 (autodiff of the written-out form took ~14
bfloat16 passes over the activations). Bias gradients are summed in float32 (TensorFlow's
bfloat16 BiasAddGrad accumulates in bfloat16). At inference the bfloat16 softmax is oneDNN's
bfloat16 kernel, which accumulates in float32 (bit-identical to the float32 one, rounded).
With float16, Keras's `compile` wraps the optimizer in a LossScaleOptimizer (dynamic loss
scaling). Set the precision before building the model: layers read the global policy when
created.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keras

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# Inference copies (BertClassifier.for_inference) store the Dense weights in the low precision
# too: no per-call cast of every kernel, and half the bytes.
INFERENCE_POLICIES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def set_precision(name: str) -> str:
    """Sets Keras's global dtype policy; returns the policy name."""
    if name not in PRECISIONS:
        raise ValueError(f"Unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}.")
    keras.mixed_precision.set_global_policy(PRECISIONS[name])
    return PRECISIONS[name]


@contextmanager
def dtype_policy(policy: str) -> Iterator[None]:
    """Keras's global dtype policy set to `policy` while layers are built inside, then restored."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
