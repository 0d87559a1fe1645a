"""tfbert's own model directories (`BertClassifier.save_pretrained`): their encoder, read back.

The directory's `config.json` says `"format": "tfbert-classifier"` (`TFBERT_FORMAT`) and holds the
`BertConfig` under `"bert"` and the tokenizer settings under `"tokenizer"`; `model.safetensors`
holds the encoder's variables under `encoder/...` next to the task head's, which are listed in
`PretrainedBert.ignored`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfbert.config import BertConfig
from tfbert.contract import CONFIG_FILE, VOCAB_FILE
from tfbert.contract import WEIGHTS_FILE as SAFETENSORS_FILE
from tfbert.errors import ModelFileError
from tfbert.modeling.checkpoints.names import (
    _CONFIG_SIZE_NAMES,
)
from tfbert.modeling.checkpoints.pretrained import (
    PretrainedBert,
    _as_float32,
    _check_tensors_against_config,
    _check_vocabulary,
    _read_vocabulary,
)
from tfbert.text.tokenizer import legacy_defaults
from tfbert.weights import read_safetensors

# The "format" a tfbert model directory's config.json declares (written by the classifier task).
TFBERT_FORMAT = "tfbert-classifier"


def read_native(directory: Path, description: dict[str, Any]) -> PretrainedBert:
    config_path = directory / CONFIG_FILE
    try:
        config = BertConfig.from_dict(description["bert"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{config_path} has no usable 'bert' config ({error}).") from None
    weights_path = directory / SAFETENSORS_FILE
    tensors = read_safetensors(weights_path)
    encoder = {
        name[len("encoder/") :]: _as_float32(value)
        for name, value in tensors.items()
        if name.startswith("encoder/")
    }
    ignored = sorted(name for name in tensors if not name.startswith("encoder/"))
    sizes = {field: getattr(config, field) for field in _CONFIG_SIZE_NAMES}
    _check_tensors_against_config(sizes, encoder, config_path, config)
    vocabulary = _read_vocabulary(directory / VOCAB_FILE)
    # tfbert allows a vocabulary smaller than the embedding matrix (see BertClassifier).
    _check_vocabulary(vocabulary, encoder, directory / VOCAB_FILE, allow_smaller=True)
    tokenizer = description.get("tokenizer") or {}
    lowercase = tokenizer.get("lowercase")
    strip = tokenizer.get("strip_accents")
    return PretrainedBert(
        config=config,
        vocabulary=vocabulary,
        normalize_full_width=bool(legacy_defaults(tokenizer)["normalize_full_width"]),
        lowercase=bool(lowercase) if isinstance(lowercase, bool) else True,
        encoder_weights=encoder,
        mlm_weights=None,
        source=f"tfbert model {weights_path}",
        strip_accents=strip if isinstance(strip, bool) else None,
        ignored=ignored,
    )
