"""Building a task from a pretrained checkpoint: `classifier_from_pretrained`.

The checkpoint readers (`tfbert.modeling.checkpoints`) return a backbone config, encoder
weights and a vocabulary and never import a task; this module puts them into a classifier.

    from tfbert.tasks.pretrained import classifier_from_pretrained
    model = classifier_from_pretrained("minilm-l6", labels=["neg", "pos"])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfbert.modeling.checkpoints import load_encoder_weights, load_pretrained

__all__ = ["classifier_from_pretrained"]


def classifier_from_pretrained(
    path_or_name: str | Path,
    labels: Sequence[str],
    *,
    problem_type: str = "auto",
    pooling: str = "auto",
    max_length: int = 128,
    allow_missing: bool = False,
    dropout: float | None = None,
    **tokenizer_options: Any,
):
    """A BertClassifier whose encoder starts from a pretrained checkpoint.

    The tokenizer uses the checkpoint's vocabulary and lowercasing (override with
    `lowercase=...`, `strip_accents=...` or any other BertTokenizer option); the config is the
    checkpoint's; the classification head is freshly initialised. `pooling="auto"` follows the
    checkpoint's own pooling when it declares one (sentence-transformers models: mean), else
    BERT's [CLS] pooler. `dropout` replaces the checkpoint's hidden and attention dropout
    (a model pretrained without dropout is usually fine-tuned with 0.1).
    """
    from tfbert.tasks.classifier import BertClassifier
    from tfbert.text.tokenizer import BertTokenizer

    pretrained = load_pretrained(path_or_name)
    config = pretrained.config
    if dropout is not None:
        config = config.with_dropout(dropout)
    options: dict[str, Any] = {"lowercase": pretrained.lowercase}
    if pretrained.strip_accents is not None:
        options["strip_accents"] = pretrained.strip_accents
    options.update(tokenizer_options)
    tokenizer = BertTokenizer(pretrained.vocabulary, max_length=max_length, **options)
    model = BertClassifier(
        config,
        labels=labels,
        tokenizer=tokenizer,
        problem_type=problem_type,
        pooling=(pretrained.pooling or "cls") if pooling == "auto" else pooling,
    )
    load_encoder_weights(model.encoder, pretrained, allow_missing=allow_missing)
    return model
