"""Hugging Face BERT directories, in and out.

Reading: `config.json` + `model.safetensors` (or a sharded `model.safetensors.index.json`) +
`vocab.txt` (or a WordPiece `tokenizer.json`). Tensor names with or without the `bert.` prefix;
LayerNorm parameters as `weight`/`bias` or the older `gamma`/`beta`; bfloat16 tensors widened to
float32; the `cls.*` pretraining heads kept as `mlm_weights`; sentence-transformers' pooling
config honoured. PyTorch pickles (`pytorch_model.bin`) are refused on purpose: unpickling runs
code.

Writing: `export_huggingface(encoder, vocabulary, directory)` writes a directory that
`transformers.BertModel.from_pretrained` loads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfbert.contract import CONFIG_FILE, VOCAB_FILE
from tfbert.contract import WEIGHTS_FILE as SAFETENSORS_FILE
from tfbert.errors import ModelFileError
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints.encoder import _checked_vocabulary, _encoder_arrays
from tfbert.modeling.checkpoints.names import (
    _TOKEN_EMBEDDINGS,
    TFBERT_TOKENIZER_KEY,
    _config_from_values,
    _max_layer,
    _modules,
    _name_map,
    _parameters,
    huggingface_config,
    refuse_pruned,
)
from tfbert.modeling.checkpoints.pretrained import (
    PretrainedBert,
    _as_float32,
    _check_tensors_against_config,
    _check_vocabulary,
    _make_config,
    _read_json,
    _read_vocabulary,
    _vocabulary_is_uncased,
    _write_json,
)
from tfbert.text.tokenizer import legacy_defaults
from tfbert.text.vocab import PAD, save_vocabulary, validate_vocabulary
from tfbert.weights import read_safetensors, save_tensors

HF_CONFIG, HF_WEIGHTS, HF_INDEX = CONFIG_FILE, SAFETENSORS_FILE, "model.safetensors.index.json"
HF_TOKENIZER_CONFIG, HF_TOKENIZER = "tokenizer_config.json", "tokenizer.json"


def _convert_hf(
    tensors: dict[str, np.ndarray], origin: str
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    """Hugging Face names -> (encoder weights, MLM weights, ignored names)."""
    stripped: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        key = name[len("bert.") :] if name.startswith("bert.") else name
        if key in stripped:
            raise ModelFileError(
                f"{origin} holds both {key!r} and 'bert.{key}'; keep one copy of the weights."
            )
        stripped[key] = value
    names = _name_map(_max_layer(list(stripped), r"^encoder\.layer\.(\d+)\."), "hf")
    encoder: dict[str, np.ndarray] = {}
    mlm: dict[str, np.ndarray] = {}
    ignored: list[str] = []
    unknown: list[str] = []
    head = {
        "cls.predictions.transform.dense.weight": ("transform/dense/kernel", True),
        "cls.predictions.transform.dense.bias": ("transform/dense/bias", False),
        "cls.predictions.transform.LayerNorm.weight": ("transform/layer_norm/gamma", False),
        "cls.predictions.transform.LayerNorm.gamma": ("transform/layer_norm/gamma", False),
        "cls.predictions.transform.LayerNorm.bias": ("transform/layer_norm/beta", False),
        "cls.predictions.transform.LayerNorm.beta": ("transform/layer_norm/beta", False),
        "cls.predictions.bias": ("output_bias", False),
        "cls.predictions.decoder.weight": ("decoder/embeddings", False),
        "cls.seq_relationship.weight": ("seq_relationship/kernel", True),
        "cls.seq_relationship.bias": ("seq_relationship/bias", False),
    }
    for key, value in stripped.items():
        if key in names:
            target, transpose = names[key]
            encoder[target] = _as_float32(value.T if transpose else value)
        elif key in head:
            target, transpose = head[key]
            mlm[target] = _as_float32(value.T if transpose else value)
        elif key == "cls.predictions.decoder.bias":
            mlm.setdefault("output_bias", _as_float32(value))  # tied to cls.predictions.bias
        elif key == "embeddings.position_ids":  # a buffer older transformers versions saved
            ignored.append(key)
        elif key.startswith(("embeddings.", "encoder.", "pooler.")):
            unknown.append(key)
        else:  # task heads of fine-tuned models (classifier.*, qa_outputs.*, ...)
            ignored.append(key)
    if unknown:
        raise ModelFileError(
            f"{origin} has encoder tensors tfbert does not know ({len(unknown)}): "
            f"{', '.join(sorted(unknown)[:8])}. It is not a plain BERT checkpoint (a variant "
            "with a different architecture?); tfbert loads original BERT-architecture weights only."
        )
    tied = "decoder/embeddings" in mlm and _TOKEN_EMBEDDINGS in encoder
    if tied and np.array_equal(mlm["decoder/embeddings"], encoder[_TOKEN_EMBEDDINGS]):
        del mlm["decoder/embeddings"]  # tied: the word embeddings already hold it
    return encoder, mlm, sorted(ignored)


def _read_safetensors_any(path: Path) -> dict[str, np.ndarray]:
    """`read_safetensors`, plus bfloat16 tensors (which numpy cannot name) widened to float32."""
    header = _safetensors_header(path)
    if header is None or not any(
        isinstance(info, dict) and info.get("dtype") == "BF16" for info in header[0].values()
    ):
        return read_safetensors(path)
    entries, data_start = header
    data = path.read_bytes()[data_start:]
    dtypes = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}
    tensors = {}
    for name, info in entries.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        if end > len(data):
            raise ModelFileError(
                f"{path} is truncated ({name} ends at byte {end}, the data has {len(data)}); "
                "copy or export it again."
            )
        raw = data[start:end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif info["dtype"] in dtypes:
            array = np.frombuffer(raw, dtype=dtypes[info["dtype"]])
        else:
            raise ModelFileError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}.")
        tensors[name] = array.reshape(info["shape"]).copy()
    return tensors


def _safetensors_header(path: Path) -> tuple[dict[str, Any], int] | None:
    """(header, offset of the data) or None when the header cannot be parsed."""
    try:
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if not 0 < length < 100_000_000:
                return None
            header = json.loads(handle.read(length).decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return (header, 8 + length) if isinstance(header, dict) else None


def _read_hf_tensors(directory: Path) -> tuple[dict[str, np.ndarray], str]:
    single, index = directory / HF_WEIGHTS, directory / HF_INDEX
    if single.is_file():
        return _read_safetensors_any(single), str(single)
    weight_map = _read_json(index).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ModelFileError(f"{index} has no weight_map; copy the checkpoint again.")
    tensors: dict[str, np.ndarray] = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = directory / shard
        if not shard_path.is_file():
            raise ModelFileError(
                f"{index} names the shard {shard}, which is missing from {directory}; "
                "download or copy every shard."
            )
        tensors.update(_read_safetensors_any(shard_path))
    return tensors, str(index)


def _hf_lowercase(directory: Path, vocabulary: list[str]) -> tuple[bool, bool | None]:
    """(lowercase, strip_accents) from tokenizer_config.json, tokenizer.json or the vocab."""
    config_path = directory / HF_TOKENIZER_CONFIG
    if config_path.is_file():
        values = _read_json(config_path)
        if isinstance(values.get("do_lower_case"), bool):
            strip = values.get("strip_accents")
            return values["do_lower_case"], strip if isinstance(strip, bool) else None
    tokenizer_path = directory / HF_TOKENIZER
    if tokenizer_path.is_file():
        normalizer = _read_json(tokenizer_path).get("normalizer") or {}
        if normalizer.get("type") == "BertNormalizer" and isinstance(
            normalizer.get("lowercase"), bool
        ):
            strip = normalizer.get("strip_accents")
            return normalizer["lowercase"], strip if isinstance(strip, bool) else None
    return _vocabulary_is_uncased(vocabulary), None


def _hf_vocabulary(directory: Path) -> tuple[list[str], Path]:
    vocab_path = directory / VOCAB_FILE
    if vocab_path.is_file():
        return _read_vocabulary(vocab_path), vocab_path
    tokenizer_path = directory / HF_TOKENIZER
    if tokenizer_path.is_file():
        model = _read_json(tokenizer_path).get("model") or {}
        vocab = model.get("vocab")
        if model.get("type") == "WordPiece" and isinstance(vocab, dict) and vocab:
            by_id = sorted(vocab.items(), key=lambda item: item[1])
            if [index for _, index in by_id] != list(range(len(by_id))):
                raise ModelFileError(f"{tokenizer_path}: WordPiece ids are not 0..n-1.")
            tokens = [token for token, _ in by_id]
            try:
                validate_vocabulary(tokens, source=str(tokenizer_path))
            except (ValueError, TypeError) as error:
                raise ModelFileError(f"Cannot use the vocabulary: {error}") from None
            return tokens, tokenizer_path
    raise ModelFileError(
        f"{directory} has no {VOCAB_FILE} (nor a WordPiece {HF_TOKENIZER}); the vocabulary is part "
        "of the model: copy the vocab.txt that came with these weights next to them."
    )


def read_huggingface(directory: Path) -> PretrainedBert:
    config_path = directory / HF_CONFIG
    values = _read_json(config_path)
    sizes, others = _config_from_values(values, config_path)
    tensors, origin = _read_hf_tensors(directory)
    encoder, mlm, ignored = _convert_hf(tensors, origin)
    _check_tensors_against_config(sizes, encoder, config_path)
    config = _make_config(sizes, others, config_path)
    vocabulary, vocab_path = _hf_vocabulary(directory)
    _check_vocabulary(vocabulary, encoder, vocab_path)
    lowercase, strip_accents = _hf_lowercase(directory, vocabulary)
    return PretrainedBert(
        config=config,
        vocabulary=vocabulary,
        lowercase=lowercase,
        encoder_weights=encoder,
        mlm_weights=mlm or None,
        source=f"Hugging Face checkpoint {origin}",
        strip_accents=strip_accents,
        ignored=ignored,
        pooling=_sentence_transformers_pooling(directory),
        normalize_full_width=_tfbert_folding(values),
    )


def _tfbert_folding(values: dict[str, Any]) -> bool | None:
    """Whether a tfbert-pretrained directory's tokenizer folded full-width forms (else None)."""
    settings = values.get(TFBERT_TOKENIZER_KEY)
    if not isinstance(settings, dict):
        return None
    return bool(legacy_defaults(settings)["normalize_full_width"])


def _sentence_transformers_pooling(directory: Path) -> str | None:
    """ "mean" or "cls" when a sentence-transformers pooling config says which; else None."""
    path = directory / "1_Pooling" / "config.json"
    if not path.is_file():
        return None
    settings = _read_json(path)
    if settings.get("pooling_mode_mean_tokens"):
        return "mean"
    if settings.get("pooling_mode_cls_token"):
        return "cls"
    return None  # max or sqrt-length pooling: no tfbert equivalent, fall back to the default


def export_huggingface(
    encoder: BertEncoder,
    vocabulary: Sequence[str],
    directory: str | Path,
    *,
    lowercase: bool = True,
    strip_accents: bool | None = None,
) -> Path:
    """Writes a Hugging Face `BertModel` directory: config.json, model.safetensors, vocab.txt.

    Also writes tokenizer_config.json (do_lower_case, strip_accents) so the tokenizer
    settings travel with the weights. Tensor names carry no `bert.` prefix and dense kernels
    are stored in torch.nn.Linear layout (`weight = kernel.T`).
    """

    refuse_pruned(encoder.config, "Hugging Face")  # before anything is written
    vocabulary = _checked_vocabulary(encoder, vocabulary)
    arrays = _encoder_arrays(encoder)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for source, target, kind in _modules(encoder.config.num_layers, "hf"):
        for suffixes, target_suffix, transpose in _parameters(kind, "hf"):
            value = arrays[target + target_suffix]
            tensors[source + suffixes[0]] = np.ascontiguousarray(value.T if transpose else value)
    config = encoder.config
    _write_json(
        directory / HF_CONFIG,
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            **huggingface_config(config),
            "pad_token_id": vocabulary.index(PAD),
            "position_embedding_type": "absolute",
            "torch_dtype": "float32",
        },
    )
    save_vocabulary(vocabulary, directory / VOCAB_FILE)
    write_tokenizer_config(directory, lowercase, strip_accents, config.max_position_embeddings)
    weights = directory / HF_WEIGHTS
    save_tensors(tensors, weights, metadata={"format": "pt"})  # transformers requires "pt"
    return directory


def write_tokenizer_config(
    directory: Path, lowercase: bool, strip_accents: bool | None, max_length: int
) -> Path:
    """Writes `directory/tokenizer_config.json`: the tokenizer settings (do_lower_case,
    strip_accents) that Hugging Face tokenizers and tfbert's reader take from it."""
    path = directory / HF_TOKENIZER_CONFIG
    _write_json(
        path,
        {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": bool(lowercase),
            "strip_accents": strip_accents,
            "tokenize_chinese_chars": True,
            "model_max_length": max_length,
            "unk_token": "[UNK]",
            "sep_token": "[SEP]",
            "pad_token": "[PAD]",
            "cls_token": "[CLS]",
            "mask_token": "[MASK]",
        },
    )
    return path
