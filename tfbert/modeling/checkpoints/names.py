"""Name tables: checkpoint tensor names and config fields <-> tfbert's encoder variable paths.

Hugging Face and Google name the same BERT sub-modules differently (`encoder.layer.3.attention.
self.key.weight` vs `bert/encoder/layer_3/attention/self/key/kernel`); tfbert's encoder uses
paths relative to the encoder (`layer_3/attention/key/kernel`) with dense kernels in Keras
layout `[in, out]`. The tables here translate between the three, give the shape every encoder
variable must have for a `BertConfig`, and translate config files' field names and activations.

Gelu: original BERT was pretrained with the exact (erf) GELU, and Hugging Face's "gelu" is that
function, so "gelu" in either config maps to tfbert's "gelu"; "gelu_new" (the tanh form, which the
Google repository's current code uses) maps to "gelu_approximate".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfbert.config import BertConfig
from tfbert.errors import ModelFileError

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


# --------------------------------------------------------------------------------------------
# One row per sub-module: (source module name, tfbert path, kind), where kind says how parameter
# names and layouts differ: "embedding" (a single matrix), "dense" (kernel + bias; PyTorch stores
# the kernel transposed) or "layer_norm" (gamma + beta).
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
    widths = None
    if config.is_pruned:  # per-layer attention and feed-forward widths
        widths = [
            (config.heads_in_layer(i) * config.head_size, config.intermediate_size_of_layer(i))
            for i in range(config.num_layers)
        ]
    return _expected_shapes(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size,
        layer_widths=widths,
    )


def _expected_shapes(
    *,
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    intermediate_size: int,
    max_position_embeddings: int,
    type_vocab_size: int,
    layer_widths: Sequence[tuple[int, int]] | None = None,
) -> dict[str, tuple[int, ...]]:
    """`layer_widths`: (attention width, feed-forward width) per layer, for a pruned encoder
    (default: hidden_size and intermediate_size in every layer)."""
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
        width, inner = layer_widths[i] if layer_widths else (h, f)
        for part in ("query", "key", "value"):
            dense(f"layer_{i}/attention/{part}", h, width)
        dense(f"layer_{i}/attention/output", width, h)
        norm(f"layer_{i}/attention_layer_norm")
        dense(f"layer_{i}/intermediate", h, inner)
        dense(f"layer_{i}/output", inner, h)
        norm(f"layer_{i}/output_layer_norm")
    dense("pooler", h, h)
    return shapes


def _max_layer(names: Sequence[str], pattern: str) -> int:
    """1 + the highest layer index in `names` (0 when there is none)."""
    indices = [int(m.group(1)) for name in names if (m := re.search(pattern, name))]
    return max(indices) + 1 if indices else 0


# --------------------------------------------------------------------------------------------
# Config files (Hugging Face's config.json and Google's bert_config.json share their fields).
# --------------------------------------------------------------------------------------------

_CONFIG_SIZE_NAMES = {  # tfbert field -> the name users see in HF/Google config files
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "num_layers": "num_hidden_layers",
    "intermediate_size": "intermediate_size",
    "max_position_embeddings": "max_position_embeddings",
    "type_vocab_size": "type_vocab_size",
}


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


def huggingface_config(config: BertConfig) -> dict[str, Any]:
    """`config` as the fields of a Hugging Face `BertConfig` (also used by peers' benchmarks)."""
    return {**_sizes_config(config), "layer_norm_eps": config.layer_norm_epsilon}


def refuse_pruned(config: BertConfig, layout: str) -> None:
    """A ValueError for a pruned config (per-layer heads or widths), which `layout`'s config
    file cannot state."""
    if config.is_pruned:
        raise ValueError(
            f"This encoder is pruned (layers with their own head counts or feed-forward "
            f"widths), which a {layout} config cannot state; keep it in tfbert's own format "
            "(save_pretrained), which loads and exports like any model."
        )


def _sizes_config(config: BertConfig) -> dict[str, Any]:
    """The fields Hugging Face and Google config files share."""
    refuse_pruned(config, "Hugging Face or Google BERT")
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


# A pretraining directory written by tfbert (Hugging Face `BertForPreTraining` layout) keeps the
# tokenizer settings it was trained with under this key of its config.json.
TFBERT_TOKENIZER_KEY = "tfbert_pretrainer"
