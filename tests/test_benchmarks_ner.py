"""The NER benchmark's own parts: tagging pre-split words, the epoch batches, the table."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.ner import Cell, _epoch_batches, build_model, cells, table, tag_words


@pytest.fixture(scope="module")
def msra_sentences():
    """Real MSRA test pieces made of CJK characters only, so that the raw-string tagger splits
    them into the same words (one per character) as the dataset."""
    from tfbert.data.ner import load_ner_dataset
    from tfbert.text.cleaning import is_cjk_character

    test = load_ner_dataset("msra", max_sentences_per_split=400)["test"]
    keep = [i for i, w in enumerate(test.words) if all(is_cjk_character(c) for c in w)]
    return test.subset(keep[:12])


@pytest.mark.parametrize("crf", [False, True])
def test_words_are_tagged_as_the_raw_string_tagger_tags_them(msra_sentences, crf) -> None:
    """Same pieces, windows and decoding as `predict_texts`: with an untrained model (random but
    fixed scores) and windows of 14 pieces, both give every character the same tag."""
    import keras

    keras.utils.set_random_seed(3)
    cell = Cell(
        "msra", "bert", "tiny", crf=crf, epochs=1, learning_rate=1e-3, max_length=16,
        vocabulary="bert-base-chinese", from_scratch=True,
    )  # fmt: skip
    model = build_model(cell, msra_sentences.tag_names())
    assert max(len(w) for w in msra_sentences.words) > 14  # several windows
    words = tag_words(model, msra_sentences.words, batch_size=5)
    strings = [r["tags"] for r in model.predict_texts(msra_sentences.texts())]
    assert [len(t) for t in words] == [len(w) for w in msra_sentences.words]
    assert words == strings
    assert len({t for s in words for t in s}) > 1  # not a constant tagger


def test_an_epoch_is_every_window_once_in_batches_of_similar_length() -> None:
    lengths = np.random.default_rng(0).integers(3, 120, size=1000)
    first = _epoch_batches(lengths, 32, seed=13, epoch=0, pool=10)
    assert sorted(np.concatenate(first).tolist()) == list(range(1000))
    again = _epoch_batches(lengths, 32, seed=13, epoch=0, pool=10)
    assert all((a == b).all() for a, b in zip(first, again, strict=True))
    other = _epoch_batches(lengths, 32, seed=13, epoch=1, pool=10)
    assert any(len(a) != len(b) or (a != b).any() for a, b in zip(first, other, strict=True))
    spread = np.mean([np.ptp(lengths[b]) for b in first])
    assert spread < np.ptp(lengths) / 2  # sorted within pools: far less padding than random


def test_the_chinese_bert_cell_takes_the_given_checkpoint() -> None:
    assert cells(None)["msra-bert-crf"].from_scratch
    plugged = cells("runs/zh-bert")["msra-bert-crf"]
    assert plugged.start == "runs/zh-bert" and not plugged.from_scratch
    assert plugged.key() != cells(None)["msra-bert-crf"].key()


def test_the_table_shows_each_finished_cell() -> None:
    cell = {
        "test_f1": 88.123, "test_precision": 87.5, "test_recall": 88.75,
        "per_type": {"LOC": {"f1": 90.04}, "PER": {"f1": 95.0}},
        "raw_text_f1": 87.9, "best_epoch": 3, "epochs_run": 3,
        "training_seconds": 3000.0, "sentences_per_second": 80.4,
    }  # fmt: skip
    lines = table({"conll2003-minilm-crf": cell}).splitlines()
    assert len(lines) == 3
    assert lines[2] == (
        "| conll2003-minilm-crf | 88.12 | 87.50 | 88.75 | LOC 90.0, PER 95.0 | 87.90 | 3 / 3 "
        "| 50 min | 80 |"
    )
