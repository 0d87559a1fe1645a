"""The length-sorted micro-batch loop shared by `predict_texts` and exports."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.contract import FEATURE_NAMES
from tfbert.tasks.classifier import BertClassifier
from tfbert.tasks.inference import MICRO_BATCH_LENGTH_STEP, length_sorted_rows


@pytest.fixture(scope="module")
def classifier(english_vocab) -> BertClassifier:
    keras.utils.set_random_seed(3)
    return BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=["negative", "positive"], max_length=40
    )


def test_rounded_micro_batch_widths_give_the_unrounded_outputs(
    classifier: BertClassifier, imdb_reviews
) -> None:
    # Real reviews cut to 1..37 words: token lengths of every kind, most not multiples of 16,
    # the longest truncated to the padded width 40 (rounding 33..40 up must stop there).
    texts = [
        " ".join(text.split()[: 1 + (7 * i) % 37]) for i, (text, _) in enumerate(imdb_reviews[:29])
    ]
    features = classifier.preprocessor.with_padding("longest")(tf.constant(texts))
    lengths = np.sum(features["padding_mask"].numpy(), axis=1)
    padded = int(features["padding_mask"].shape[1])
    assert any(length % MICRO_BATCH_LENGTH_STEP for length in lengths) and padded == 40

    widths: list[int] = []
    width = classifier.head.num_outputs

    def recording(chunk: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        assert set(chunk) == set(FEATURE_NAMES)
        widths.append(int(chunk["token_ids"].shape[1]))
        return classifier(chunk, training=training)

    outputs = {}
    for step in (1, MICRO_BATCH_LENGTH_STEP):
        widths.clear()  # eager: the while loop runs in Python, one call per micro-batch
        outputs[step] = length_sorted_rows(recording, dict(features), 4, width, step).numpy()
        outputs[f"widths {step}"] = sorted(set(widths))
    assert outputs[f"widths {MICRO_BATCH_LENGTH_STEP}"] == sorted(
        {min(-(-width // MICRO_BATCH_LENGTH_STEP) * MICRO_BATCH_LENGTH_STEP, padded)
         for width in outputs["widths 1"]}
    )  # fmt: skip
    assert outputs["widths 1"] != outputs[f"widths {MICRO_BATCH_LENGTH_STEP}"]  # rounding acted
    plain = tf.cast(classifier(features, training=False), tf.float32).numpy()
    np.testing.assert_allclose(outputs[MICRO_BATCH_LENGTH_STEP], outputs[1], atol=1e-5)
    np.testing.assert_allclose(outputs[MICRO_BATCH_LENGTH_STEP], plain, atol=1e-5)
    with pytest.raises(ValueError, match="length_step must be at least 1"):
        length_sorted_rows(recording, dict(features), 4, width, 0)


def test_a_batch_padded_to_its_longest_text_runs_at_a_rounded_width(
    classifier: BertClassifier, imdb_reviews
) -> None:
    # One review per request (as a server sees them): the tokenizer pads to that review's own
    # length, which the loop pads further to a multiple of the step (16 here), never beyond
    # max_length (40, not a multiple of 16).
    step = 16
    tokenizer = classifier.preprocessor.with_padding("longest")
    width = classifier.head.num_outputs
    seen: list[tuple[int, int]] = []
    widths = set()

    def recording(chunk: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        seen.append((int(chunk["token_ids"].shape[1]), int(tf.reduce_sum(chunk["padding_mask"]))))
        return classifier(chunk, training=training)

    review = imdb_reviews[5][0].split()
    cuts = [tokenizer(tf.constant([" ".join(review[:words])])) for words in range(1, 40)]
    for low, high in ((1, 16), (17, 32), (33, 40)):  # one text in each rounded width
        features = next(f for f in cuts if low <= f["padding_mask"].shape[1] <= high)
        length = int(features["padding_mask"].shape[1])
        assert length % step
        seen.clear()
        rows = length_sorted_rows(recording, dict(features), 4, width, step, max_length=40).numpy()
        assert seen == [(min(-(-length // step) * step, 40), length)]
        plain = tf.cast(classifier(features, training=False), tf.float32).numpy()
        np.testing.assert_allclose(rows, plain, atol=1e-5)
        widths.update(cut for cut, _ in seen)
    assert widths == {16, 32, 40}
