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

bfloat16 is only faster where the CPU multiplies it natively (x86 AVX-512 BF16 or AMX, Arm's
BF16 extension); elsewhere oneDNN converts it and it runs no faster than float32 while its
results still move, so choosing it there warns (`emulated_bfloat16`).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keras
import tensorflow as tf

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# Inference copies (a task's for_inference) store the Dense weights in the low precision
# too: no per-call cast of every kernel, and half the bytes.
INFERENCE_POLICIES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


# CPU flags (Linux /proc/cpuinfo) of native bfloat16 matmuls: x86 AVX-512 BF16 and AMX, Arm BF16.
BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def set_precision(name: str) -> str:
    """Sets Keras's global dtype policy; returns the policy name. Warns when bfloat16 would be
    emulated (`emulated_bfloat16`)."""
    if name not in PRECISIONS:
        raise ValueError(f"Unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}.")
    warn_if_emulated(name)
    keras.mixed_precision.set_global_policy(PRECISIONS[name])
    return PRECISIONS[name]


@functools.cache
def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags as Linux lists them in /proc/cpuinfo; None where it cannot tell."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    lines = re.findall(r"^(?:flags|Features)\s*:(.*)$", text, flags=re.MULTILINE)
    return frozenset(" ".join(lines).split()) if lines else None


def emulated_bfloat16() -> bool:
    """True when bfloat16 matmuls would run emulated: no GPU or TPU, and a CPU known to lack
    native bfloat16 (none of `BFLOAT16_CPU_FLAGS`). False where that cannot be told."""
    flags = cpu_flags()
    if flags is None or flags & BFLOAT16_CPU_FLAGS:
        return False
    return not any(tf.config.list_physical_devices(kind) for kind in ("GPU", "TPU"))


def warn_if_emulated(precision: str) -> None:
    """Warns that `precision` "bfloat16" will be slow here, when it will (`emulated_bfloat16`)."""
    if precision == "bfloat16" and emulated_bfloat16():
        warnings.warn(
            "This CPU has no native bfloat16 (AVX-512 BF16, AMX or Arm BF16): bfloat16 runs no "
            "faster than float32 here and its results move slightly; use --precision float32 "
            "(precision='float32') on this machine.",
            stacklevel=3,
        )


@contextmanager
def dtype_policy(policy: str) -> Iterator[None]:
    """Keras's global dtype policy set to `policy` while layers are built inside, then restored."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
