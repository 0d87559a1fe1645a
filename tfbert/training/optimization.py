"""The BERT fine-tuning optimiser: AdamW, linear warm-up then linear decay, gradient clipping.

Devlin et al. 2019 fine-tune with Adam(W), weight decay 0.01 (not on LayerNorm and biases), a
linear warm-up over the first 10% of steps and linear decay to zero.
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="tfbert")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly to `peak` over `warmup_steps` updates, then falls linearly to `end`."""

    def __init__(
        self, peak: float, total_steps: int, warmup_steps: int = 0, end: float = 0.0
    ) -> None:
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}.")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps], got {warmup_steps}.")
        self.peak, self.total_steps, self.warmup_steps, self.end = (
            peak,
            total_steps,
            warmup_steps,
            end,
        )

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = keras.ops.maximum(float(self.warmup_steps), 1.0)
        # `step` counts updates already made, so the first update is step 0: (step + 1) keeps
        # it from being wasted at a learning rate of zero.
        rising = self.peak * (step + 1.0) / warmup
        decay_span = keras.ops.maximum(float(self.total_steps - self.warmup_steps), 1.0)
        progress = keras.ops.clip((step - self.warmup_steps) / decay_span, 0.0, 1.0)
        falling = self.peak + (self.end - self.peak) * progress
        return keras.ops.where(step < self.warmup_steps, rising, falling)

    def get_config(self) -> dict[str, Any]:
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "end": self.end,
        }


def create_optimizer(
    learning_rate: float = 5e-5,
    *,
    total_steps: int | None = None,
    warmup_fraction: float = 0.1,
    weight_decay: float = 0.01,
    clip_norm: float | None = 1.0,
) -> keras.optimizers.Optimizer:
    """AdamW for fine-tuning; with `total_steps`, the warm-up/decay schedule in global steps."""
    schedule: Any = learning_rate
    if total_steps:
        schedule = WarmupLinearDecay(learning_rate, total_steps, int(warmup_fraction * total_steps))
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=weight_decay,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        global_clipnorm=clip_norm,
    )
    # LayerNorm scales/offsets and biases are not decayed (as in BERT's reference optimiser).
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer
