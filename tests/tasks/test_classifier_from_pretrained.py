"""classifier_from_pretrained: a classifier whose encoder starts from a real checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import PretrainedBert, load_encoder_weights, load_pretrained
from tfbert.tasks.classifier import classifier_from_pretrained
from tfbert.text.tokenizer import BertTokenizer

TEXTS = {
    "english": ["The movie was wonderful, I loved every minute of it.", "Dull and far too long."],
    "accented": ["Café au lait, a naïve résumé.", "Über-cool CRÈME BRÛLÉE at the Ångström bar"],
}


@pytest.fixture(scope="module")
def minilm() -> PretrainedBert:
    return load_pretrained("minilm-l6")


@pytest.fixture(scope="module")
def features(minilm: PretrainedBert) -> dict[str, dict[str, np.ndarray]]:
    tokenizer = BertTokenizer(minilm.vocabulary, max_length=40, lowercase=minilm.lowercase)
    return {
        name: {k: np.asarray(v) for k, v in tokenizer(texts).items()}
        for name, texts in TEXTS.items()
    }


@pytest.fixture(scope="module")
def baseline(minilm, features) -> dict[str, dict[str, np.ndarray]]:
    """A plain BertEncoder with the MiniLM weights: what the classifier's encoder must give."""
    encoder = BertEncoder(minilm.config)
    load_encoder_weights(encoder, minilm)
    return {name: _outputs(encoder, batch) for name, batch in features.items()}


def _outputs(encoder: BertEncoder, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = encoder(batch)
    return {key: np.asarray(out[key]) for key in ("sequence_output", "pooled_output")}


def _assert_same_outputs(encoder: BertEncoder, features, baseline) -> None:
    for name, batch in features.items():
        out = _outputs(encoder, batch)
        for key in out:
            np.testing.assert_array_equal(out[key], baseline[name][key], err_msg=f"{name}/{key}")


@pytest.fixture(scope="module")
def classifier():
    return classifier_from_pretrained("minilm-l6", labels=["neg", "neu", "pos"], max_length=64)


def test_classifier_from_pretrained(classifier, minilm, features, baseline) -> None:
    assert classifier.bert_config == minilm.config
    assert classifier.problem_type == "multiclass" and classifier.labels == ["neg", "neu", "pos"]
    assert classifier.tokenizer.lowercase and classifier.tokenizer.max_length == 64
    assert classifier.tokenizer.tokenize_to_strings("Café NAÏVE") == [
        "[CLS]",
        "cafe",
        "naive",
        "[SEP]",
    ]
    _assert_same_outputs(classifier.encoder, features, baseline)
    probabilities = classifier.predict_texts(["A wonderful film.", "Awful."])["probabilities"]
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(-1), 1.0, atol=1e-6)


def test_dropout_override_changes_only_dropout(minilm, features, baseline) -> None:
    """`dropout=0.0` (a model pretrained without dropout) keeps the weights and turns training
    mode deterministic; the checkpoint's own 0.1 makes two training-mode passes differ."""
    plain = classifier_from_pretrained("minilm-l6", labels=["a", "b"], max_length=64)
    quiet = classifier_from_pretrained("minilm-l6", labels=["a", "b"], max_length=64, dropout=0.0)
    assert quiet.bert_config == minilm.config.with_dropout(0.0)
    assert plain.bert_config.hidden_dropout == 0.1
    _assert_same_outputs(quiet.encoder, features, baseline)
    batch = features["english"]

    def pooled(model):
        return np.asarray(model.encoder(batch, training=True)["pooled_output"])

    np.testing.assert_array_equal(pooled(quiet), pooled(quiet))
    assert np.abs(pooled(plain) - pooled(plain)).max() > 1e-3


def test_the_old_import_path_names_the_new_one() -> None:
    with pytest.raises(ImportError, match=r"moved to tfbert\.tasks\.classifier"):
        from tfbert.modeling.checkpoints import classifier_from_pretrained  # noqa: F401
