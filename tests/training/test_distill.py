"""distill(): a whole run on real reviews, from a saved teacher to a student model directory."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

from tfbert.errors import TfbertError
from tfbert.evaluation import evaluate_classifier
from tfbert.tasks.classifier import BertClassifier
from tfbert.training.distill import DistillConfig, distill, format_comparison, transfer_set

SENTIMENT = {"0": "negative", "1": "positive"}


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, english_vocab):
    keras.utils.set_random_seed(2)
    teacher = BertClassifier.from_preset(
        "tiny",
        vocabulary=english_vocab,
        labels=list(SENTIMENT.values()),
        max_length=32,
        tokenizer_options={"pad_to": "longest"},
    )
    return teacher.save_pretrained(tmp_path_factory.mktemp("teacher") / "model")


@pytest.fixture(scope="module")
def files(tmp_path_factory, imdb_reviews):
    root = tmp_path_factory.mktemp("distill_data")
    train, validation = root / "train.csv", root / "validation.csv"
    negative = [row for row in imdb_reviews if row[1] == "0"][:36]
    positive = [row for row in imdb_reviews if row[1] == "1"][:36]
    balanced = [row for pair in zip(negative, positive, strict=True) for row in pair]
    for path, rows in ((train, balanced[:48]), (validation, balanced[48:])):
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["review", "label"])
            writer.writerows((text, SENTIMENT[label]) for text, label in rows)
    unlabelled = root / "more.txt"
    unlabelled.write_text(
        "\n".join(t.replace("\n", " ") for t, _ in imdb_reviews[100:116]) + "\n\n",
        encoding="utf-8",
    )
    return root, train, validation, unlabelled


def test_a_run_writes_an_ordinary_model_directory(tmp_path, teacher_dir, files):
    _, train, validation, unlabelled = files
    messages = []
    config = DistillConfig(
        output_dir=tmp_path / "student",
        train_file=train,
        validation_file=validation,
        text_column="review",
        student_layers=1,
        unlabelled_file=unlabelled,
        augment_copies=1,
        epochs=1,
        batch_size=16,
    )
    run = distill(teacher_dir, config, say=messages.append, verbose=0)
    out = tmp_path / "student"
    assert "Transfer set: 48 training texts, 48 augmented copies, 16 unlabelled" in "\n".join(
        messages
    )
    for name in ("config.json", "vocab.txt", "model.safetensors", "history.json",
                 "training_curves.png", "validation_report.json", "distill_report.json",
                 "distill_args.json", "baseline"):  # fmt: skip
        assert (out / name).exists(), name
    assert not (out / "backup").exists()
    student = BertClassifier.from_pretrained(out)
    assert student.backbone.config.num_layers == 1 and student.labels == run.student.labels
    texts = ["A wonderful film.", "Dull and far too long."]
    np.testing.assert_allclose(
        student.predict_texts(texts)["probabilities"],
        run.student.predict_texts(texts)["probabilities"],
        atol=1e-6,
    )
    report = json.loads((out / "distill_report.json").read_text())
    teacher = BertClassifier.from_pretrained(teacher_dir)
    data = run.report  # the student's validation report, TF-IDF beside it
    assert report["examples"] == data.num_examples == 24
    assert report["student"]["accuracy"] == pytest.approx(data.accuracy)
    assert report["student"]["f1"] == pytest.approx(data.macro_f1)
    assert report["tfidf"]["accuracy"] == pytest.approx(data.baseline.accuracy)
    assert report["teacher"]["layers"] == 2 and report["student"]["layers"] == 1
    assert report["student"]["parameters"] < report["teacher"]["parameters"]
    from tfbert.training.run import load_run_data

    _, held_out, _ = load_run_data(config.run_config(False), say=lambda m: None)
    assert report["teacher"]["accuracy"] == pytest.approx(
        evaluate_classifier(teacher, held_out).accuracy
    )
    assert "teacher" in format_comparison(report) and "tfidf" in format_comparison(report)
    history = json.loads((out / "history.json").read_text())["history"]
    assert {"soft_loss", "hard_loss", "val_loss"} <= set(history)


def test_the_transfer_set_flags_only_the_training_rows():
    from tfbert.data import TextClassificationData

    train = TextClassificationData(["good film", "bad film"], ["positive", "negative"])
    config = DistillConfig(output_dir="unused", dataset="imdb", student_layers=1, augment_copies=2)
    data, flags = transfer_set(train, ["an unlabelled review"], config)
    assert len(data) == 2 + 4 + 1 and data.texts[-1] == "an unlabelled review"
    assert flags.tolist() == [1.0, 1.0] + [0.0] * 5


def test_mistakes_are_refused_before_anything_is_written(tmp_path, teacher_dir, files):
    _, train, _, _ = files
    out = tmp_path / "student"
    with pytest.raises(TfbertError, match="--student-layers 3: the teacher has 2 layers"):
        distill(
            teacher_dir,
            DistillConfig(output_dir=out, train_file=train, text_column="review", student_layers=3),
            say=lambda m: None,
        )
    assert not out.exists()
    with pytest.raises(TfbertError, match="exactly one of --student-layers"):
        DistillConfig(output_dir=out, train_file=train).validate()
    with pytest.raises(TfbertError, match="--alpha must be in"):
        DistillConfig(output_dir=out, train_file=train, student_layers=1, alpha=2.0).validate()
    with pytest.raises(TfbertError, match="not a model directory"):
        distill(tmp_path, DistillConfig(output_dir=out, train_file=train, student_layers=1))
    assert not out.exists()


@pytest.mark.slow  # a whole NER run; tests/tasks/test_distiller.py covers the tagger's losses
def test_a_ner_teacher_distils_into_a_tagger(tmp_path, english_vocab):
    """A CRF tagger on real CoNLL-2003 sentences: the student is a 1-layer CRF tagger, reported with
    entity-level F1 beside the teacher's."""
    from tfbert.data.ner import load_ner_dataset
    from tfbert.tasks.token_classifier import TokenClassifier

    types = load_ner_dataset("conll2003", max_sentences_per_split=40)["train"].entity_types()
    tags = ["O"] + [f"{p}-{t}" for t in sorted({*types, "PER", "LOC", "ORG", "MISC"}) for p in "BI"]
    keras.utils.set_random_seed(4)
    teacher = TokenClassifier.from_preset(
        "tiny", vocabulary=english_vocab, tags=tags, crf=True, max_length=32
    )
    teacher_dir = teacher.save_pretrained(tmp_path / "teacher")
    config = DistillConfig(
        output_dir=tmp_path / "student",
        dataset="conll2003",
        max_examples=40,
        student_layers=1,
        epochs=1,
        batch_size=16,
    )
    messages = []
    run = distill(teacher_dir, config, say=messages.append, verbose=0)
    assert "windows of 40 training sentences" in "\n".join(messages)
    student = TokenClassifier.load(tmp_path / "student")
    assert student.crf and student.tags == tags and student.backbone.config.num_layers == 1
    report = json.loads((tmp_path / "student" / "distill_report.json").read_text())
    assert report["f1"] == "entity-level micro F1" and "tfidf" not in report
    assert report["student"]["f1"] == pytest.approx(run.report.micro_f1)
    assert report["student"]["accuracy"] is None
    with pytest.raises(TfbertError, match="--augment-copies apply to classifiers"):
        distill(teacher_dir, DistillConfig(output_dir=tmp_path / "other", dataset="conll2003",
                                           student_layers=1, augment_copies=1))  # fmt: skip
