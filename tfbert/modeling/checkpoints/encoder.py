"""Moving weights between a `PretrainedBert` (or a writer) and a Keras `BertEncoder`.

`load_encoder_weights(encoder, pretrained)` assigns a checkpoint's weights, strictly; the
writers read an encoder's weights back as numpy arrays under the same relative paths.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from tfbert.errors import ModelFileError
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints.names import _TOKEN_EMBEDDINGS
from tfbert.modeling.checkpoints.pretrained import PretrainedBert
from tfbert.text.vocab import validate_vocabulary
from tfbert.weights import assign_weights, model_weights


def _encoder_variables(encoder: BertEncoder) -> tuple[str, dict[str, keras.Variable]]:
    """(path prefix, variables by path relative to the encoder), building the encoder if needed."""
    if not encoder.built:
        encoder.build()
    anchor = encoder.embeddings.position_embedding.path
    suffix = "embeddings/position_embedding"
    if not anchor.endswith(suffix):
        raise RuntimeError(f"Unexpected encoder variable path {anchor!r}.")
    prefix = anchor[: -len(suffix)]
    variables = {}
    for name, variable in model_weights(encoder).items():
        if not name.startswith(prefix):
            raise RuntimeError(f"Encoder variable {name!r} lies outside {prefix!r}.")
        variables[name[len(prefix) :]] = variable
    return prefix, variables


def load_encoder_weights(
    encoder: BertEncoder,
    pretrained: PretrainedBert,
    *,
    allow_missing: bool = False,
    new_vocabulary: Sequence[str] | None = None,
) -> int:
    """Assigns the checkpoint's encoder weights, strictly (see `tfbert.weights.assign_weights`).

    Raises ModelFileError listing every missing, unexpected and mis-shaped tensor. With
    `allow_missing=True`, variables the checkpoint lacks (e.g. a pooler) keep their
    initialisation. `new_vocabulary` is the encoder's own vocabulary when it differs from the
    checkpoint's (another language reusing the checkpoint's transformer layers and position
    embeddings): a token both vocabularies spell the same way (special tokens, digits,
    punctuation, Latin pieces, the CJK characters an English vocabulary holds) takes the
    checkpoint's embedding row, every other row keeps its initialisation. Returns how many rows
    were carried over (0 without a new vocabulary). The encoder must be configured like the
    checkpoint: sizes are checked via the shapes, and head count, activation and LayerNorm
    epsilon (which shapes do not reveal) are compared explicitly.
    """
    mine, theirs = encoder.config, pretrained.config
    differences = [
        f"{field} {getattr(mine, field)!r} vs {getattr(theirs, field)!r}"
        for field in ("num_heads", "hidden_act", "layer_norm_epsilon")
        if getattr(mine, field) != getattr(theirs, field)
    ]
    if differences:
        raise ModelFileError(
            f"The encoder is configured differently from the {pretrained.source} "
            f"({'; '.join(differences)}): its outputs would be wrong. Build the encoder with "
            "the checkpoint's config (PretrainedBert.config)."
        )
    prefix, variables = _encoder_variables(encoder)
    new_words = new_vocabulary is not None
    kept = {
        prefix + name: value
        for name, value in pretrained.encoder_weights.items()
        if not (new_words and name == _TOKEN_EMBEDDINGS)
    }
    assign_weights(
        encoder,
        kept,
        source=pretrained.source,
        allow_missing=allow_missing,
        skip=[prefix + _TOKEN_EMBEDDINGS] if new_words else (),
    )
    if not new_words:
        return 0
    return carry_shared_rows(
        variables[_TOKEN_EMBEDDINGS],
        pretrained.encoder_weights[_TOKEN_EMBEDDINGS],
        pretrained.vocabulary,
        new_vocabulary,
    )


def shared_token_rows(
    old_vocabulary: Sequence[str], new_vocabulary: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(rows in the new vocabulary, rows in the old one) of the tokens both spell the same way,
    for carrying per-token weights (embeddings, output biases) over to a new vocabulary."""
    old_index = {token: row for row, token in enumerate(old_vocabulary)}
    new_rows = [row for row, token in enumerate(new_vocabulary) if token in old_index]
    old_rows = [old_index[new_vocabulary[row]] for row in new_rows]
    return np.asarray(new_rows, dtype=np.int64), np.asarray(old_rows, dtype=np.int64)


def carry_shared_rows(
    variable: keras.Variable,
    old_values: np.ndarray,
    old_vocabulary: Sequence[str],
    new_vocabulary: Sequence[str],
) -> int:
    """Assigns to `variable` (one row per token of `new_vocabulary`) the rows of `old_values`
    (one per token of `old_vocabulary`) for the tokens both share; other rows keep their
    values. Returns how many rows were carried over."""
    rows, old_rows = shared_token_rows(old_vocabulary, new_vocabulary)
    values = keras.ops.convert_to_numpy(variable).copy()
    values[rows] = old_values[old_rows]
    variable.assign(values)
    return len(rows)


def _encoder_arrays(encoder: BertEncoder) -> dict[str, np.ndarray]:
    _, variables = _encoder_variables(encoder)
    return {
        name: np.ascontiguousarray(keras.ops.convert_to_numpy(variable), dtype=np.float32)
        for name, variable in variables.items()
    }


def _checked_vocabulary(encoder: BertEncoder, vocabulary: Sequence[str]) -> list[str]:
    vocabulary = list(vocabulary)
    try:
        validate_vocabulary(vocabulary)
    except (ValueError, TypeError) as error:
        raise ModelFileError(f"Cannot export this vocabulary: {error}") from None
    if len(vocabulary) != encoder.config.vocab_size:
        raise ModelFileError(
            f"The vocabulary has {len(vocabulary)} tokens but the encoder embeds "
            f"{encoder.config.vocab_size}; Hugging Face and Google checkpoints need one "
            "embedding row per token: pass the vocabulary the encoder was trained with."
        )
    return vocabulary
