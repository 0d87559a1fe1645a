"""Google's original TF 1 BERT checkpoints, in and out.

Reading: `bert_config.json` + `bert_model.ckpt.{index,data-*}` + `vocab.txt`, read with
`tf.train.load_checkpoint` (variable names `bert/embeddings/...`); the `cls/*` pretraining heads
are kept as `mlm_weights`, optimizer slots ignored. Google's format has no lowercasing flag:
it is inferred from the vocabulary (no uppercase tokens -> uncased).

Writing: `write_google_checkpoint(encoder, vocabulary, directory)` writes the original variable
names, so `tf.train.load_checkpoint` and the original BERT code read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfbert.contract import VOCAB_FILE
from tfbert.errors import ModelFileError
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints.encoder import _checked_vocabulary, _encoder_arrays
from tfbert.modeling.checkpoints.names import (
    _config_from_values,
    _max_layer,
    _modules,
    _name_map,
    _parameters,
    _sizes_config,
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
from tfbert.text.vocab import save_vocabulary

GOOGLE_CONFIG, GOOGLE_CHECKPOINT = "bert_config.json", "bert_model.ckpt"


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


def read_google(directory: Path, prefix: Path | None = None) -> PretrainedBert:
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

    refuse_pruned(encoder.config, "Google BERT")  # before anything is written
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
