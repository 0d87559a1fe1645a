"""keras-hub BERT preset directories, in and out.

A keras-hub preset is what `keras_hub.models.BertBackbone(...).save_to_preset(dir)` and
`keras_hub.models.BertTokenizer(...).save_to_preset(dir)` write: `config.json` (the backbone's
Keras config), `model.weights.h5`, `tokenizer.json`, `assets/tokenizer/vocabulary.txt` and
`metadata.json`. keras-hub itself reads and writes the files; this module maps its variables to
tfbert's encoder paths, so a keras-hub user can bring a model to tfbert and take one back:

    from tfbert.modeling.checkpoints import export_keras_hub, load_pretrained
    export_keras_hub(model.encoder, model.tokenizer.vocabulary, "preset_dir", lowercase=True)
    keras_hub.models.BertBackbone.from_preset("preset_dir")   # in keras-hub
    load_pretrained("preset_dir")                            # back in tfbert

keras-hub's BERT block is the same post-LayerNorm block as tfbert's `BertEncoder` (GELU feed
forward, tanh pooler over the first token) with two settings fixed in its code: LayerNorm epsilon
1e-12 and the tanh approximation of GELU. A preset without further notes is therefore read with
`hidden_act="gelu_approximate"`, which is what keras-hub computes. tfbert models trained with the
exact GELU (original BERT, MiniLM) can still be exported: keras-hub then runs them with its
approximation (outputs differ slightly, as for keras-hub's own BERT presets, which come from
exact-GELU checkpoints), and the writer leaves `tfbert.json` beside the preset recording the
exact activation, epsilon, both dropout rates and pooling, so reading the preset back into tfbert
restores the model exactly. keras-hub ignores that file.

keras-hub is imported only inside these functions: it is slow to import.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfbert.config import BertConfig
from tfbert.contract import CONFIG_FILE
from tfbert.errors import MissingDependencyError, ModelFileError
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints.encoder import _checked_vocabulary, _encoder_arrays
from tfbert.modeling.checkpoints.names import _expected_shapes, refuse_pruned
from tfbert.modeling.checkpoints.pretrained import (
    PretrainedBert,
    _as_float32,
    _check_tensors_against_config,
    _check_vocabulary,
    _make_config,
    _read_json,
    _write_json,
)

KERAS_HUB_WEIGHTS, KERAS_HUB_TOKENIZER = "model.weights.h5", "tokenizer.json"
KERAS_HUB_BACKBONE = "BertBackbone"
# tfbert's settings that keras-hub's BertBackbone config cannot hold; keras-hub ignores the file.
KERAS_HUB_SIDECAR = "tfbert.json"
# What keras-hub's BertBackbone hard-codes.
KERAS_HUB_ACTIVATION, KERAS_HUB_EPSILON = "gelu_approximate", 1e-12
_SIDECAR_FIELDS = (
    "hidden_act",
    "layer_norm_epsilon",
    "hidden_dropout",
    "attention_dropout",
    "initializer_range",
)


def is_keras_hub_config(values: dict[str, Any]) -> bool:
    """True when a `config.json`'s contents are a keras-hub object's serialized config."""
    module = values.get("module")
    return isinstance(module, str) and module.startswith("keras_hub") and "class_name" in values


def _variable_table(num_layers: int) -> list[tuple[str, str]]:
    """(keras-hub variable path, tfbert path) for every BertBackbone variable.

    keras-hub's attention kernels are EinsumDense kernels, [hidden, heads, head_size] for the
    projections and [heads, head_size, hidden] for the output; tfbert's are [hidden, hidden]:
    the same numbers in the same (row-major) order, so a reshape converts them.
    """
    rows = [
        ("token_embedding/embeddings", "embeddings/token_embedding/embeddings"),
        ("position_embedding/embeddings", "embeddings/position_embedding"),
        ("segment_embedding/embeddings", "embeddings/segment_embedding/embeddings"),
    ]
    pairs = [("embeddings_layer_norm", "embeddings/layer_norm", ("gamma", "beta"))]
    for i in range(num_layers):
        source, target = f"transformer_layer_{i}", f"layer_{i}"
        attention = f"{source}/self_attention_layer"
        pairs += [
            (f"{attention}/query", f"{target}/attention/query", ("kernel", "bias")),
            (f"{attention}/key", f"{target}/attention/key", ("kernel", "bias")),
            (f"{attention}/value", f"{target}/attention/value", ("kernel", "bias")),
            (f"{attention}/attention_output", f"{target}/attention/output", ("kernel", "bias")),
            (
                f"{source}/self_attention_layer_norm",
                f"{target}/attention_layer_norm",
                ("gamma", "beta"),
            ),
            (
                f"{source}/feedforward_intermediate_dense",
                f"{target}/intermediate",
                ("kernel", "bias"),
            ),
            (f"{source}/feedforward_output_dense", f"{target}/output", ("kernel", "bias")),
            (f"{source}/feedforward_layer_norm", f"{target}/output_layer_norm", ("gamma", "beta")),
        ]
    pairs.append(("pooled_dense", "pooler", ("kernel", "bias")))
    rows += [(f"{s}/{p}", f"{t}/{p}") for s, t, parameters in pairs for p in parameters]
    return rows


def _import_keras_hub():
    try:
        import keras_hub
    except ImportError:
        raise MissingDependencyError(
            "Reading or writing keras-hub presets needs the keras-hub package: "
            "pip install keras-hub"
        ) from None
    return keras_hub


def _backbone_variables(backbone: Any) -> dict[str, Any]:
    """The backbone's variables by path, without any model-name prefix."""
    anchor = "token_embedding/embeddings"
    variables = {variable.path: variable for variable in backbone.weights}
    prefixes = [path[: -len(anchor)] for path in variables if path.endswith(anchor)]
    if len(prefixes) != 1:
        raise ModelFileError(f"The keras-hub backbone has no single {anchor!r} variable.")
    return {path[len(prefixes[0]) :]: variable for path, variable in variables.items()}


def read_keras_hub(directory: Path) -> PretrainedBert:
    """Reads a keras-hub BERT preset directory (backbone and tokenizer) into a `PretrainedBert`."""
    config_path = directory / CONFIG_FILE
    values = _read_json(config_path)
    if values.get("class_name") != KERAS_HUB_BACKBONE:
        raise ModelFileError(
            f"{config_path} is a keras-hub {values.get('class_name')!r} preset; tfbert reads "
            f"keras-hub {KERAS_HUB_BACKBONE} presets only."
        )
    if not (directory / KERAS_HUB_TOKENIZER).is_file():
        raise ModelFileError(
            f"{directory} is a keras-hub preset without {KERAS_HUB_TOKENIZER}; the vocabulary is "
            "part of the model: save the BertTokenizer to the same preset "
            "(tokenizer.save_to_preset(dir))."
        )
    keras_hub = _import_keras_hub()
    try:
        backbone = keras_hub.models.BertBackbone.from_preset(str(directory))
        tokenizer = keras_hub.models.BertTokenizer.from_preset(str(directory))
    except (OSError, ValueError, KeyError, TypeError) as error:
        text = str(error).strip()
        message = text.splitlines()[0] if text else type(error).__name__
        raise ModelFileError(
            f"keras-hub cannot read the preset {directory} ({message}); copy or save it again."
        ) from None
    source = _backbone_variables(backbone)
    weights: dict[str, np.ndarray] = {}
    unknown = set(source)
    for source_path, target in _variable_table(int(backbone.num_layers)):
        if source_path in source:
            unknown.discard(source_path)
            weights[target] = _as_float32(source[source_path].numpy())
    if unknown:
        raise ModelFileError(
            f"The keras-hub preset {directory} has variables tfbert does not know "
            f"({len(unknown)}): {', '.join(sorted(unknown)[:8])}."
        )
    hidden = int(backbone.hidden_dim)
    shapes = _expected_shapes(
        vocab_size=int(backbone.vocabulary_size),
        hidden_size=hidden,
        num_layers=int(backbone.num_layers),
        intermediate_size=int(backbone.intermediate_dim),
        max_position_embeddings=int(backbone.max_sequence_length),
        type_vocab_size=int(backbone.num_segments),
    )
    weights = {
        name: value.reshape(shapes[name]) if name in shapes else value
        for name, value in weights.items()
    }
    sizes = {
        "vocab_size": int(backbone.vocabulary_size),
        "hidden_size": hidden,
        "num_layers": int(backbone.num_layers),
        "intermediate_size": int(backbone.intermediate_dim),
        "max_position_embeddings": int(backbone.max_sequence_length),
        "type_vocab_size": int(backbone.num_segments),
    }
    _check_tensors_against_config(sizes, weights, config_path)
    settings: dict[str, Any] = {
        "hidden_act": KERAS_HUB_ACTIVATION,
        "layer_norm_epsilon": KERAS_HUB_EPSILON,
        "hidden_dropout": float(backbone.dropout),
        "attention_dropout": float(backbone.dropout),
    }
    sidecar = _read_json(directory / KERAS_HUB_SIDECAR) if _has_sidecar(directory) else {}
    settings.update({k: sidecar[k] for k in _SIDECAR_FIELDS if k in sidecar})
    config = _make_config(
        sizes, {"num_heads": int(backbone.num_heads), **settings}, directory / KERAS_HUB_SIDECAR
    )
    vocabulary = [str(token) for token in tokenizer.get_vocabulary()]
    vocab_path = directory / "assets" / "tokenizer" / "vocabulary.txt"
    _check_vocabulary(vocabulary, weights, vocab_path)
    lowercase = bool(tokenizer.lowercase)
    strip_accents = bool(tokenizer.strip_accents)
    pooling = sidecar.get("pooling")
    return PretrainedBert(
        config=config,
        vocabulary=vocabulary,
        lowercase=lowercase,
        encoder_weights=weights,
        mlm_weights=None,
        source=f"keras-hub preset {directory}",
        # tfbert's tokenizer strips accents exactly when it lowercases unless told otherwise.
        strip_accents=None if strip_accents == lowercase else strip_accents,
        pooling=pooling if pooling in ("cls", "mean") else None,
    )


def _has_sidecar(directory: Path) -> bool:
    return (directory / KERAS_HUB_SIDECAR).is_file()


def export_keras_hub(
    encoder: BertEncoder,
    vocabulary: Sequence[str],
    directory: str | Path,
    *,
    lowercase: bool = True,
    strip_accents: bool | None = None,
    pooling: str | None = None,
) -> Path:
    """Writes `encoder` and its vocabulary as a keras-hub BERT preset directory.

    keras-hub's `BertBackbone.from_preset(directory)` and `BertTokenizer.from_preset(directory)`
    load the result, and so does tfbert's `load_pretrained`. `lowercase` and `strip_accents`
    (None: follow `lowercase`, as tfbert's tokenizer does) configure the saved tokenizer;
    `pooling` ("cls" or "mean", e.g. the classifier's) is recorded for tfbert readers. The
    directory must be new or empty: nothing in it is overwritten. Raises ModelFileError for an
    activation keras-hub cannot run (relu, tanh) and warns when keras-hub will run an exact-GELU
    model with its tanh approximation (see the module docstring).
    """
    config: BertConfig = encoder.config
    if config.hidden_act not in ("gelu", "gelu_approximate"):
        raise ModelFileError(
            f"keras-hub's BertBackbone always uses GELU; this encoder uses {config.hidden_act!r}, "
            "which a keras-hub preset cannot represent. Export it with export_huggingface."
        )
    if pooling not in (None, "cls", "mean"):
        raise ValueError(f"pooling must be 'cls', 'mean' or None, got {pooling!r}.")
    vocabulary = _checked_vocabulary(encoder, vocabulary)
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ModelFileError(
            f"{directory} already exists and is not an empty directory; export_keras_hub writes "
            "a new preset and overwrites nothing: pass a new directory."
        )
    differences = []
    if config.hidden_act != KERAS_HUB_ACTIVATION:
        differences.append("the tanh approximation of GELU (this encoder uses the exact GELU)")
    if config.layer_norm_epsilon != KERAS_HUB_EPSILON:
        differences.append(
            f"LayerNorm epsilon {KERAS_HUB_EPSILON} (this encoder uses {config.layer_norm_epsilon})"
        )
    if differences:
        warnings.warn(
            f"keras-hub's BertBackbone will run this model with {' and '.join(differences)}, so "
            f"its outputs differ slightly from tfbert's; tfbert reads the preset back exactly "
            f"(from {KERAS_HUB_SIDECAR}).",
            stacklevel=2,
        )
    keras_hub = _import_keras_hub()
    backbone = keras_hub_backbone(config)
    arrays = _encoder_arrays(encoder)
    targets = _backbone_variables(backbone)
    for source_path, tfbert_path in _variable_table(config.num_layers):
        variable = targets[source_path]
        variable.assign(arrays[tfbert_path].reshape(tuple(variable.shape)))
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=vocabulary,
        lowercase=bool(lowercase),
        strip_accents=bool(lowercase if strip_accents is None else strip_accents),
    )
    directory.mkdir(parents=True, exist_ok=True)
    backbone.save_to_preset(str(directory))
    tokenizer.save_to_preset(str(directory))
    sidecar = {field: getattr(config, field) for field in _SIDECAR_FIELDS}
    _write_json(directory / KERAS_HUB_SIDECAR, {**sidecar, "pooling": pooling})
    return directory


def keras_hub_backbone(config: BertConfig) -> Any:
    """A randomly initialised keras-hub `BertBackbone` of `config`'s sizes (float32)."""
    refuse_pruned(config, "keras-hub")
    keras_hub = _import_keras_hub()
    return keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size,
        dropout=config.hidden_dropout,
        max_sequence_length=config.max_position_embeddings,
        num_segments=config.type_vocab_size,
        dtype="float32",
    )
