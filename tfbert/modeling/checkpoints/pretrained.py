"""The `PretrainedBert` record every reader returns, and the checks every reader applies.

A reader (Hugging Face, Google, keras-hub, tfbert's own directory) turns files into a
`PretrainedBert`: the `BertConfig`, the encoder weights as float32 numpy arrays keyed by the
encoder's own variable paths (relative to the encoder, e.g. `embeddings/token_embedding/
embeddings`, `layer_0/attention/query/kernel`, dense kernels in Keras layout `[in, out]`), the
vocabulary and the tokenizer settings. Every tensor is checked against the config before
anything is built, so a config that does not describe the weights, or a vocabulary of the wrong
size, fails with one sentence naming the disagreement.

`mlm_weights` holds the pretraining heads when the checkpoint has them, under these names
(Keras layout, `[in, out]` kernels):

    transform/dense/kernel [hidden, hidden], transform/dense/bias [hidden],
    transform/layer_norm/gamma, transform/layer_norm/beta [hidden],
    output_bias [vocab]                      the masked-LM output bias,
    decoder/embeddings [vocab, hidden]       only when stored untied from the word embeddings,
    seq_relationship/kernel [hidden, 2], seq_relationship/bias [2]   next-sentence prediction.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfbert.config import BertConfig
from tfbert.errors import ModelFileError
from tfbert.modeling.checkpoints.names import (
    _CONFIG_SIZE_NAMES,
    _TOKEN_EMBEDDINGS,
    _expected_shapes,
    _max_layer,
    encoder_weight_shapes,
)
from tfbert.text.vocab import is_reserved, load_vocabulary


@dataclasses.dataclass
class PretrainedBert:
    """A BERT checkpoint read into memory, independent of any Keras object.

    `encoder_weights` are keyed by the encoder's variable paths relative to the encoder;
    `mlm_weights` (or None) use the names listed in this module's docstring. `strip_accents` is
    None when the checkpoint does not say (the tokenizer then follows `lowercase`); `ignored`
    lists checkpoint tensors that are neither encoder nor pretraining-head weights (optimizer
    slots, task heads of fine-tuned models, ...).
    """

    config: BertConfig
    vocabulary: list[str]
    lowercase: bool
    encoder_weights: dict[str, np.ndarray]
    mlm_weights: dict[str, np.ndarray] | None
    source: str
    strip_accents: bool | None = None
    ignored: list[str] = dataclasses.field(default_factory=list)
    # How the checkpoint's authors pooled token vectors ("cls" or "mean"), when it says so
    # (sentence-transformers' 1_Pooling/config.json); None otherwise.
    pooling: str | None = None
    # Whether the tokenizer the checkpoint was trained with folded full-width forms (tfbert
    # models saved before the option existed did when lowercasing); None: it does not say,
    # so the reference BERT tokenization (no folding) applies.
    normalize_full_width: bool | None = None

    def tokenizer_options(self) -> dict[str, Any]:
        """The `BertTokenizer` options that reproduce the checkpoint's own tokenization."""
        options: dict[str, Any] = {"lowercase": self.lowercase}
        if self.strip_accents is not None:
            options["strip_accents"] = self.strip_accents
        if self.normalize_full_width is not None:
            options["normalize_full_width"] = self.normalize_full_width
        return options


def _as_float32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(array, dtype=np.float32))


def _sizes_in_tensors(weights: dict[str, np.ndarray]) -> dict[str, int]:
    """The architecture sizes the tensors themselves imply (where the tensor is present)."""
    sizes: dict[str, int] = {}
    shape = lambda name: weights[name].shape if name in weights else None
    if (token := shape(_TOKEN_EMBEDDINGS)) is not None and len(token) == 2:
        sizes["vocab_size"], sizes["hidden_size"] = int(token[0]), int(token[1])
    if (position := shape("embeddings/position_embedding")) is not None and len(position) == 2:
        sizes["max_position_embeddings"] = int(position[0])
    if (segment := shape("embeddings/segment_embedding/embeddings")) is not None and segment:
        sizes["type_vocab_size"] = int(segment[0])
    if (inner := shape("layer_0/intermediate/kernel")) is not None and len(inner) == 2:
        sizes["intermediate_size"] = int(inner[1])
    sizes["num_layers"] = _max_layer(list(weights), r"^layer_(\d+)/")
    return sizes


def _check_tensors_against_config(
    sizes: dict[str, int],
    weights: dict[str, np.ndarray],
    config_path: Path | str,
    config: BertConfig | None = None,
) -> None:
    """Raises ModelFileError when the config's sizes do not describe the tensors; `config`
    (a tfbert config, maybe pruned) gives each layer's own widths."""
    found = _sizes_in_tensors(weights)
    if config is not None and config.layer_intermediate_sizes is not None:
        found.pop("intermediate_size", None)  # layer 0's width, not the config's field
    disagreements = [
        f"{_CONFIG_SIZE_NAMES[field]}={sizes[field]} but the tensors have {found[field]}"
        for field in _CONFIG_SIZE_NAMES
        if field in found and found[field] != sizes[field]
    ]
    if found.get("num_layers", 0) == 0:
        disagreements.append("the weights hold no transformer layers at all")
    expected = _expected_shapes(**sizes) if config is None else encoder_weight_shapes(config)
    misshaped = sorted(
        f"{name} {tuple(value.shape)} (config implies {expected[name]})"
        for name, value in weights.items()
        if name in expected and tuple(value.shape) != expected[name]
    )
    if disagreements or misshaped:
        details = "; ".join(disagreements) if disagreements else "; ".join(misshaped[:6])
        raise ModelFileError(
            f"{config_path} does not describe these weights: {details}. Use the config file that "
            "was saved together with the weights (or fix its sizes to match the tensors)."
        )


def _check_vocabulary(
    vocabulary: list[str],
    weights: dict[str, np.ndarray],
    vocab_path: Path | str,
    *,
    allow_smaller: bool = False,
) -> None:
    if _TOKEN_EMBEDDINGS not in weights:
        raise ModelFileError(
            f"The weights next to {vocab_path} have no word embeddings "
            "(embeddings.word_embeddings); the checkpoint is incomplete: copy or export it again."
        )
    rows = int(weights[_TOKEN_EMBEDDINGS].shape[0])
    size = len(vocabulary)
    if size > rows or (size < rows and not allow_smaller):
        raise ModelFileError(
            f"The vocabulary {vocab_path} has {size} tokens but the word embeddings have {rows} "
            "rows: it belongs to another model. Use the vocab.txt that came with these weights."
        )


def _vocabulary_is_uncased(vocabulary: Sequence[str]) -> bool:
    """True when no token changes under lowercasing ([CLS]-style specials aside).

    Characters without a lowercase form ('ℝ' is "uppercase" to Python) do not count.
    """
    return not any(token.lower() != token for token in vocabulary if not is_reserved(token))


def _read_vocabulary(path: Path) -> list[str]:
    try:
        return load_vocabulary(path)
    except (FileNotFoundError, ValueError, TypeError) as error:
        raise ModelFileError(f"Cannot use the vocabulary {path}: {error}") from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{path} is not valid JSON ({error}); copy it again.") from None
    if not isinstance(values, dict):
        raise ModelFileError(f"{path} should hold a JSON object, got {type(values).__name__}.")
    return values


def _write_json(path: Path, values: dict[str, Any]) -> None:
    path.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _make_config(sizes: dict[str, int], others: dict[str, Any], path: Path | str) -> BertConfig:
    try:
        return BertConfig(**sizes, **others)
    except ValueError as error:
        raise ModelFileError(f"{path} is not a usable BERT config: {error}") from None
