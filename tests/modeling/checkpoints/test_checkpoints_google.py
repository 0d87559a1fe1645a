"""Google's original TF checkpoints: written with the original names, read back exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from checkpoint_helpers import assert_same_outputs

from tfbert.errors import ModelFileError
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import (
    export_huggingface,
    load_encoder_weights,
    load_pretrained,
    write_google_checkpoint,
)


def test_google_checkpoint_round_trips(tmp_path, encoder, minilm, features, baseline) -> None:
    directory = write_google_checkpoint(encoder, minilm.vocabulary, tmp_path / "google")
    reader = tf.train.load_checkpoint(str(directory / "bert_model.ckpt"))
    shapes = reader.get_variable_to_shape_map()
    assert shapes["bert/embeddings/word_embeddings"] == [30522, 384]
    assert shapes["bert/encoder/layer_0/attention/self/query/kernel"] == [384, 384]
    assert shapes["bert/encoder/layer_5/intermediate/dense/kernel"] == [384, 1536]
    assert shapes["bert/encoder/layer_2/output/LayerNorm/gamma"] == [384]
    assert shapes["bert/pooler/dense/kernel"] == [384, 384]
    np.testing.assert_array_equal(
        reader.get_tensor("bert/embeddings/word_embeddings"),
        minilm.encoder_weights["embeddings/token_embedding/embeddings"],
    )
    assert len(shapes) == len(minilm.encoder_weights)
    config = json.loads((directory / "bert_config.json").read_text())
    assert config["num_attention_heads"] == 12 and "layer_norm_eps" not in config

    for path in (directory, directory / "bert_model.ckpt"):  # a directory or the prefix
        again = load_pretrained(path)
        assert again.source.startswith("Google BERT checkpoint")
        assert again.config == minilm.config and again.vocabulary == minilm.vocabulary
        assert again.lowercase is True  # inferred: the vocabulary has no uppercase tokens
    layer = BertEncoder(again.config)
    load_encoder_weights(layer, again)
    assert_same_outputs(layer, features, baseline)


def test_truncated_google_checkpoint(tmp_path, encoder, minilm) -> None:
    directory = write_google_checkpoint(encoder, minilm.vocabulary, tmp_path / "google")
    data_file = directory / "bert_model.ckpt.data-00000-of-00001"
    data_file.write_bytes(data_file.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match=r"bert_model.ckpt cannot be read .* truncated"):
        load_pretrained(directory)
    (directory / "bert_config.json").unlink()
    with pytest.raises(ModelFileError, match="no bert_config.json"):
        load_pretrained(directory)


def test_cased_vocabulary_is_detected(tmp_path, encoder, minilm) -> None:
    # Replace unused slots by cased tokens: same size, so the checkpoint stays consistent.
    vocabulary = list(minilm.vocabulary)
    unused = [i for i, token in enumerate(vocabulary) if token.startswith("[unused")]
    for i, token in zip(unused, ["Paris", "London", "##ING"], strict=False):
        vocabulary[i] = token
    directory = write_google_checkpoint(encoder, vocabulary, tmp_path / "cased")
    assert load_pretrained(directory).lowercase is False
    hf = export_huggingface(encoder, vocabulary, tmp_path / "hf_cased", lowercase=False)
    (hf / "tokenizer_config.json").unlink()  # no tokenizer config: inferred from the vocabulary
    assert load_pretrained(hf).lowercase is False
