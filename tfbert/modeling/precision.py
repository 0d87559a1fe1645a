"""Mixed precision by name: float32, bfloat16 (CPU/TPU and recent GPUs), float16 (GPUs).

Keras keeps variables in float32 and computes in the lower precision. In tfbert only the matmuls
follow the policy (tfbert.modeling.bert: the Dense layers and the two attention matmuls, as
PyTorch's autocast does): embeddings, the residual stream, LayerNorm, the attention softmax and
dropout, the classification logits and the losses stay float32. On CPUs oneDNN's bfloat16
matmuls run about twice as fast as float32 ones while stand-alone bfloat16 element-wise ops run
slower, so this split is both the faster and the closer one to float32 (README, "Precision",
and benchmarks/results/ have the measurements). With float16, Keras's `compile` wraps the
optimizer in a LossScaleOptimizer (dynamic loss scaling). Set the precision before building the
model: layers read the global policy when created.

    from tfbert.modeling.precision import set_precision
    set_precision("bfloat16")          # then build and train the model
    model.for_inference("bfloat16")    # a copy that also stores its Dense weights in bfloat16
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keras

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# Inference copies (a task's for_inference) store the Dense weights in the low precision
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
