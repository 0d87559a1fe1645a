"""WordPiece in the graph: text to piece ids, with character offsets and word ids.

`WordPiece` splits text the way BERT does (normalisation from `tfbert.text.cleaning`, then
whitespace, punctuation and every CJK character as words, then greedy longest-match pieces with
tensorflow-text's `FastBertTokenizer`). It adds no [CLS]/[SEP], truncates nothing and pads
nothing: that is the packers' job (`tfbert.text.packers`).

Three ways to call it, all on 1-D batches and all graph ops (usable in `tf.data`, a Keras model
or an exported SavedModel):

    wordpiece = WordPiece(vocabulary, lowercase=True)
    ids = wordpiece.tokenize(["Hello, world!"])                 # [batch, (pieces)] int32
    pieces = wordpiece.tokenize_with_offsets(["Hello, world!"])
    pieces.starts, pieces.ends   # where each piece came from in the original string
    pieces.word_ids              # 0 for "hello", 1 for ",", 2 for "world", 3 for "!"
    ids, word_ids = wordpiece.tokenize_words(tf.ragged.constant([["New", "York"]]))

Offsets count characters (Python `str` indices) by default, or UTF-8 bytes with
`unit="byte"`; `text[start:end]` is the original spelling of the piece's part of the word
("Café" for the piece "cafe", "，" for ","). A word is what BERT splits before WordPiece, so
"don't" is three words; pre-split words (NER data) go through `tokenize_words`, whose word ids
index the words given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import tensorflow as tf
import tensorflow_text as tf_text

from tfbert.text.cleaning import (
    builtin_normalizer,
    normalize,
    normalize_characters,
    resolve_strip_accents,
)
from tfbert.text.vocab import UNK, validate_vocabulary

SUFFIX_INDICATOR = "##"
OFFSET_UNITS = ("character", "byte")


class WordPieces(NamedTuple):
    """Pieces of a batch of texts; every field is a ragged [batch, (pieces)] tensor."""

    ids: tf.RaggedTensor  # int32 vocabulary ids
    starts: tf.RaggedTensor  # int64 offset of the piece's first character in the original text
    ends: tf.RaggedTensor  # int64 offset just past its last character
    word_ids: tf.RaggedTensor  # int32 index of the word the piece belongs to, within its text


def row_cumsum(values: tf.RaggedTensor, exclusive: bool = False) -> tf.RaggedTensor:
    """Cumulative sum along the last axis of a 2-D ragged tensor, restarting at every row."""
    flat = values.flat_values
    running = tf.cumsum(flat, exclusive=True)  # the total of everything before each element
    # ... and the total before each row: the running total at its first element.
    totals = tf.concat([running, tf.reduce_sum(flat, keepdims=True)], axis=0)
    before_row = tf.gather(totals, values.row_splits[:-1])
    sums = running if exclusive else running + flat
    return values.with_flat_values(sums - tf.gather(before_row, values.value_rowids()))


class WordPiece:
    """BERT's word splitting and WordPiece over a fixed vocabulary, as graph ops.

    Args:
        vocabulary: WordPiece tokens, position = id (already validated by the caller).
        lowercase: lowercase the text (uncased models).
        strip_accents: remove accents after NFD; defaults to `lowercase`.
        normalize_full_width: fold compatibility forms with NFKC ("，" -> ","); off matches
            BERT's reference tokenizer (see `tfbert.text.cleaning`).
        max_bytes_per_word: longer words become a single [UNK], as in BERT.
    """

    def __init__(
        self,
        vocabulary: Sequence[str],
        lowercase: bool = True,
        strip_accents: bool | None = None,
        normalize_full_width: bool = False,
        max_bytes_per_word: int = 100,
    ) -> None:
        self.vocabulary = list(vocabulary)
        self.lowercase = bool(lowercase)
        self.strip_accents = resolve_strip_accents(lowercase, strip_accents)
        self.normalize_full_width = bool(normalize_full_width)
        self._options = (self.lowercase, self.strip_accents, self.normalize_full_width)
        self._tokenizer = tf_text.FastBertTokenizer(
            vocab=self.vocabulary,
            token_out_type=tf.int32,
            unknown_token=UNK,
            max_bytes_per_word=max_bytes_per_word,
            lower_case_nfd_strip_accents=builtin_normalizer(*self._options),
        )
        # True for "##"-pieces, which continue the word of the piece before them.
        self._is_suffix = tf.constant(
            [t.startswith(SUFFIX_INDICATOR) and len(t) > len(SUFFIX_INDICATOR) for t in vocabulary]
        )

    def normalize(self, texts: Any) -> Any:
        """The texts as the WordPiece step sees them (may be unchanged: see `cleaning`)."""
        return normalize(texts, *self._options)

    def tokenize(self, texts: Any) -> tf.RaggedTensor:
        """Piece ids of a 1-D string batch, [batch, (pieces)] int32: the fast path."""
        return self._tokenizer.tokenize(self.normalize(texts))

    def word_ids(self, ids: tf.RaggedTensor) -> tf.RaggedTensor:
        """Index of each piece's word within its text: a new word at every non-"##" piece."""
        starts_word = tf.cast(~tf.gather(self._is_suffix, ids.flat_values), tf.int32)
        return row_cumsum(ids.with_flat_values(starts_word)) - 1

    def tokenize_with_offsets(self, texts: Any, unit: str = "character") -> WordPieces:
        """Piece ids with their span in the original texts and their word ids.

        The ids equal `tokenize(texts)`; `unit` is "character" (str indices) or "byte" (UTF-8).
        """
        if unit not in OFFSET_UNITS:
            raise ValueError(f"unit must be one of {OFFSET_UNITS}, got {unit!r}.")
        texts = tf.convert_to_tensor(texts, tf.string)
        normalized, source, target = normalize_characters(texts, *self._options)
        ids, starts, ends = self._tokenizer.tokenize_with_offsets(normalized)
        # Offsets into the normalized text -> index of the original character they fall in.
        wide = tf.int64.max
        target_dense = target.to_tensor(default_value=wide)
        first = tf.searchsorted(target_dense, starts.to_tensor(), "right", tf.int64) - 1
        last = tf.searchsorted(target_dense, ends.to_tensor(), "left", tf.int64) - 1
        if unit == "character":
            start_offsets, end_offsets = first, last + 1
        else:
            source_dense = source.to_tensor()
            start_offsets = tf.gather(source_dense, first, batch_dims=1)
            end_offsets = tf.gather(source_dense, last + 1, batch_dims=1)
        lengths = ids.row_lengths()
        start_offsets = tf.RaggedTensor.from_tensor(start_offsets, lengths=lengths)
        end_offsets = tf.RaggedTensor.from_tensor(end_offsets, lengths=lengths)
        return WordPieces(ids, start_offsets, end_offsets, self.word_ids(ids))

    def tokenize_words(self, words: tf.RaggedTensor) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
        """Pieces of pre-split words, [batch, (words)] strings -> (ids, word_ids).

        Each given word is normalised and split on its own (a word holding punctuation, like
        "U.S.", gives several BERT words); `word_ids` index the given words, so per-word labels
        follow the pieces. A word that normalises to nothing gives no piece.
        """
        if not isinstance(words, tf.RaggedTensor):
            words = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(words, tf.string))
        pieces = self.tokenize(words.flat_values)  # [words, (pieces)]
        ids = tf.RaggedTensor.from_row_splits(
            pieces.flat_values, tf.gather(pieces.row_splits, words.row_splits), validate=False
        )
        word = pieces.value_rowids()  # index of the word in the flat list
        text = tf.gather(words.value_rowids(), word)
        word_ids = tf.cast(word - tf.gather(words.row_splits, text), tf.int32)
        return ids, ids.with_flat_values(word_ids)


def unknown_token_rate(
    tokens: list[str],
    texts: Iterable[str],
    *,
    lowercase: bool = True,
    strip_accents: bool | None = None,
    normalize_full_width: bool = False,
) -> float:
    """Fraction of WordPieces that are [UNK] when the model's tokenizer reads `texts`.

    Uses the model's own WordPiece step with the same options, so it measures what the model
    will see, not what the learner assumed.
    """
    validate_vocabulary(tokens)
    wordpiece = WordPiece(
        list(tokens),
        lowercase=lowercase,
        strip_accents=strip_accents,
        normalize_full_width=normalize_full_width,
    )
    unk_id = tokens.index(UNK)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def count(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        ids = wordpiece.tokenize(batch).flat_values
        return tf.size(ids), tf.reduce_sum(tf.cast(ids == unk_id, tf.int32))

    total = unknown = 0
    texts = list(texts)
    for start in range(0, len(texts), 1024):
        n_tokens, n_unknown = count(tf.constant(texts[start : start + 1024]))
        total += int(n_tokens)
        unknown += int(n_unknown)
    if total == 0:
        raise ValueError("The texts hold no tokens; the unknown-token rate is undefined.")
    return unknown / total


# Above this share of [UNK] pieces a model cannot read much of its text (English vocabularies
# on Chinese text give over half).
UNKNOWN_WARNING_RATE = 0.05


class UnknownTokenWarning(UserWarning):
    """Many WordPieces of the training text are [UNK] under the model's vocabulary."""


def unknown_token_message(rate: float, vocabulary_size: int) -> str | None:
    """The warning to give for an [UNK] share of `rate` (None below UNKNOWN_WARNING_RATE)."""
    if rate <= UNKNOWN_WARNING_RATE:
        return None
    return (
        f"{rate:.1%} of the training text's WordPieces are [UNK] under this "
        f"{vocabulary_size:,}-token vocabulary: the model cannot read them. Use a checkpoint "
        "made for this language, or train from scratch with a vocabulary learned from your "
        "text (leave out --init-from and --vocab)."
    )
