"""keras-hub BERT presets: tfbert -> keras-hub -> tfbert round trips with identical numbers."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
from checkpoint_helpers import BATCHES

from tfbert.config import BertConfig
from tfbert.errors import ModelFileError
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import export_keras_hub, load_encoder_weights, load_pretrained
from tfbert.modeling.checkpoints.encoder import _encoder_arrays
from tfbert.tasks.classifier import classifier_from_pretrained
from tfbert.text.tokenizer import BertTokenizer

keras_hub = pytest.importorskip("keras_hub")

TEXTS = BATCHES["english"] + BATCHES["accented"] + BATCHES["padded"]


@pytest.fixture(scope="module")
def small_encoder(english_vocab) -> BertEncoder:
    """A small random encoder over MiniLM's real vocabulary, with keras-hub's activation."""
    keras.utils.set_random_seed(3)
    config = BertConfig.from_preset(
        "tiny",
        vocab_size=len(english_vocab),
        max_position_embeddings=64,
        hidden_act="gelu_approximate",
        initializer_range=0.2,  # large weights: a wrong reshape cannot hide in small numbers
    )
    encoder = BertEncoder(config)
    encoder.build()
    return encoder


@pytest.fixture(scope="module")
def real_features(english_vocab) -> dict[str, np.ndarray]:
    tokenizer = BertTokenizer(english_vocab, max_length=48, lowercase=True)
    features = {k: np.asarray(v) for k, v in tokenizer(TEXTS).items()}
    assert features["padding_mask"].min() == 0 and (features["token_ids"] > 999).sum() > 40
    return features


def _tfbert_outputs(encoder: BertEncoder, features) -> dict[str, np.ndarray]:
    out = encoder(features)
    return {key: np.asarray(out[key]) for key in ("sequence_output", "pooled_output")}


def _keras_hub_outputs(backbone, features) -> dict[str, np.ndarray]:
    out = backbone({k: features[k].astype("int32") for k in features})
    return {key: np.asarray(out[key]) for key in ("sequence_output", "pooled_output")}


def test_export_writes_a_keras_hub_preset_that_reads_back_identically(
    tmp_path, small_encoder, english_vocab
) -> None:
    directory = export_keras_hub(small_encoder, english_vocab, tmp_path / "preset")
    assert {p.name for p in directory.iterdir()} == {
        "config.json",
        "model.weights.h5",
        "tokenizer.json",
        "metadata.json",
        "assets",
        "tfbert.json",
    }
    assert (directory / "assets" / "tokenizer" / "vocabulary.txt").is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert (directory / "config.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert directory.stat().st_mode & 0o777 == 0o777 & ~umask
    assert json.loads((directory / "config.json").read_text())["class_name"] == "BertBackbone"

    again = load_pretrained(directory)
    assert again.source.startswith("keras-hub preset")
    assert again.config == small_encoder.config
    assert again.vocabulary == english_vocab
    assert again.lowercase is True and again.strip_accents is None and again.pooling is None
    original = _encoder_arrays(small_encoder)
    assert again.encoder_weights.keys() == original.keys()
    for name, value in original.items():
        np.testing.assert_array_equal(again.encoder_weights[name], value, err_msg=name)


def test_keras_hub_backbone_computes_what_tfbert_computes(
    tmp_path, small_encoder, english_vocab, real_features
) -> None:
    directory = export_keras_hub(small_encoder, english_vocab, tmp_path / "preset")
    backbone = keras_hub.models.BertBackbone.from_preset(str(directory))
    theirs = _keras_hub_outputs(backbone, real_features)
    ours = _tfbert_outputs(small_encoder, real_features)
    for key in ours:
        np.testing.assert_allclose(theirs[key], ours[key], atol=1e-5, rtol=0, err_msg=key)
    assert np.abs(ours["pooled_output"]).max() > 0.1  # not a comparison of near-zeros

    # keras-hub's tokenizer, read from the preset, splits the texts as tfbert's does.
    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(directory))
    ids = tokenizer(TEXTS)
    for row, text in enumerate(TEXTS):
        mask = real_features["padding_mask"][row].astype(bool)
        expected = real_features["token_ids"][row][mask][1:-1]  # without [CLS] and [SEP]
        np.testing.assert_array_equal(np.asarray(ids[row]), expected, err_msg=text)


def test_a_preset_saved_by_keras_hub_loads_into_tfbert(
    tmp_path, english_vocab, real_features
) -> None:
    """The other direction: a keras-hub user's own preset (no tfbert notes beside it)."""
    keras.utils.set_random_seed(5)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(english_vocab),
        num_layers=2,
        num_heads=4,
        hidden_dim=32,
        intermediate_dim=48,
        max_sequence_length=64,
        dropout=0.0,
    )
    for variable in backbone.weights:  # keras-hub initialises LayerNorms to 1/0: perturb them
        noise = np.random.default_rng(len(variable.path)).normal(0, 0.3, variable.shape)
        variable.assign(np.asarray(variable) + noise.astype("float32"))
    directory = tmp_path / "theirs"
    backbone.save_to_preset(str(directory))
    keras_hub.models.BertTokenizer(vocabulary=english_vocab, lowercase=True).save_to_preset(
        str(directory)
    )
    pretrained = load_pretrained(directory)
    assert pretrained.config.hidden_act == "gelu_approximate"
    assert pretrained.config.layer_norm_epsilon == 1e-12
    assert (pretrained.config.hidden_size, pretrained.config.num_layers) == (32, 2)
    assert pretrained.config.hidden_dropout == pretrained.config.attention_dropout == 0.0
    # keras-hub lowercases without stripping accents here; tfbert is told so explicitly.
    assert pretrained.lowercase is True and pretrained.strip_accents is False
    encoder = BertEncoder(pretrained.config)
    load_encoder_weights(encoder, pretrained)
    theirs = _keras_hub_outputs(backbone, real_features)
    ours = _tfbert_outputs(encoder, real_features)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-5, rtol=0, err_msg=key)


def test_minilm_through_keras_hub_gives_the_same_probabilities(tmp_path) -> None:
    labels = ["neg", "neu", "pos"]
    original = classifier_from_pretrained("minilm-l6", labels=labels, max_length=64)
    assert original.pooling == "mean"
    with pytest.warns(UserWarning, match="tanh approximation of GELU"):
        directory = export_keras_hub(
            original.encoder,
            original.tokenizer.vocabulary,
            tmp_path / "minilm",
            lowercase=original.tokenizer.lowercase,
            pooling=original.pooling,
        )
    imported = classifier_from_pretrained(directory, labels=labels, max_length=64)
    assert imported.bert_config == original.bert_config  # exact GELU restored from tfbert.json
    assert imported.pooling == "mean"
    imported.head.set_weights(original.head.get_weights())  # the head is new in both
    texts = BATCHES["english"] + BATCHES["accented"] + ["A wonderful film.", "Awful."]
    expected = original.predict_texts(texts)["probabilities"]
    np.testing.assert_array_equal(imported.predict_texts(texts)["probabilities"], expected)
    assert expected.std() > 0  # the texts get different probabilities


def test_export_refuses_what_a_preset_cannot_hold(tmp_path, english_vocab) -> None:
    relu = BertEncoder(
        BertConfig.from_preset("tiny", vocab_size=len(english_vocab), hidden_act="relu")
    )
    with pytest.raises(ModelFileError, match="always uses GELU.*export_huggingface"):
        export_keras_hub(relu, english_vocab, tmp_path / "relu")
    assert not (tmp_path / "relu").exists()

    encoder = BertEncoder(BertConfig.from_preset("tiny", vocab_size=len(english_vocab)))
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(ModelFileError, match="not an empty directory.*overwrites nothing"):
        export_keras_hub(encoder, english_vocab, occupied)
    assert [p.name for p in occupied.iterdir()] == ["notes.txt"]
    with pytest.raises(ModelFileError, match="tokens but the encoder embeds"):
        export_keras_hub(encoder, english_vocab[:-1], tmp_path / "short")


def test_presets_tfbert_cannot_read(tmp_path, small_encoder, english_vocab) -> None:
    other = tmp_path / "gpt2"
    other.mkdir()
    (other / "config.json").write_text(
        json.dumps(
            {"module": "keras_hub.src.models.gpt2.gpt2_backbone", "class_name": "GPT2Backbone"}
        )
    )
    with pytest.raises(ModelFileError, match="'GPT2Backbone' preset; tfbert reads keras-hub Bert"):
        load_pretrained(other)

    directory = export_keras_hub(small_encoder, english_vocab, tmp_path / "preset")
    (directory / "tokenizer.json").unlink()
    with pytest.raises(ModelFileError, match="without tokenizer.json; the vocabulary is part"):
        load_pretrained(directory)
