"""Mixed precision by name: float32, bfloat16 (CPU/TPU and recent GPUs), float16 (GPUs).

Keras keeps variables in float32 and computes in the lower precision. tfbert keeps the parts
that need range or accuracy in float32 whatever the policy: the attention softmax and its
padding bias, the classification head's logits, the probabilities and the losses. With
float16, Keras's `compile` wraps the optimizer in a LossScaleOptimizer (dynamic loss scaling).
Set the precision before building the model: layers read the global policy when created.
"""

from __future__ import annotations

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
