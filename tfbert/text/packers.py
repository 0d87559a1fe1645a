"""Packers: WordPiece ids to the fixed features a BERT backbone reads.

A packer takes the ragged piece ids of one text (or two) per example, truncates them to fit,
adds [CLS] and [SEP] and pads, giving `token_ids`, `segment_ids` and `padding_mask`
([batch, length] int32 each, names from `tfbert.contract.FEATURE_NAMES`):

* `SinglePacker`: `[CLS] a [SEP]`, truncated at the end or keeping head and tail.
* `PairPacker`: `[CLS] a [SEP] b [SEP]`, longest-first truncation that keeps part of both.
* `TokenLabelPacker`: one text split into words, for token classification (NER): it also
  returns `word_ids` (index of each position's word, -1 on specials and padding) and, given
  per-word labels, `labels` with each word's label on its first piece and `IGNORE_LABEL`
  (-100, skipped by the loss) on its other pieces, the specials and the padding.

Example, with `WordPiece` from `tfbert.text.wordpiece`:

    packer = SinglePacker(cls_id=101, sep_id=102, pad_id=0, max_length=128)
    features = packer(wordpiece.tokenize(texts))

    ids, word_ids = wordpiece.tokenize_words(words)           # words: [batch, (words)] strings
    features = TokenLabelPacker(101, 102, 0, 128)(ids, word_ids, labels)   # labels per word

Written with core ragged ops only: tensorflow-text's `RoundRobinTrimmer` needs an op that older
TF Serving releases lack (see `tfbert.text.tokenizer`).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfbert.contract import FEATURE_NAMES

PAD_TO_CHOICES = ("max_length", "longest")
TRUNCATION_CHOICES = ("end", "head_tail")
IGNORE_LABEL = -100  # label of positions the loss skips (Keras and Hugging Face convention)


def longest_first_lengths(lengths: list[tf.Tensor], budget: tf.Tensor | int) -> list[tf.Tensor]:
    """How many pieces each segment keeps so that together they fit `budget`.

    One segment keeps up to the budget. Two segments: longest-first, i.e. the shorter one keeps
    everything up to half the budget and the longer one takes the rest (the closed form of
    removing one piece at a time from the longer segment).
    """
    budget = tf.cast(budget, lengths[0].dtype)
    if len(lengths) == 1:
        return [tf.minimum(lengths[0], budget)]
    length_a, length_b = lengths
    keep_a = tf.minimum(length_a, tf.maximum((budget + 1) // 2, budget - length_b))
    keep_b = tf.minimum(length_b, budget - keep_a)
    return [keep_a, keep_b]


def keep_mask(
    pieces: tf.RaggedTensor, keep: tf.Tensor, truncation: str = "end", head_fraction: float = 0.25
) -> tf.RaggedTensor:
    """Which pieces survive when each row keeps `keep` of them ([batch, (pieces)] bool).

    "end" keeps the first `keep`; "head_tail" keeps `floor(keep * head_fraction)` from the
    start and the rest from the end (Sun et al. 2019, "How to Fine-Tune BERT for Text
    Classification").
    """
    positions = tf.ragged.range(pieces.row_lengths()).flat_values
    row_ids = pieces.value_rowids()
    if truncation == "end":
        mask = positions < tf.gather(keep, row_ids)
    else:
        head = tf.cast(tf.floor(tf.cast(keep, tf.float32) * head_fraction), keep.dtype)
        tail_start = pieces.row_lengths() - (keep - head)
        mask = (positions < tf.gather(head, row_ids)) | (
            positions >= tf.gather(tail_start, row_ids)
        )
    return pieces.with_flat_values(mask)


def first_pieces(word_ids: tf.RaggedTensor) -> tf.RaggedTensor:
    """Which pieces start their word ([batch, (pieces)] bool, from per-piece word ids): those
    whose previous piece in the same text belongs to another word, and each text's first."""
    flat_words = word_ids.flat_values
    previous = tf.concat([tf.constant([-1], flat_words.dtype), flat_words[:-1]], axis=0)
    row_start = tf.scatter_nd(
        tf.expand_dims(word_ids.row_splits[:-1], -1),
        tf.ones([word_ids.nrows()], tf.bool),
        tf.expand_dims(tf.size(flat_words, out_type=tf.int64) + 1, 0),
    )[:-1]
    return word_ids.with_flat_values(row_start | (flat_words != previous))


def _apply(mask: tf.RaggedTensor, values: tf.RaggedTensor) -> tf.RaggedTensor:
    return tf.ragged.boolean_mask(values, mask)


class SinglePacker:
    """`[CLS] pieces [SEP]`, truncated to `max_length` and padded (see the module docstring).

    Args:
        cls_id, sep_id, pad_id: the special tokens' ids.
        max_length: packed length including the specials.
        pad_to: "max_length" pads every batch to `max_length`; "longest" to the batch's
            longest row (never narrower than [CLS] [SEP]).
        truncation: "end" or "head_tail" (see `keep_mask`).
        head_fraction: with "head_tail", the share of the kept pieces taken from the head.
    """

    def __init__(
        self,
        cls_id: int,
        sep_id: int,
        pad_id: int,
        max_length: int,
        pad_to: str = "max_length",
        truncation: str = "end",
        head_fraction: float = 0.25,
    ) -> None:
        if not isinstance(max_length, int) or max_length < 3:
            raise ValueError(
                f"max_length must be an integer >= 3 ([CLS] x [SEP]), got {max_length!r}."
            )
        if pad_to not in PAD_TO_CHOICES:
            raise ValueError(f"pad_to must be one of {PAD_TO_CHOICES}, got {pad_to!r}.")
        if truncation not in TRUNCATION_CHOICES:
            raise ValueError(f"truncation must be one of {TRUNCATION_CHOICES}, got {truncation!r}.")
        if not 0.0 <= head_fraction <= 1.0:
            raise ValueError(f"head_fraction must be in [0, 1], got {head_fraction!r}.")
        self.cls_id, self.sep_id, self.pad_id = int(cls_id), int(sep_id), int(pad_id)
        self.max_length = max_length
        self.pad_to = pad_to
        self.truncation = truncation
        self.head_fraction = float(head_fraction)

    def __call__(self, pieces: tf.RaggedTensor) -> dict[str, tf.Tensor]:
        return self.pack([pieces])

    # ----- shared by every packer ---------------------------------------------------------------
    def masks(self, pieces: list[tf.RaggedTensor]) -> list[tf.RaggedTensor]:
        """The keep-masks of one or two segments under this packer's truncation."""
        lengths = [p.row_lengths() for p in pieces]
        budget = self.max_length - (len(pieces) + 1)  # room after [CLS] and the [SEP]s
        keeps = longest_first_lengths(lengths, budget)
        return [
            keep_mask(p, keep, self.truncation, self.head_fraction)
            for p, keep in zip(pieces, keeps, strict=True)
        ]

    def pack(self, pieces: list[tf.RaggedTensor]) -> dict[str, tf.Tensor]:
        """Truncates, adds the specials and pads one or two segments."""
        masks = self.masks(pieces)
        features, _ = self._pack([_apply(m, p) for m, p in zip(masks, pieces, strict=True)])
        return features

    def _shape(self, token_ids: tf.RaggedTensor) -> Any:
        if self.pad_to == "max_length":
            return [None, self.max_length]
        # The longest row, and never narrower than [CLS] [SEP] (an empty batch included).
        width = tf.maximum(tf.reduce_max(token_ids.row_lengths()), 2)
        return tf.stack([token_ids.nrows(), width])

    def _pack(
        self,
        pieces: list[tf.RaggedTensor],
        extras: dict[str, tuple[tf.RaggedTensor, int]] | None = None,
    ) -> tuple[dict[str, tf.Tensor], Any]:
        """Packs already-truncated segments; `extras` are (per-piece values, value on specials
        and padding) carried to the same positions (single segment only)."""
        batch = pieces[0].nrows()

        def column(value: int, like: tf.RaggedTensor) -> tf.RaggedTensor:
            return tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.constant(value, like.dtype)))

        cls, sep = column(self.cls_id, pieces[0]), column(self.sep_id, pieces[0])
        tokens, segments = [cls], [tf.zeros_like(cls)]
        for segment_id, segment in enumerate(pieces):
            tokens += [segment, sep]
            segments += [tf.ones_like(segment) * segment_id, tf.ones_like(sep) * segment_id]
        token_ids = tf.concat(tokens, axis=1)
        shape = self._shape(token_ids)
        features = dict(
            zip(
                FEATURE_NAMES,
                (
                    token_ids.to_tensor(default_value=self.pad_id, shape=shape),
                    tf.concat(segments, axis=1).to_tensor(default_value=0, shape=shape),
                    tf.ones_like(token_ids).to_tensor(default_value=0, shape=shape),
                ),
                strict=True,
            )
        )
        for name, (values, fill) in (extras or {}).items():
            special = column(fill, values)
            packed = tf.concat([special, values, special], axis=1)
            features[name] = packed.to_tensor(default_value=fill, shape=shape)
        return features, shape


class PairPacker(SinglePacker):
    """`[CLS] a [SEP] b [SEP]` with segment ids 0 then 1, longest-first truncation.

    Same arguments as `SinglePacker`; call with two ragged piece batches.
    """

    def __call__(  # type: ignore[override]
        self, first: tf.RaggedTensor, second: tf.RaggedTensor
    ) -> dict[str, tf.Tensor]:
        return self.pack([first, second])


class TokenLabelPacker(SinglePacker):
    """A single-text packer for token classification that keeps pieces, words and labels aligned.

    Same arguments as `SinglePacker`. Call with `ids` and `word_ids` ([batch, (pieces)], e.g.
    from `WordPiece.tokenize_words`) and optionally `labels` ([batch, (words)] int, one per
    word). Returns the three features plus `word_ids` ([batch, length] int32, -1 on specials
    and padding) and, with labels, `labels` ([batch, length] int32): the word's label on its
    first piece, `IGNORE_LABEL` elsewhere. Truncation drops pieces, words and labels together;
    a word whose first piece was cut keeps no label.
    """

    def __call__(  # type: ignore[override]
        self,
        ids: tf.RaggedTensor,
        word_ids: tf.RaggedTensor,
        labels: tf.RaggedTensor | None = None,
    ) -> dict[str, tf.Tensor]:
        word_ids = tf.cast(word_ids, tf.int32)
        extras: dict[str, tuple[tf.RaggedTensor, int]] = {}
        (mask,) = self.masks([ids])
        if labels is not None:
            if not isinstance(labels, tf.RaggedTensor):
                labels = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(labels))
            labels = tf.cast(labels, tf.int32)
            flat_words = word_ids.flat_values
            first_piece = first_pieces(word_ids).flat_values
            where = tf.gather(labels.row_splits, ids.value_rowids()) + tf.cast(flat_words, tf.int64)
            piece_labels = tf.where(
                first_piece,
                tf.gather(labels.flat_values, where),
                IGNORE_LABEL,
            )
            extras["labels"] = (_apply(mask, ids.with_flat_values(piece_labels)), IGNORE_LABEL)
        extras["word_ids"] = (_apply(mask, word_ids), -1)
        features, _ = self._pack([_apply(mask, ids)], {k: extras[k] for k in sorted(extras)})
        return features
