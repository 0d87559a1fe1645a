"""Structured pruning: a smaller dense BERT encoder made of the kept slices of a larger one.

Removing an attention head removes its columns of the query, key and value kernels and its
rows of the attention output kernel; removing a feed-forward neuron removes its column of the
intermediate kernel and its row of the output kernel; removing a layer removes the block. What
is left is an ordinary `BertEncoder` whose config states the new sizes (`BertConfig.layer_heads`
and `layer_intermediate_sizes` when the layers differ), so it runs with fewer FLOPs in every
runtime, saves and loads like any model and exports like any classifier.

    plan = PruningPlan(heads={0: (3, 7)}, neurons={1: tuple(range(128))}, layers=(5,))
    smaller = prune_encoder(model.encoder, plan)

Indices always refer to the encoder being pruned (its layers, heads and neurons as they are
numbered before anything is removed). Which ones to remove is `tfbert.tasks.pruning`'s job
(importance on validation data); `tfbert.training.prune` runs the whole recipe.

`aligned_width` rounds the number of feed-forward neurons a layer keeps to a multiple (16 in
`tfbert prune`), so that the pruned matmuls have the shapes the CPU's kernels (oneDNN) handle
best instead of odd widths such as 1,531.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from tfbert.config import BertConfig
from tfbert.modeling.bert import BertEncoder


def _indices(values: Iterable[Any]) -> tuple[int, ...]:
    return tuple(sorted({int(v) for v in values}))


@dataclasses.dataclass(frozen=True)
class PruningPlan:
    """What to remove from an encoder, by the indices of the unpruned encoder.

    heads: layer -> the attention heads to remove from it.
    neurons: layer -> the feed-forward neurons to remove from it.
    layers: the layers to remove whole (their heads and neurons need not be listed).
    """

    heads: Mapping[int, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    neurons: Mapping[int, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    layers: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("heads", "neurons"):
            cleaned = {
                int(layer): _indices(values)
                for layer, values in dict(getattr(self, name)).items()
                if len(values)
            }
            object.__setattr__(self, name, dict(sorted(cleaned.items())))
        object.__setattr__(self, "layers", _indices(self.layers))

    @property
    def is_empty(self) -> bool:
        """Whether the plan removes nothing."""
        return not (self.heads or self.neurons or self.layers)

    def check(self, config: BertConfig) -> None:
        """Raises ValueError when the plan does not fit `config` (an index out of range, a
        layer left without heads or neurons, no layer left)."""
        layers = config.num_layers
        for layer in (*self.heads, *self.neurons, *self.layers):
            if not 0 <= layer < layers:
                raise ValueError(f"Layer {layer} does not exist: the encoder has {layers} layers.")
        if len(self.layers) >= layers:
            raise ValueError(f"The plan removes all {layers} layers; keep at least one.")
        for name, size_of, what in (
            ("heads", config.heads_in_layer, "heads"),
            ("neurons", config.intermediate_size_of_layer, "feed-forward neurons"),
        ):
            for layer, removed in getattr(self, name).items():
                size = size_of(layer)
                if removed[0] < 0 or removed[-1] >= size:
                    raise ValueError(
                        f"Layer {layer} has {size} {what}; index {removed[-1]} is out of range."
                    )
                if len(removed) >= size and layer not in self.layers:
                    raise ValueError(
                        f"The plan removes all {size} {what} of layer {layer}; keep at least "
                        "one, or remove the layer as a whole (layers=...)."
                    )

    def kept_layers(self, config: BertConfig) -> list[int]:
        return [i for i in range(config.num_layers) if i not in self.layers]

    def kept_heads(self, config: BertConfig, layer: int) -> list[int]:
        removed = set(self.heads.get(layer, ()))
        return [h for h in range(config.heads_in_layer(layer)) if h not in removed]

    def kept_neurons(self, config: BertConfig, layer: int) -> np.ndarray:
        keep = np.ones(config.intermediate_size_of_layer(layer), bool)
        keep[list(self.neurons.get(layer, ()))] = False
        return np.flatnonzero(keep)

    def pruned_config(self, config: BertConfig) -> BertConfig:
        """`config` with the sizes that are left; an empty plan gives `config` itself."""
        self.check(config)
        if self.is_empty:
            return config
        kept = self.kept_layers(config)
        heads = tuple(len(self.kept_heads(config, i)) for i in kept)
        widths = tuple(len(self.kept_neurons(config, i)) for i in kept)
        return config.replace(
            num_layers=len(kept),
            layer_heads=None if set(heads) == {config.num_heads} else heads,
            intermediate_size=widths[0] if len(set(widths)) == 1 else config.intermediate_size,
            layer_intermediate_sizes=None if len(set(widths)) == 1 else widths,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: {"heads": {"0": [3, 7]}, "neurons": {...}, "layers": [5]}."""
        return {
            "heads": {str(k): list(v) for k, v in self.heads.items()},
            "neurons": {str(k): list(v) for k, v in self.neurons.items()},
            "layers": list(self.layers),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PruningPlan:
        return cls(
            heads={int(k): v for k, v in values.get("heads", {}).items()},
            neurons={int(k): v for k, v in values.get("neurons", {}).items()},
            layers=tuple(values.get("layers", ())),
        )


def aligned_width(kept: int, width: int, multiple: int) -> int:
    """How many of a layer's `width` feed-forward neurons to keep when the ranking keeps
    `kept`: `kept` rounded to the nearest multiple of `multiple` (halves round up), at least
    `multiple` and at most the largest multiple within `width`. `kept` itself when `multiple`
    is 1, when nothing is removed (`kept == width`) or when `width` is below `multiple`.

        aligned_width(1531, 3072, 16) == 1536;  aligned_width(3, 512, 16) == 16
    """
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"multiple must be a whole number of at least 1, got {multiple!r}.")
    if not 0 < kept <= width:
        raise ValueError(f"A layer of {width} neurons cannot keep {kept}.")
    if multiple == 1 or kept == width or width < multiple:
        return kept
    rounded = (kept + multiple // 2) // multiple * multiple
    return min(max(rounded, multiple), width // multiple * multiple)


def prune_encoder(encoder: BertEncoder, plan: PruningPlan) -> BertEncoder:
    """A new, smaller `BertEncoder` holding the weights `plan` keeps (built under the current
    dtype policy; the given encoder is not changed). An empty plan gives an exact copy."""
    if type(encoder) is not BertEncoder:
        raise TypeError(
            f"Structured pruning takes a BERT encoder (BertEncoder), got {type(encoder).__name__}."
        )
    if encoder.shares_embeddings:
        raise ValueError("An encoder that shares another's embeddings cannot be pruned alone.")
    config = encoder.config
    pruned = BertEncoder(plan.pruned_config(config), name=encoder.name)
    if not encoder.built:
        encoder.build()
    pruned.build()
    size = config.head_size

    def copy(target: Any, source: Any, index: Any = None, axis: int = 0) -> None:
        value = np.asarray(source.numpy())
        if index is not None:
            value = np.take(value, index, axis=axis)
        target.assign(value.astype(target.dtype))

    def copy_all(target: Any, source: Any) -> None:
        for mine, theirs in zip(target.weights, source.weights, strict=True):
            copy(mine, theirs)

    copy_all(pruned.embeddings, encoder.embeddings)
    if encoder.embedding_projection is not None:
        copy_all(pruned.embedding_projection, encoder.embedding_projection)
    copy_all(pruned.pooler, encoder.pooler)
    for new, old in zip(pruned.blocks, plan.kept_layers(config), strict=True):
        block, source = new, encoder.blocks[old]
        columns = np.concatenate(
            [np.arange(h * size, (h + 1) * size) for h in plan.kept_heads(config, old)]
        )
        for name in ("query", "key", "value"):
            mine, theirs = getattr(block.attention, name), getattr(source.attention, name)
            copy(mine.kernel, theirs.kernel, columns, axis=1)
            copy(mine.bias, theirs.bias, columns)
        copy(block.attention.output_dense.kernel, source.attention.output_dense.kernel, columns)
        copy(block.attention.output_dense.bias, source.attention.output_dense.bias)
        neurons = plan.kept_neurons(config, old)
        copy(block.intermediate.kernel, source.intermediate.kernel, neurons, axis=1)
        copy(block.intermediate.bias, source.intermediate.bias, neurons)
        copy(block.output_dense.kernel, source.output_dense.kernel, neurons)
        copy(block.output_dense.bias, source.output_dense.bias)
        copy_all(block.attention_layer_norm, source.attention_layer_norm)
        copy_all(block.output_layer_norm, source.output_layer_norm)
    return pruned
