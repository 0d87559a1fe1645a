"""ElectraPretrainer: replaced-token labels, no gradient through sampling, learning real text,
the discriminator saved as a BERT that fine-tunes."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from pretraining_support import LEARNING, TINY, short_documents, train_briefly

from tfbert.data.pretraining import documents_from_texts
from tfbert.tasks.classifier import BertClassifier
from tfbert.tasks.electra import ElectraPretrainer, TokenReplacement, generator_config


@pytest.fixture(scope="module")
def model(vocab) -> ElectraPretrainer:
    keras.utils.set_random_seed(0)
    return ElectraPretrainer.from_preset("tiny", vocabulary=vocab, max_length=48, seed=1, **TINY)


@pytest.fixture(scope="module")
def batch(model, reviews) -> dict[str, np.ndarray]:
    """One batch of real masked sequences, with padding and padded prediction slots."""
    data = model.pretraining_dataset(
        documents_from_texts(reviews[:80]), batch_size=16, max_predictions_per_seq=10, seed=4
    )
    (inputs,) = next(iter(data))
    return {name: np.asarray(value) for name, value in inputs.items()}


def _originals(batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The unmasked token ids and where the real predictions are, from the batch alone."""
    original, masked = batch["token_ids"].copy(), np.zeros(batch["token_ids"].shape, bool)
    for row, (positions, ids, weights) in enumerate(
        zip(batch["mask_positions"], batch["mask_ids"], batch["mask_weights"], strict=True)
    ):
        real = weights > 0
        original[row, positions[real]] = ids[real]
        masked[row, positions[real]] = True
    return original, masked


def test_generator_is_a_narrower_bert_sharing_the_embeddings(model) -> None:
    small = generator_config(model.bert_config)
    assert (small.hidden_size, small.num_heads, small.intermediate_size) == (16, 1, 64)
    assert small.num_layers == model.bert_config.num_layers
    assert model.generator.embeddings is model.discriminator.embeddings
    token_table = model.discriminator.embeddings.token_embedding.embeddings
    tables = [w for w in model.weights if tuple(w.shape) == tuple(token_table.shape)]
    assert [w.path for w in tables] == ["encoder/embeddings/token_embedding/embeddings"]
    assert model.generator.embedding_projection.kernel.shape == (64, 16)
    assert model.generator_head.transform.kernel.shape == (16, 64)  # back to the embeddings'


def test_replaced_iff_the_sample_differs_from_the_original(model, batch) -> None:
    original, masked = _originals(batch)
    # Generator logits that make the sampling certain: at every other real prediction the
    # original token, elsewhere another one.
    vocab_size = len(model.tokenizer.vocabulary)
    slots = batch["mask_ids"].shape
    keep = np.arange(slots[1])[None, :] % 2 == 0
    chosen = np.where(keep, batch["mask_ids"], (batch["mask_ids"] + 7) % vocab_size)
    logits = np.full((*slots, vocab_size), -1e4, np.float32)
    np.put_along_axis(logits, chosen[..., None], 0.0, axis=-1)
    layer = TokenReplacement(seed=3)
    corrupted, labels = (
        np.asarray(t)
        for t in layer(
            batch["token_ids"],
            batch["mask_positions"],
            batch["mask_ids"],
            batch["mask_weights"],
            logits,
        )
    )
    expected = original.copy()
    for row in range(slots[0]):
        real = batch["mask_weights"][row] > 0
        expected[row, batch["mask_positions"][row][real]] = chosen[row][real]
    np.testing.assert_array_equal(corrupted, expected)
    np.testing.assert_array_equal(labels, (expected != original).astype(np.int32))
    replaced_slots = (~keep & (batch["mask_weights"] > 0)).sum()
    assert labels.sum() == replaced_slots > 10  # every changed token, and only those
    assert not labels[~masked].any() and not labels[batch["padding_mask"] == 0].any()
    assert (batch["padding_mask"] == 0).any() and (batch["mask_weights"] == 0).any()

    # The model's own labels (samples from its untrained generator): only at real masked
    # positions, 1 where the token changed.
    replaced = np.asarray(model(batch)["replaced"])
    assert not replaced[~masked].any()
    assert 0.8 < replaced[masked].mean() <= 1.0  # an untrained generator rarely hits


def test_the_discriminator_loss_reaches_the_generator_only_through_the_embeddings(
    model, batch
) -> None:
    generator_only = [
        w
        for w in model.trainable_variables
        if w.path.startswith(("generator_encoder/", "generator_mlm/"))
    ]
    assert len(generator_only) > 10
    with tf.GradientTape(persistent=True) as tape:
        outputs = model(batch, training=True)
        weights = tf.cast(batch["padding_mask"], tf.float32)
        labels = tf.cast(outputs["replaced"], tf.float32)
        per_token = tf.nn.sigmoid_cross_entropy_with_logits(labels, outputs["discriminator"])
        discriminator_loss = tf.reduce_sum(per_token * weights) / tf.reduce_sum(weights)
        generator_loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(batch["mask_ids"], outputs["generator"])
        )
    from_discriminator = tape.gradient(discriminator_loss, generator_only)
    assert all(g is None for g in from_discriminator)
    from_generator = tape.gradient(generator_loss, generator_only)
    assert all(g is not None and np.abs(np.asarray(g)).max() > 0 for g in from_generator)
    embeddings = model.discriminator.embeddings.token_embedding.embeddings
    shared = tape.gradient(discriminator_loss, embeddings)
    assert np.abs(np.asarray(tf.convert_to_tensor(shared))).max() > 0


@pytest.mark.slow  # a training run; the labels and pipeline tests stay fast
@pytest.mark.filterwarnings("ignore:Your input ran out of data")  # evaluate() on a finite set
def test_training_beats_chance_and_the_discriminator_fine_tunes(reviews, vocab, tmp_path) -> None:
    keras.utils.set_random_seed(2)
    model = ElectraPretrainer.from_preset(
        "tiny",
        vocabulary=vocab,
        max_length=32,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        seed=5,
        **LEARNING,
    )
    # (At 3e-3 this tiny discriminator settles on the constant answer, lambda = 50 making its
    # steps large; 1e-3 learns.)
    before, history, after, probe = train_briefly(model, short_documents(reviews), 1e-3)
    vocab_size = len(vocab)
    # Chance: the uniform generator (ln V) and the discriminator that only knows the share
    # of replaced tokens (its binary entropy).
    share = history["discriminator_replaced"][-1]
    entropy = -share * np.log(share) - (1 - share) * np.log(1 - share)
    start = np.log(before["generator_perplexity"])  # the exact masked-LM loss on the probe
    assert start > np.log(vocab_size) - 0.5
    assert np.log(after["generator_perplexity"]) < start - 1.0
    assert history["discriminator_loss"][-1] < 0.7 * entropy, (
        history["discriminator_loss"],
        entropy,
    )
    assert after["generator_accuracy"] > before["generator_accuracy"]
    assert after["discriminator_auc"] > 0.75 > before["discriminator_auc"]

    directory = model.save_pretrained(tmp_path / "electra")
    description = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    assert description["hidden_size"] == 128 and description["architectures"] == ["BertModel"]
    classifier = BertClassifier.from_pretrained(directory, labels=["neg", "pos"], max_length=32)
    assert classifier.bert_config == model.bert_config
    assert classifier.tokenizer.vocabulary == vocab
    (inputs,) = next(iter(probe))
    features = {name: inputs[name] for name in ("token_ids", "segment_ids", "padding_mask")}
    ours = model.discriminator(features)
    theirs = classifier.encoder(features)
    for name in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(np.asarray(theirs[name]), np.asarray(ours[name]))

    # Continuing ELECTRA from the saved discriminator: its weights, a fresh generator.
    again = ElectraPretrainer.from_pretrained(directory)
    assert again.tokenizer.max_length == 32
    np.testing.assert_array_equal(
        np.asarray(again.discriminator(features)["sequence_output"]),
        np.asarray(ours["sequence_output"]),
    )
