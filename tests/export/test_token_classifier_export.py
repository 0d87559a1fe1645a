"""A token classifier's export (tfbert.export.token_classifier): raw strings in, the same
entities and tags as `predict_texts` out, from plain TensorFlow."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.contract import (
    ASSETS_EXTRA,
    PREDICT_SIGNATURE,
    TAGGER_OUTPUTS,
    TAGGER_SIGNATURE,
    tagged_texts,
)
from tfbert.export.saved_model import signature_labels
from tfbert.export.warmup import read_warmup_requests
from tfbert.tasks.token_classifier import TokenClassifier

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
TEXTS = [
    "Margaret Thatcher flew from Heathrow to Washington on Tuesday.",
    "Zoë Baptiste-Okonkwo joined Médecins Sans Frontières in Côte d'Ivoire.",
    "O'Brien met 王小明 at the Café Zürich in 上海 last week.",
    "中共中央总书记、国家主席江泽民发表新年讲话。",
    "",
    "ok",
]


def _same(exported: list[dict], predicted: list[dict]) -> None:
    assert [r["tags"] for r in exported] == [r["tags"] for r in predicted]
    assert [r["words"] for r in exported] == [r["words"] for r in predicted]
    for got, want in zip(exported, predicted, strict=True):
        assert [(e["type"], e["start"], e["end"], e["text"]) for e in got["entities"]] == [
            (e["type"], e["start"], e["end"], e["text"]) for e in want["entities"]
        ]
        np.testing.assert_allclose(
            [e["score"] for e in got["entities"]], [e["score"] for e in want["entities"]], 1e-5
        )


@pytest.mark.parametrize("crf", [False, True], ids=["softmax", "crf"])
def test_the_export_returns_the_entities_of_predict_texts(english_vocab, tmp_path, crf) -> None:
    keras.utils.set_random_seed(2)
    # Untrained, so it finds entities everywhere; windows of 12 positions split the long texts.
    model = TokenClassifier.from_preset(
        "tiny", vocabulary=english_vocab, tags=TAGS, max_length=12, crf=crf, stride=3
    )
    predicted = model.predict_texts(TEXTS)
    assert sum(len(r["entities"]) for r in predicted) > 5
    path = model.export(tmp_path / "ner")
    assert path == tmp_path / "ner" / "1"

    import tensorflow_text  # noqa: F401  (plain TensorFlow needs the tokenizer ops)

    loaded = tf.saved_model.load(str(path))
    for name in (PREDICT_SIGNATURE, TAGGER_SIGNATURE):
        outputs = loaded.signatures[name](text=tf.constant(TEXTS))
        assert set(outputs) == set(TAGGER_OUTPUTS)
        assert outputs["entity_start"].dtype == tf.int64
        _same(tagged_texts(TEXTS, outputs), predicted)
    # One text at a time gives the same as the batch (padding changes nothing).
    single = loaded.signatures[PREDICT_SIGNATURE](text=tf.constant(TEXTS[2:3]))
    _same(tagged_texts(TEXTS[2:3], single), predicted[2:3])
    empty = loaded.signatures[PREDICT_SIGNATURE](text=tf.constant([], tf.string))
    assert empty["entity_count"].shape == (0,)

    assert signature_labels(path) == TAGS
    info = json.loads((path / ASSETS_EXTRA / "tfbert_model.json").read_text(encoding="utf-8"))
    assert info["task"] == "token_classifier" and info["crf"] is crf
    assert info["entity_types"] == ["PER", "LOC", "ORG"]
    # The warm-up has a Predict request only: the export has no Classify signature.
    (log,) = read_warmup_requests(path)
    assert log.WhichOneof("log_type") == "predict_log"


@pytest.mark.parametrize(
    "constant_weights", [False, pytest.param(True, marks=pytest.mark.slow)]
)  # constants: the older form
def test_a_bfloat16_copy_exports_its_weights_once(
    english_vocab, tmp_path, constant_weights
) -> None:
    """By default the weights are variables (bfloat16 kernels) read by every signature; with
    constant_weights they live in the graph instead and variables/ holds only the CRF's."""
    keras.utils.set_random_seed(3)
    model = TokenClassifier.from_preset(
        "tiny", vocabulary=english_vocab, tags=TAGS, max_length=16, crf=True
    )
    copy = model.for_inference("bfloat16")
    path = copy.export(tmp_path / "ner", warmup_texts=[], constant_weights=constant_weights)
    assert not (path / ASSETS_EXTRA / "tf_serving_warmup_requests").exists()
    variables = sum(f.stat().st_size for f in (path / "variables").iterdir())
    weight_bytes = sum(w.numpy().nbytes for w in copy.weights)
    if constant_weights:
        assert variables < 0.1 * weight_bytes
    else:
        assert 0.95 * weight_bytes < variables < 1.2 * weight_bytes
    loaded = tf.saved_model.load(str(path)).signatures[PREDICT_SIGNATURE]
    # The same graph in memory: the copy's tagger with the weights read the same way.
    in_memory = copy.tag_function(constant_weights)(tf.constant(TEXTS))
    _same(tagged_texts(TEXTS, loaded(text=tf.constant(TEXTS))), tagged_texts(TEXTS, in_memory))
