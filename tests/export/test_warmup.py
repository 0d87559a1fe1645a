"""Warm-up records in exports: written at export time, and replayable against the SavedModel."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.export import export_saved_model, load_exported
from tfbert.export.warmup import (
    DEFAULT_WARMUP_TEXTS,
    build_warmup_logs,
    read_warmup_requests,
    warmup_path,
    write_warmup_requests,
)
from tfbert.tasks.classifier import BertClassifier

LABELS = ["negative", "neutral", "positive"]


@pytest.fixture(scope="module")
def classifier(english_vocab) -> BertClassifier:
    keras.utils.set_random_seed(7)
    return BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=LABELS, max_length=16
    )


def _replay(version_dir, logs) -> list[str]:
    """Runs each logged request against the loaded signatures, as a server's warm-up does."""
    model = load_exported(version_dir)
    kinds = []
    for log in logs:
        kind = log.WhichOneof("log_type")
        kinds.append(kind)
        if kind == "predict_log":
            request = log.predict_log.request
            inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
            signature = model.signatures[request.model_spec.signature_name]
            out = signature(**{name: tf.constant(value) for name, value in inputs.items()})
            batch = len(inputs["text"])
            assert out["probabilities"].shape == (batch, len(LABELS))
            np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=-1), 1, rtol=1e-5)
            assert {s.decode() for s in out["label"].numpy()} <= set(LABELS)
        elif kind == "classify_log":
            request = log.classify_log.request
            examples = [e.SerializeToString() for e in request.input.example_list.examples]
            signature = model.signatures[request.model_spec.signature_name]
            out = signature(inputs=tf.constant(examples))
            assert out["scores"].shape == (len(examples), len(LABELS))
            assert [c.decode() for c in out["classes"].numpy()[0]] == LABELS
        else:
            pytest.fail(f"unexpected warm-up record {kind}")
    return kinds


def test_export_writes_replayable_warmup_requests(classifier, tmp_path) -> None:
    version_dir = export_saved_model(classifier, tmp_path / "exports")
    assert warmup_path(version_dir).is_file()
    assert not list((tmp_path / "exports").glob(".*"))  # written in staging, then renamed

    logs = read_warmup_requests(warmup_path(version_dir))
    assert _replay(version_dir, logs) == ["predict_log", "classify_log"]

    predict = logs[0].predict_log.request
    assert predict.model_spec.signature_name == "serving_default"
    assert set(predict.inputs) == {"text"}
    texts = [s.decode("utf-8") for s in tf.make_ndarray(predict.inputs["text"])]
    assert texts == list(DEFAULT_WARMUP_TEXTS) and any("很好" in t for t in texts)
    classify = logs[1].classify_log.request
    assert classify.model_spec.signature_name == "classify"
    first = classify.input.example_list.examples[0].features.feature["text"]
    assert first.bytes_list.value == [DEFAULT_WARMUP_TEXTS[0].encode()]


def test_pair_export_with_custom_texts(english_vocab, tmp_path) -> None:
    model = BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=LABELS, max_length=16
    )
    texts = ["Is it raining?", "电影非常精彩"]
    version_dir = export_saved_model(model, tmp_path / "pairs", pair=True, warmup_texts=texts)
    logs = read_warmup_requests(version_dir)  # a version directory works too
    assert _replay(version_dir, logs) == ["predict_log", "classify_log"]
    inputs = logs[0].predict_log.request.inputs
    assert set(inputs) == {"text", "text_pair"}
    assert [s.decode() for s in tf.make_ndarray(inputs["text_pair"])] == texts[::-1]
    example = logs[1].classify_log.request.input.example_list.examples[0]
    assert set(example.features.feature) == {"text", "text_pair"}

    # An empty sequence opts out.
    bare = export_saved_model(model, tmp_path / "pairs", pair=True, warmup_texts=())
    assert not warmup_path(bare).exists()


def test_write_and_read_without_a_model(tmp_path) -> None:
    path = write_warmup_requests(tmp_path / "7", ["one"], model_name="imdb")
    assert path == tmp_path / "7" / "assets.extra" / "tf_serving_warmup_requests"
    logs = read_warmup_requests(path)
    assert [log.predict_log.request.model_spec.name for log in logs[:1]] == ["imdb"]
    assert logs[1].classify_log.request.model_spec.name == "imdb"
    with pytest.raises(ValueError, match="at least one text"):
        build_warmup_logs([])
    with pytest.raises(ValueError, match="pair=True"):
        build_warmup_logs(["a"], text_pairs=["b"])
    with pytest.raises(FileNotFoundError):
        read_warmup_requests(tmp_path / "missing")
