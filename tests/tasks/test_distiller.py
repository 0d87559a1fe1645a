"""Distiller: the loss against a hand computation, students from teacher layers, and a student
that learns from a teacher's soft labels alone on real reviews."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.data import TextClassificationData
from tfbert.data.pipeline import classification_dataset
from tfbert.tasks.classifier import BertClassifier
from tfbert.tasks.distiller import (
    Distiller,
    softened_kl,
    spread_layers,
    student_from_teacher,
    uniform_layer_map,
)
from tfbert.tasks.token_classifier import TokenClassifier

TEXTS = ["A wonderful film.", "Dull, badly acted and far too long.", "The music was great."]


def _tiny(vocab, labels, **options) -> BertClassifier:
    keras.utils.set_random_seed(3)
    return BertClassifier.from_preset(
        "tiny",
        vocabulary=vocab,
        labels=labels,
        max_length=24,
        tokenizer_options={"pad_to": "longest"},
        **options,
    )


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


# ----- the loss, by hand -------------------------------------------------------------------------
@pytest.mark.parametrize("labels", [["neg", "pos"], ["a", "b", "c"]])
def test_loss_matches_a_hand_computation(english_vocab, labels):
    teacher = _tiny(english_vocab, labels)
    keras.utils.set_random_seed(4)
    student = _tiny(english_vocab, labels, num_layers=1)
    # Scale the teacher's head so that its distribution is far from uniform.
    kernel, bias = teacher.head.get_weights()
    teacher.head.set_weights([kernel * 40.0, bias + np.arange(len(bias), dtype=np.float32)])
    temperature, alpha = 3.0, 0.3
    distiller = Distiller(teacher, student, temperature=temperature, alpha=alpha)
    features = teacher.preprocessor(tf.constant(TEXTS))
    targets = teacher.encode_labels([labels[1], labels[0], labels[1]])
    labelled = np.array([1.0, 0.0, 1.0], np.float32)  # the middle row: teacher only
    t = teacher(features, training=False).numpy().astype(np.float64)
    s = student(features, training=False).numpy().astype(np.float64)
    loss = distiller.compute_loss(
        features, {"labels": targets, "labelled": labelled}, tf.constant(s, tf.float32)
    )

    if len(labels) == 2:  # one logit: a Bernoulli per row
        p = 1.0 / (1.0 + np.exp(-t / temperature))
        kl = p * (_log_sigmoid(t / temperature) - _log_sigmoid(s / temperature)) + (1 - p) * (
            _log_sigmoid(-t / temperature) - _log_sigmoid(-s / temperature)
        )
        kl = kl.mean(axis=-1)
        y = targets[:, 0]
        hard_rows = -(y * _log_sigmoid(s[:, 0]) + (1 - y) * _log_sigmoid(-s[:, 0]))
    else:
        log_p, log_q = _log_softmax(t / temperature), _log_softmax(s / temperature)
        kl = (np.exp(log_p) * (log_p - log_q)).sum(axis=-1)
        hard_rows = -_log_softmax(s)[np.arange(3), targets]
    soft = (kl * temperature**2).mean()
    hard = (hard_rows * labelled).sum() / labelled.sum()
    assert soft > 0.05  # the teacher and the student disagree: the term is not trivially 0
    np.testing.assert_allclose(float(loss), alpha * soft + (1 - alpha) * hard, rtol=1e-5)


def test_softened_kl_is_zero_for_equal_logits_and_scales_with_t_squared():
    logits = np.array([[2.0, -1.0, 0.5]], np.float32)
    other = np.array([[0.0, 1.0, 0.0]], np.float32)
    assert float(softened_kl(logits, logits, 4.0, "softmax")[0]) == pytest.approx(0.0, abs=1e-6)
    # KL at T of logits z equals KL at 1 of z / T: the T^2 factor is the only difference.
    at_t = float(softened_kl(logits, other, 2.0, "softmax")[0])
    at_one = float(softened_kl(logits / 2.0, other / 2.0, 1.0, "softmax")[0])
    assert at_t == pytest.approx(4.0 * at_one, rel=1e-5)
    with pytest.raises(ValueError, match="kind"):
        softened_kl(logits, other, 1.0, "linear")


def test_token_loss_averages_real_tokens_only(english_vocab):
    tags = ["O", "B-PER", "I-PER"]
    keras.utils.set_random_seed(5)
    teacher = TokenClassifier.from_preset("tiny", vocabulary=english_vocab, tags=tags, crf=True)
    student = student_from_teacher(teacher, num_layers=1)
    student.head.set_weights([w * 0.0 for w in student.head.get_weights()])  # uniform student
    distiller = Distiller(teacher, student, temperature=2.0, alpha=1.0)
    features = teacher.preprocessor.with_padding("longest")(tf.constant(TEXTS))
    mask = features["padding_mask"].numpy().astype(bool)
    assert not mask.all()  # some padding, which must not count
    t = teacher(features, training=False).numpy().astype(np.float64)
    s = student(features, training=False).numpy()
    loss = distiller.compute_loss(features, None, tf.constant(s))
    log_p = _log_softmax(t / 2.0)
    kl = (np.exp(log_p) * (log_p - _log_softmax(s / 2.0))).sum(axis=-1) * 4.0
    np.testing.assert_allclose(float(loss), kl[mask].mean(), rtol=1e-5)


def test_teacher_and_student_must_answer_the_same_question(english_vocab):
    teacher = _tiny(english_vocab, ["neg", "pos"])
    with pytest.raises(ValueError, match="share labels"):
        Distiller(teacher, _tiny(english_vocab, ["bad", "good"]))
    with pytest.raises(ValueError, match="temperature"):
        Distiller(teacher, _tiny(english_vocab, ["neg", "pos"]), temperature=0.0)


def test_hidden_state_transfer_matches_a_hand_computation(english_vocab):
    teacher = _tiny(english_vocab, ["neg", "pos"])
    student = student_from_teacher(teacher, num_layers=1)
    distiller = Distiller(teacher, student, hidden_weight=1.0, layer_map={0: 0, 1: 1})
    assert distiller.projections == []  # same width: no projection
    features = teacher.preprocessor(tf.constant(TEXTS))
    mask = features["padding_mask"].numpy().astype(bool)
    mine = student.backbone(features, return_all_layers=True)["hidden_states"]
    theirs = teacher.backbone(features, return_all_layers=True)["hidden_states"]
    expected = [((m.numpy() - t.numpy()) ** 2).mean(axis=-1)[mask].mean()
                for m, t in ((mine[0], theirs[0]), (mine[1], theirs[1]))]  # fmt: skip
    assert expected[0] == 0.0 and expected[1] > 0.0  # shared embeddings; layer 2 vs layer 1
    got = float(distiller.hidden_loss(features, training=False))
    assert got == pytest.approx(sum(expected) / 2, rel=1e-5)
    # Another width: a learned projection per mapped layer, trained with the student.
    wider = student_from_teacher(teacher, preset="mini")
    distiller = Distiller(teacher, wider, hidden_weight=1.0)
    assert distiller.layer_map == {0: 0, 1: 1, 2: 1, 3: 2, 4: 2}  # 4 layers onto 2
    assert len(distiller.projections) == len(distiller.layer_map)
    assert all(p.kernel.shape == (256, 128) for p in distiller.projections)
    trained = {id(v) for v in distiller.trainable_weights}
    assert all(id(p.kernel) in trained for p in distiller.projections)
    assert not any(id(v) in trained for v in teacher.weights)


# ----- students from the teacher's layers ----------------------------------------------------
def test_spread_layers_keeps_the_top_layer():
    assert spread_layers(3, 6) == [1, 3, 5]
    assert spread_layers(2, 6) == [2, 5]
    assert spread_layers(6, 6) == list(range(6))
    assert spread_layers(4, 6) == [1, 2, 4, 5]
    assert uniform_layer_map(3, 6) == {0: 0, 1: 2, 2: 4, 3: 6}
    with pytest.raises(ValueError, match="1 to 6"):
        spread_layers(7, 6)


def test_student_keeping_every_layer_gives_the_teachers_outputs(english_vocab):
    teacher = _tiny(english_vocab, ["a", "b", "c"], pooling="mean")
    features = teacher.preprocessor(tf.constant(TEXTS))
    same = student_from_teacher(teacher, num_layers=2)
    assert type(same) is BertClassifier and same.pooling == "mean"
    np.testing.assert_array_equal(same(features).numpy(), teacher(features).numpy())
    smaller = student_from_teacher(teacher, num_layers=1)
    assert smaller.backbone.config.num_layers == 1
    assert smaller.count_params() < teacher.count_params()
    np.testing.assert_array_equal(  # the kept layer is the teacher's top one
        smaller.backbone.blocks[0].get_weights()[0], teacher.backbone.blocks[1].get_weights()[0]
    )
    assert not np.allclose(smaller(features).numpy(), teacher(features).numpy())
    fresh = student_from_teacher(teacher, preset="tiny", hidden_dropout=0.0)
    assert fresh.labels == teacher.labels and fresh.backbone.config.hidden_dropout == 0.0


def test_token_student_keeping_every_layer_gives_the_teachers_emissions(english_vocab):
    keras.utils.set_random_seed(6)
    teacher = TokenClassifier.from_preset(
        "tiny", vocabulary=english_vocab, tags=["O", "B-LOC", "I-LOC"], crf=True
    )
    student = student_from_teacher(teacher, layers=[0, 1])
    features = teacher.preprocessor(tf.constant(TEXTS))
    np.testing.assert_array_equal(student(features).numpy(), teacher(features).numpy())
    np.testing.assert_array_equal(
        student.head.crf.get_weights()[0], teacher.head.crf.get_weights()[0]
    )


# ----- learning from the teacher -------------------------------------------------------------
@pytest.fixture(scope="module")
def sms():
    """Balanced real SMS messages (built-in smsspam): 192 to train on, 200 held out."""
    from tfbert.data import load_dataset

    data = load_dataset("smsspam").train
    by_label = {
        label: [t for t, y in zip(data.texts, data.labels, strict=True) if y == label]
        for label in ("ham", "spam")
    }

    def part(start, count):
        rows = [(t, y) for y in by_label for t in by_label[y][start : start + count]]
        return TextClassificationData([t for t, _ in rows], [y for _, y in rows])

    return part(0, 96), part(96, 100)


def _accuracy(model, data) -> float:
    predicted = model.predict_texts(data.texts, batch_size=64)["labels"]
    return float(np.mean([p == y for p, y in zip(predicted, data.labels, strict=True)]))


def test_student_learns_from_soft_labels_alone(minilm_dir, sms):
    """A 2-layer MiniLM teacher fine-tuned on 192 real messages; a 1-layer student whose head
    starts at zero (chance) learns from the teacher's soft labels, never seeing a label."""
    train, test = sms
    keras.utils.set_random_seed(7)
    full = BertClassifier.from_pretrained(
        minilm_dir, ["ham", "spam"], max_length=48, pad_to="longest"
    )
    teacher = student_from_teacher(full, num_layers=2)
    teacher.compile(optimizer=keras.optimizers.Adam(1e-4))
    batches = classification_dataset(teacher, train, 16, shuffle=True, seed=1)
    teacher.fit(batches, epochs=2, verbose=0, shuffle=False)
    teacher_accuracy = _accuracy(teacher, test)
    assert teacher_accuracy > 0.8

    student = student_from_teacher(teacher, num_layers=1)
    student.head.set_weights([w * 0.0 for w in student.head.get_weights()])
    before = _accuracy(student, test)
    distiller = Distiller(teacher, student, temperature=2.0, alpha=1.0)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-4))
    texts_only = classification_dataset(student, train, 16, with_labels=False, shuffle=True, seed=2)
    history = distiller.fit(texts_only, epochs=2, verbose=0, shuffle=False)
    after = _accuracy(student, test)
    assert history.history["soft_loss"][-1] < history.history["soft_loss"][0]
    assert before <= 0.55 < 0.75 < after, (before, after, teacher_accuracy)
    # It learned the teacher's answers, not merely some separation of the messages.
    agree = np.mean(
        np.array(student.predict_texts(test.texts)["labels"])
        == np.array(teacher.predict_texts(test.texts)["labels"])
    )
    assert agree > 0.8
