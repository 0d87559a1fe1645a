"""What the pretraining task tests share: tiny sizes and a brief, measured training run."""

from __future__ import annotations

from typing import Any

from tfbert.data.pretraining import documents_from_texts
from tfbert.training.optimization import create_optimizer

TINY = {"hidden_size": 64, "num_heads": 2, "intermediate_size": 256}
# Wider than TINY: what a model needs to learn the short reviews within a couple of hundred steps.
LEARNING = {**TINY, "hidden_size": 128, "intermediate_size": 512}


def short_documents(reviews: list[str]) -> list[list[str]]:
    """48 short real reviews (20-60 characters) as documents: ~50 sequences of 32 tokens."""
    return documents_from_texts([text for text in reviews if 20 <= len(text) <= 60][:48])


def train_briefly(model: Any, documents: list[list[str]], learning_rate: float, steps: int = 200):
    """Fits `model` for `steps` on `documents` and scores fixed masks before and after.

    Returns (scores before, the fit history, scores after); the probe is the same data with
    static masks, so its figures compare across the run.
    """
    options = {"batch_size": 64, "max_predictions_per_seq": 5, "resample_pairs": False, "seed": 1}
    train = model.pretraining_dataset(documents, cache_pairs=True, repeat=True, **options)
    probe = model.pretraining_dataset(documents, dynamic_masking=False, **options)
    model.compile(create_optimizer(learning_rate, total_steps=steps, weight_decay=0.0))
    before = model.evaluate(probe, verbose=0, return_dict=True)
    history = model.fit(
        train, epochs=10, steps_per_epoch=steps // 10, verbose=0, shuffle=False
    ).history
    after = model.evaluate(probe, verbose=0, return_dict=True)
    return before, history, after, probe
