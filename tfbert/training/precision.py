"""Mixed precision by name: float32, bfloat16 (CPU/TPU and recent GPUs), float16 (GPUs).

Keras keeps variables in float32 and computes in the lower precision. In tfbert only the Dense
layers follow the policy (tfbert.modeling.bert): embeddings, the residual stream, LayerNorm,
the attention softmax, the classification logits and the losses stay float32. Measured on a
2-core AVX-512 BF16 CPU (MiniLM-L6 shape, 32 x 128 tokens): oneDNN's bfloat16 matmuls run about
2x float32, but a stand-alone bfloat16 GELU-erf took 18 ms against 7 ms in float32 per
feed-forward block; computing everything in bfloat16 gave 1.2x float32, the Dense-only split
1.3x (152 vs 115 examples/s) with outputs 13x closer to float32. Since the feed-forward GELU
runs inside its Dense layer (fused into the matmul by oneDNN, in the Dense's precision) the
encoder makes 193 examples/s in bfloat16 against 129 in float32 (1.5x), and a bfloat16 training
step is 10% faster than with a separate float32 GELU. In training the GELU cannot stay fused
(its gradient needs the pre-activation), so it is written with erf rather than Keras's erfc:
a bfloat16 Erfc runs ~10x slower than Erf on real activations, and the erf form makes a
MiniLM bfloat16 training step ~10% faster (45 vs 41 examples/s at 32 x 128 tokens).
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
