"""Mixed precision: bfloat16 compute keeps float32 where it matters and learns like float32."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.data.pipeline import classification_dataset
from tfbert.data.readers import TextClassificationData
from tfbert.modeling import precision
from tfbert.tasks.classifier import BertClassifier
from tfbert.training.optimization import create_optimizer
from tfbert.training.precision import set_precision


@pytest.fixture
def restore_policy():
    yield
    set_precision("float32")


def _train_and_score(english_vocab, split, precision: str) -> tuple[BertClassifier, float]:
    set_precision(precision)
    keras.utils.set_random_seed(11)
    rows, test = split
    train = TextClassificationData([t for t, _ in rows], [y for _, y in rows])
    model = BertClassifier.from_preset(
        "tiny",
        vocabulary=english_vocab,
        labels=["0", "1"],
        max_length=64,
        tokenizer_options={"pad_to": "longest", "truncation": "head_tail"},
    )
    epochs = 4
    model.compile(optimizer=create_optimizer(1e-3, total_steps=epochs * 63))
    data = classification_dataset(model, train, 32, shuffle=True, seed=11, bucket_by_length=False)
    model.fit(data, epochs=epochs, verbose=0, shuffle=False)
    predicted = model.predict_texts([t for t, _ in test])["labels"]
    return model, float(np.mean([p == y for p, (_, y) in zip(predicted, test, strict=True)]))


@pytest.mark.slow  # about a minute; run with -m slow
def test_bfloat16_training_matches_float32_accuracy(
    english_vocab, imdb_small_split, restore_policy
) -> None:
    _, float32_accuracy = _train_and_score(english_vocab, imdb_small_split, "float32")
    model, bfloat16_accuracy = _train_and_score(english_vocab, imdb_small_split, "bfloat16")
    # The matmuls ran in bfloat16; variables, the residual stream and the head in float32.
    block = model.encoder.blocks[0]
    for dense in (block.attention.query, block.intermediate, block.output_dense):
        assert dense.compute_dtype == "bfloat16"
    assert block.attention_layer_norm.compute_dtype == "float32"
    assert all(v.dtype == "float32" for v in model.weights)
    features = model.tokenizer(["a quick check of the dtypes"])
    assert block.intermediate(tf.zeros((1, 2, 128))).dtype == tf.bfloat16
    assert model.encoder(features)["sequence_output"].dtype == tf.float32
    assert model(features).dtype == tf.float32
    print(f"held-out accuracy: float32 {float32_accuracy:.3f}, bfloat16 {bfloat16_accuracy:.3f}")
    assert bfloat16_accuracy >= 0.62
    assert bfloat16_accuracy >= float32_accuracy - 0.08


def test_unknown_precision_is_refused(restore_policy) -> None:
    with pytest.raises(ValueError, match="Unknown precision 'int4'"):
        set_precision("int4")


def test_bfloat16_warns_where_the_cpu_would_emulate_it(restore_policy, monkeypatch) -> None:
    """The warning follows the CPU's flags: this machine's real ones, then a CPU without and one
    with native bfloat16; float32 never warns."""
    flags = precision.cpu_flags()
    if flags is not None:  # Linux: the real flags of this CPU
        assert {"sse2", "avx2", "asimd", "fp"} & flags
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"sse2", "avx2", "avx512f"}))
    gpu = bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))
    assert precision.emulated_bfloat16() is not gpu
    if not gpu:
        with pytest.warns(UserWarning, match="no native bfloat16.*no faster.*--precision float32"):
            set_precision("bfloat16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        set_precision("float32")
        monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
        set_precision("bfloat16")
        monkeypatch.setattr(precision, "cpu_flags", lambda: None)  # cannot tell: no warning
        set_precision("bfloat16")
