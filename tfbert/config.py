"""One configuration dataclass for the BERT architecture, with named presets.

The same `BertConfig` is used by the model, the command line and saved checkpoints, so a model
directory's `config.json` is enough to rebuild the network exactly.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Sizes and hyper-parameters of a BERT encoder (the names follow the original BERT paper)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_epsilon: float = 1e-12
    initializer_range: float = 0.02
    # A structurally pruned encoder (tfbert.modeling.pruning) may keep a different number of
    # attention heads or feed-forward neurons in each layer: one count per layer, lowest first.
    # None (every unpruned model): `num_heads` and `intermediate_size` in every layer. A head
    # is always `head_size` = hidden_size / num_heads wide.
    layer_heads: tuple[int, ...] | None = None
    layer_intermediate_sizes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name in (
            "vocab_size",
            "hidden_size",
            "num_layers",
            "num_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}.")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by num_heads "
                f"({self.num_heads}); pick a head count that divides it (usually hidden_size / 64)."
            )
        for name in ("hidden_dropout", "attention_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {value!r}.")
        if self.hidden_act not in _ACTIVATIONS:
            raise ValueError(
                f"BertConfig.hidden_act {self.hidden_act!r} is not supported; "
                f"choose one of {sorted(_ACTIVATIONS)}."
            )
        for name in ("layer_heads", "layer_intermediate_sizes"):
            counts = getattr(self, name)
            if counts is None:
                continue
            if isinstance(counts, (str, bytes)) or not hasattr(counts, "__len__"):
                raise ValueError(f"BertConfig.{name} must be a list of integers, got {counts!r}.")
            counts = tuple(counts)
            object.__setattr__(self, name, counts)  # a list from JSON becomes a tuple
            if len(counts) != self.num_layers:
                raise ValueError(
                    f"BertConfig.{name} has {len(counts)} entries for {self.num_layers} layers; "
                    "give one per layer."
                )
            bad = [c for c in counts if not isinstance(c, int) or isinstance(c, bool) or c <= 0]
            if bad:
                raise ValueError(
                    f"BertConfig.{name} must hold positive integers, got {bad[0]!r}; a layer "
                    "without heads or neurons is removed as a whole (num_layers)."
                )

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    def heads_in_layer(self, index: int) -> int:
        """How many attention heads layer `index` (0-based) has."""
        return self.num_heads if self.layer_heads is None else self.layer_heads[index]

    def intermediate_size_of_layer(self, index: int) -> int:
        """The feed-forward width of layer `index` (0-based)."""
        sizes = self.layer_intermediate_sizes
        return self.intermediate_size if sizes is None else sizes[index]

    @property
    def is_pruned(self) -> bool:
        """Whether the layers differ in heads or feed-forward width (a pruned encoder)."""
        return self.layer_heads is not None or self.layer_intermediate_sizes is not None

    # ----- presets and (de)serialization -------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> BertConfig:
        """Returns the named preset, with any field overridden (e.g. `vocab_size=...`)."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; available presets: {', '.join(PRESETS)}.")
        return dataclasses.replace(PRESETS[name], **overrides)

    def replace(self, **changes: Any) -> BertConfig:
        return dataclasses.replace(self, **changes)

    def with_dropout(self, rate: float) -> BertConfig:
        """The same config with `rate` as both hidden and attention dropout."""
        return self.replace(hidden_dropout=rate, attention_dropout=rate)

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON values; the per-layer counts only when the layers differ,
        so that an unpruned model's config.json is what it always was."""
        values = dataclasses.asdict(self)
        for name in ("layer_heads", "layer_intermediate_sizes"):
            if values[name] is None:
                del values[name]
            else:
                values[name] = list(values[name])
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BertConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Unknown BertConfig field(s) {unknown}; expected a subset of {sorted(known)}."
            )
        return cls(**values)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, path_or_text: str | Path) -> BertConfig:
        """Reads a config from a JSON file path or a JSON string."""
        text = str(path_or_text)
        if not text.lstrip().startswith("{"):
            path = Path(path_or_text)
            if not path.is_file():
                raise FileNotFoundError(f"No BERT config file at {path}.")
            text = path.read_text(encoding="utf-8")
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"BERT config is not valid JSON: {error}") from None
        return cls.from_dict(values)


_ACTIVATIONS = {"gelu", "gelu_approximate", "relu", "tanh"}


def _preset(
    layers: int, hidden: int, heads: int | None = None, ffn: int | None = None
) -> BertConfig:
    return BertConfig(
        num_layers=layers,
        hidden_size=hidden,
        num_heads=heads or max(1, hidden // 64),
        intermediate_size=ffn or 4 * hidden,
    )


# Sizes of the compact BERTs of Turc et al. 2019 ("Well-Read Students Learn Better") and of
# BERT-base/large (Devlin et al. 2019); minilm-l6 is sentence-transformers' all-MiniLM-L6-v2.
PRESETS: dict[str, BertConfig] = {
    "tiny": _preset(2, 128),
    "mini": _preset(4, 256),
    "small": _preset(4, 512),
    "medium": _preset(8, 512),
    "base": _preset(12, 768),
    "large": _preset(24, 1024),
    "minilm-l6": _preset(6, 384, heads=12, ffn=1536),
}

# Kinds of whole-word masking in pretraining (tfbert.data.pretraining): token by token, a token
# and its "##" pieces, the characters of one jieba-segmented Chinese word.
WHOLE_WORD_MASKING = ("none", "pieces", "jieba")

# What `tfbert pretrain --objective` trains (tfbert.training.pretrain): BERT's masked LM + next
# sentence prediction, masked LM alone, ELECTRA's replaced-token detection.
PRETRAINING_OBJECTIVES = ("mlm-nsp", "mlm", "electra")

# The types a packaged checkpoint stores its weights in (tfbert.modeling.checkpoints.package,
# `tfbert package --dtype`); readers widen them back to float32.
PACKAGE_DTYPES = ("float16", "bfloat16")

# Classifier heads over the last layers' [CLS] vectors: "last<N>_<mode>", e.g. "last4_mean"
# (tfbert.modeling.heads.LastLayersPooling). Here so the command line checks it without Keras.
LAYER_POOLING_MODES = ("mean", "concat")


def parse_layer_pooling(pooling: str) -> tuple[int, str] | None:
    """`"last4_mean"` -> `(4, "mean")`; None for a name of another kind of pooling."""
    match = re.fullmatch(r"last([1-9][0-9]*)_(mean|concat)", str(pooling))
    return (int(match.group(1)), match.group(2)) if match else None
