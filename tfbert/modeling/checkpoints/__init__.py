"""Pretrained BERT checkpoints in, and out: Hugging Face, Google's original TF, keras-hub, tfbert.

One module per format, each with its reader and writer, plus the shared pieces:

- `loader`: `load_pretrained(path_or_name)` detects the format of a directory (or takes a
  built-in name such as `"minilm-l6"`) and returns a `PretrainedBert`; `resolve_checkpoint`.
- `pretrained`: the `PretrainedBert` record (config, encoder weights, vocabulary, lowercasing,
  pooling, pretraining-head weights) and the checks every reader applies.
- `encoder`: `load_encoder_weights(encoder, pretrained)` assigns a checkpoint to a `BertEncoder`.
- `new_tokens`: `similar_token_embeddings`, starting values for the word embeddings of the
  tokens a new vocabulary adds, from the shared tokens' embeddings and a corpus.
- `names`: tensor-name and config-field tables; `encoder_weight_shapes(config)`.
- `huggingface`: `export_huggingface` (loadable by `transformers.BertModel.from_pretrained`).
- `google`: `write_google_checkpoint` (the original TF variable names and `bert_config.json`).
- `keras_hub`: `export_keras_hub` (loadable by `keras_hub.models.BertBackbone.from_preset`).
- `native`: tfbert's own `save_pretrained` directories (`TFBERT_FORMAT`).
- `package`: `package_checkpoint(source, destination)`, a half-precision copy of a checkpoint
  with its model card: what tfbert ships in `tfbert/pretrained/<name>/`.

This package never imports a task: building a classifier from a checkpoint is
`tfbert.tasks.classifier.classifier_from_pretrained` (or `BertClassifier.from_pretrained`).

    from tfbert.modeling.bert import BertEncoder
    from tfbert.modeling.checkpoints import load_encoder_weights, load_pretrained

    pretrained = load_pretrained("path/to/bert")     # any of the formats above
    encoder = BertEncoder(pretrained.config)
    load_encoder_weights(encoder, pretrained)
"""

from __future__ import annotations

from tfbert.modeling.checkpoints.encoder import (
    carry_shared_rows,
    load_encoder_weights,
    shared_token_rows,
)
from tfbert.modeling.checkpoints.google import write_google_checkpoint
from tfbert.modeling.checkpoints.huggingface import export_huggingface
from tfbert.modeling.checkpoints.keras_hub import export_keras_hub
from tfbert.modeling.checkpoints.loader import load_pretrained, resolve_checkpoint
from tfbert.modeling.checkpoints.names import encoder_weight_shapes, huggingface_config
from tfbert.modeling.checkpoints.native import TFBERT_FORMAT
from tfbert.modeling.checkpoints.new_tokens import (
    NEW_TOKEN_SAMPLE_CHARACTERS,
    cooccurrence_vectors,
    similar_token_embeddings,
)
from tfbert.modeling.checkpoints.package import PACKAGE_DTYPES, package_checkpoint
from tfbert.modeling.checkpoints.pretrained import PretrainedBert
from tfbert.pretrained import (
    KNOWN_CHECKPOINTS,
    checkpoint_names,
    describe_checkpoints,
    shipped_checkpoints,
)

__all__ = [
    "KNOWN_CHECKPOINTS",
    "NEW_TOKEN_SAMPLE_CHARACTERS",
    "PACKAGE_DTYPES",
    "checkpoint_names",
    "describe_checkpoints",
    "shipped_checkpoints",
    "TFBERT_FORMAT",
    "carry_shared_rows",
    "cooccurrence_vectors",
    "PretrainedBert",
    "encoder_weight_shapes",
    "export_huggingface",
    "export_keras_hub",
    "huggingface_config",
    "load_encoder_weights",
    "load_pretrained",
    "package_checkpoint",
    "resolve_checkpoint",
    "shared_token_rows",
    "similar_token_embeddings",
    "write_google_checkpoint",
]


def __getattr__(name: str):
    # classifier_from_pretrained builds a task, and this package never imports one: it moved.
    if name == "classifier_from_pretrained":
        raise ImportError(
            "classifier_from_pretrained moved to tfbert.tasks.classifier: "
            "from tfbert.tasks.classifier import classifier_from_pretrained"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
