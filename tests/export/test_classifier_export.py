"""SavedModel export: TF Serving layout, atomic writes, and identical predictions after reload."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.errors import ModelFileError
from tfbert.export import directory_size, export_saved_model, load_exported
from tfbert.tasks.classifier import BertClassifier

TEXTS = [
    "An absolute triumph of a film.",
    "I walked out after an hour.",
    "Crème brûlée, déjà vu",
    "电影非常精彩",
    "",
    "   ",
]


@pytest.fixture(scope="module")
def classifier(english_vocab) -> BertClassifier:
    keras.utils.set_random_seed(5)
    return BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=["negative", "neutral", "positive"], max_length=24
    )


def test_export_layout_signatures_and_size(classifier: BertClassifier, tmp_path) -> None:
    path = classifier.export(tmp_path / "exports")
    assert path == tmp_path / "exports" / "1"
    assert (path / "saved_model.pb").is_file() and (path / "variables").is_dir()
    assert classifier.export(tmp_path / "exports").name == "2"  # next version by default
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == ["1", "2"]  # no leftovers

    parameter_bytes = classifier.count_params() * 4
    variables_bytes = directory_size(path / "variables")
    # Each weight stored once (Keras' ExportArchive would store it twice).
    assert parameter_bytes <= variables_bytes < 1.05 * parameter_bytes

    loaded = load_exported(path)
    predict = loaded.signatures["serving_default"]
    assert set(predict.structured_input_signature[1]) == {"text"}
    assert set(predict.structured_outputs) == {"probabilities", "label_id", "label"}
    outputs = predict(text=tf.constant(TEXTS))
    assert outputs["probabilities"].shape == (len(TEXTS), 3)
    assert [s.decode() for s in outputs["label"].numpy()] == [
        classifier.labels[i] for i in outputs["label_id"].numpy()
    ]


def _example(text: str) -> bytes:
    """A serialized tf.Example with the `text` feature the Classify signature reads."""
    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))
    return tf.train.Example(
        features=tf.train.Features(feature={"text": feature})
    ).SerializeToString()


def test_classify_signature_speaks_the_classify_api(classifier: BertClassifier, tmp_path) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    path = classifier.export(tmp_path / "exports")
    proto = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    signature = proto.meta_graphs[0].signature_def["classify"]
    assert signature.method_name == "tensorflow/serving/classify"
    assert set(signature.inputs) == {"inputs"} and set(signature.outputs) == {"classes", "scores"}

    examples = [_example(text) for text in TEXTS]
    result = load_exported(path).signatures["classify"](inputs=tf.constant(examples))
    expected = classifier.predict_texts(TEXTS)["probabilities"]
    np.testing.assert_allclose(result["scores"].numpy(), expected, atol=1e-6)
    assert result["classes"].numpy()[0].tolist() == [b"negative", b"neutral", b"positive"]


def test_fresh_process_reload_gives_identical_predictions(
    classifier: BertClassifier, tmp_path
) -> None:
    path = classifier.export(tmp_path / "exports")
    expected = classifier.predict_texts(TEXTS)
    script = textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # registers the tokenizer ops; nothing from tfbert is imported
        model = tf.saved_model.load({str(path)!r})
        out = model.signatures["serving_default"](text=tf.constant(json.loads(sys.argv[1])))
        assert "tfbert" not in sys.modules
        print(json.dumps({{"probabilities": out["probabilities"].numpy().tolist(),
                          "label": [s.decode() for s in out["label"].numpy()]}}))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(served["probabilities"], expected["probabilities"], atol=1e-6)
    assert served["label"] == expected["labels"]


def test_pair_model_export(english_vocab, tmp_path) -> None:
    model = BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=["no", "yes"], max_length=24
    )
    path = export_saved_model(model, tmp_path / "pairs", pair=True)
    predict = load_exported(path).signatures["serving_default"]
    first, second = ["Is it raining?", "Who won?"], ["It is pouring outside.", "Nobody knows."]
    outputs = predict(text=tf.constant(first), text_pair=tf.constant(second))
    expected = model.predict_texts(first, second)["probabilities"]
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-6)


def test_export_never_leaves_a_partial_version(classifier, tmp_path, monkeypatch) -> None:
    base = tmp_path / "exports"
    classifier.export(base, version=3)
    with pytest.raises(ModelFileError, match="already exists"):
        classifier.export(base, version=3)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        classifier.export(base, version=4)
    assert sorted(p.name for p in base.iterdir()) == ["3"]  # no "4", no hidden staging dir
    with pytest.raises(ModelFileError, match="not a SavedModel version directory"):
        load_exported(base)


def test_length_sorted_micro_batches_give_the_plain_outputs(
    classifier: BertClassifier, imdb_reviews, tmp_path
) -> None:
    # 51 rows from empty to truncated, in no particular order, and a partial last micro-batch.
    texts = [text for text, _ in imdb_reviews[:45]] + TEXTS
    signatures = {
        micro_batch: load_exported(
            classifier.export(tmp_path / "exports", micro_batch=micro_batch, warmup_texts=())
        ).signatures["serving_default"]
        for micro_batch in (None, 8)
    }
    reference = classifier.predict_texts(texts)["probabilities"]
    # Ties: rows as long as a micro-batch's longest join it (truncated reviews all tie).
    for batch in (texts, texts[:1], texts[-7:], [], texts + texts[::-1], [texts[0]] * 19):
        plain = signatures[None](text=tf.constant(batch, tf.string))
        sorted_ = signatures[8](text=tf.constant(batch, tf.string))
        assert sorted_["probabilities"].shape == (len(batch), 3)
        np.testing.assert_allclose(sorted_["probabilities"], plain["probabilities"], atol=1e-6)
        np.testing.assert_array_equal(sorted_["label"], plain["label"])
    np.testing.assert_allclose(
        signatures[8](text=tf.constant(texts))["probabilities"], reference, atol=1e-6
    )
    with pytest.raises(ValueError, match="micro_batch must be a positive integer"):
        classifier.export(tmp_path / "bad", micro_batch=0)


def test_bfloat16_export_is_smaller_and_matches_its_in_process_copy(
    classifier: BertClassifier, imdb_reviews, tmp_path
) -> None:
    texts = [text for text, _ in imdb_reviews[:20]]
    fast = classifier.for_inference("bfloat16")
    path32 = classifier.export(tmp_path / "exports", warmup_texts=())
    path16 = fast.export(tmp_path / "exports", warmup_texts=())
    assert directory_size(path16) < directory_size(path32)
    outputs = load_exported(path16).signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(
        outputs["probabilities"], fast.predict_texts(texts)["probabilities"], atol=1e-4
    )
    difference = np.abs(
        outputs["probabilities"].numpy() - classifier.predict_texts(texts)["probabilities"]
    ).max()
    assert 0 < difference < 0.02


def test_low_precision_export_stores_its_weights_once_and_matches_the_model(
    classifier: BertClassifier, imdb_reviews, tmp_path
) -> None:
    texts = [text for text, _ in imdb_reviews[:30]] + TEXTS
    fast = classifier.for_inference("bfloat16")
    weight_bytes = sum(w.size * w.itemsize for w in fast.get_weights())
    # The copy keeps its matmul kernels and its word table, the largest weight, in bfloat16.
    assert fast.backbone.token_embeddings.dtype == "bfloat16"
    float32_bytes = sum(w.size * w.itemsize for w in classifier.get_weights())
    assert weight_bytes < 0.6 * float32_bytes
    kept = fast.export(tmp_path / "exports", warmup_texts=())  # the default: variables
    baked = fast.export(tmp_path / "exports", warmup_texts=(), constant_weights=True)

    # The default stores each weight once, in its own precision (bfloat16 kernels), in
    # variables/ that every signature reads; the graph holds no copy of them.
    assert weight_bytes <= directory_size(kept / "variables") < 1.05 * weight_bytes
    assert (kept / "saved_model.pb").stat().st_size < 0.5 * weight_bytes
    # constant_weights=True bakes them into the graph instead, also once on disk.
    assert directory_size(baked / "variables") < 0.01 * weight_bytes
    graph_growth = (baked / "saved_model.pb").stat().st_size - (
        kept / "saved_model.pb"
    ).stat().st_size
    # (A weight the serving graph never reads, such as an unused pooler, is left out.)
    assert 0.9 * weight_bytes <= graph_growth < 1.05 * weight_bytes
    loaded = [load_exported(path) for path in (baked, kept)]  # referenced: they own variables
    signatures = [model.signatures for model in loaded]
    assert not signatures[0]["serving_default"].variables
    assert signatures[1]["serving_default"].variables

    # A reloaded export runs the in-memory copy's graph: its Predict, Classify and restored
    # `.predict` paths give the copy's probabilities.
    expected = fast.predict_texts(texts, batch_size=len(texts))["probabilities"]
    np.testing.assert_allclose(
        signatures[1]["serving_default"](text=tf.constant(texts))["probabilities"],
        expected,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        loaded[1].predict(tf.constant(texts))["probabilities"], expected, atol=1e-5
    )
    np.testing.assert_allclose(
        signatures[1]["classify"](inputs=tf.constant([_example(t) for t in texts[:5]]))["scores"],
        expected[:5],
        atol=1e-5,
    )

    # Same arithmetic either way, up to bfloat16 rounding (oneDNN may pick another kernel for
    # constant weights), through both signatures.
    outputs = [s["serving_default"](text=tf.constant(texts)) for s in signatures]
    probabilities = [output["probabilities"].numpy() for output in outputs]
    np.testing.assert_allclose(probabilities[0], probabilities[1], atol=1e-3)
    top2 = np.sort(probabilities[1], axis=-1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2e-3
    np.testing.assert_array_equal(
        outputs[0]["label"].numpy()[clear], outputs[1]["label"].numpy()[clear]
    )
    examples = tf.constant([_example(text) for text in texts[:5]])
    scores = [s["classify"](inputs=examples)["scores"] for s in signatures]
    np.testing.assert_allclose(scores[0], probabilities[0][:5], atol=1e-6)
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-3)

    # A float32 export keeps its variables unless asked (constants bring no speed there).
    plain32 = classifier.export(tmp_path / "f32", warmup_texts=())
    assert float32_bytes <= directory_size(plain32 / "variables") < 1.05 * float32_bytes
    frozen32 = classifier.export(tmp_path / "f32", warmup_texts=(), constant_weights=True)
    np.testing.assert_allclose(
        load_exported(frozen32).signatures["serving_default"](text=tf.constant(texts))[
            "probabilities"
        ],
        classifier.predict_texts(texts)["probabilities"],
        atol=1e-5,
    )
