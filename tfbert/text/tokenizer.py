"""In-graph BERT tokenization: raw strings (or string pairs) to the three integer features.

`BertTokenizer` is a Keras layer, so the same object works inside a model with a string input,
inside `tf.data.Dataset.map`, and inside an exported SavedModel: nothing outside the graph is
needed at serving time.

Why tensorflow-text's `FastBertTokenizer` and not keras-hub's `BertTokenizer`: it compiles the
vocabulary into the graph (no asset files), strips accents the way uncased BERT was trained
("Café" -> "cafe"; keras-hub gives [UNK]), and splits CJK characters one by one like the original
BERT. Truncation and packing are written with core TF ragged ops on purpose: tensorflow-text's
`RoundRobinTrimmer` (and keras-hub's packer built on it) need the `RoundRobinTrim` op from
tensorflow-text >= 2.13, which older TF Serving releases do not have compiled in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from tfbert.config import BertConfig
from tfbert.text.vocab import CLS, PAD, SEP, load_vocabulary, prenormalize, validate_vocabulary

FEATURE_NAMES = ("token_ids", "segment_ids", "padding_mask")
PAD_TO_CHOICES = ("max_length", "longest")
TRUNCATION_CHOICES = ("end", "head_tail")


@keras.saving.register_keras_serializable(package="tfbert")
class BertTokenizer(keras.layers.Layer):
    """Maps strings to `token_ids`, `segment_ids` and `padding_mask` ([batch, length] int32).

    Args:
        vocabulary: WordPiece tokens (position = id) or a path to a `vocab.txt`.
        max_length: packed length including [CLS] and [SEP]; longer inputs are truncated.
        lowercase: lowercase the text (uncased models).
        strip_accents: remove accents after NFD; defaults to `lowercase`, as in uncased BERT.
        pad_to: "max_length" pads every batch to `max_length`; "longest" pads only to the
            batch's longest sequence (less wasted compute; models accept any length).
        truncation: "end" keeps the first tokens; "head_tail" keeps the first and the last
            tokens of a long text (Sun et al. 2019, "How to Fine-Tune BERT for Text
            Classification", found head 128 + tail 382 of 510 best on IMDB).
        head_fraction: with "head_tail", the share of the kept tokens taken from the head.

    Call with a 1-D string tensor (or list of str) for single texts, or a pair
    `(texts, text_pairs)` / dict `{"text": ..., "text_pair": ...}` for sentence pairs, packed as
    `[CLS] a [SEP] b [SEP]` with longest-first truncation that keeps part of both texts.
    """

    def __init__(
        self,
        vocabulary: Sequence[str] | str | Path,
        max_length: int = 128,
        lowercase: bool = True,
        strip_accents: bool | None = None,
        pad_to: str = "max_length",
        truncation: str = "end",
        head_fraction: float = 0.25,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if isinstance(vocabulary, (str, Path)):
            vocabulary = load_vocabulary(vocabulary)
        vocabulary = list(vocabulary)
        validate_vocabulary(vocabulary)
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
        self.vocabulary = vocabulary
        self.max_length = max_length
        self.lowercase = bool(lowercase)
        self.strip_accents = self.lowercase if strip_accents is None else bool(strip_accents)
        self.pad_to = pad_to
        self.truncation = truncation
        self.head_fraction = float(head_fraction)
        self._token_to_id = {token: index for index, token in enumerate(vocabulary)}
        self.pad_id = self._token_to_id[PAD]
        self.cls_id = self._token_to_id[CLS]
        self.sep_id = self._token_to_id[SEP]
        # FastBertTokenizer's built-in normaliser does lowercasing and accent stripping together;
        # the other combinations are done before it with core/tf-text string ops.
        self._wordpiece = tf_text.FastBertTokenizer(
            vocab=vocabulary,
            token_out_type=tf.int32,
            lower_case_nfd_strip_accents=self.lowercase and self.strip_accents,
        )

    def with_padding(self, pad_to: str) -> BertTokenizer:
        """This tokenizer with another `pad_to` (the same one when it already matches).

        Prediction and evaluation pad to each batch's longest text whatever the training
        setting: the model gives the same outputs at real tokens for any padding.
        """
        if pad_to == self.pad_to:
            return self
        # Cached outside Keras's attribute tracking: a twin is not a sub-layer of this one.
        twins = self.__dict__.setdefault("_padding_twins", {})
        if pad_to not in twins:
            twins[pad_to] = BertTokenizer.from_config({**self.get_config(), "pad_to": pad_to})
        return twins[pad_to]

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def token_to_id(self, token: str) -> int:
        return self._token_to_id[token]

    def id_to_token(self, token_id: int) -> str:
        return self.vocabulary[int(token_id)]

    # ----- graph code ---------------------------------------------------------------------------
    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        # Keras only accepts tensors as positional inputs; let people pass lists of str too.
        if isinstance(inputs, dict):
            inputs = {key: self._to_tensor(value, key) for key, value in inputs.items()}
        elif isinstance(inputs, tuple) or self._is_pair_list(inputs):
            if len(inputs) != 2:
                raise ValueError(f"BertTokenizer takes one text or a pair, got {len(inputs)}.")
            # Pairs travel as a dict: Keras reads a positional tuple as several arguments.
            inputs = {
                "text": self._to_tensor(inputs[0], "text"),
                "text_pair": self._to_tensor(inputs[1], "text_pair"),
            }
        else:
            inputs = self._to_tensor(inputs, "text")
        return super().__call__(inputs, *args, **kwargs)

    @staticmethod
    def _is_pair_list(inputs: Any) -> bool:
        return (
            isinstance(inputs, list)
            and len(inputs) == 2
            and all(isinstance(item, (list, tuple)) or tf.is_tensor(item) for item in inputs)
        )

    @staticmethod
    def _to_tensor(value: Any, name: str) -> Any:
        if value is None:
            return value
        if not (tf.is_tensor(value) or isinstance(value, keras.KerasTensor)):
            try:
                value = tf.convert_to_tensor(value)
            except (ValueError, TypeError) as error:
                raise TypeError(
                    f"BertTokenizer expects '{name}' as a batch of strings; could not convert "
                    f"{type(value).__name__} ({error})."
                ) from None
        if keras.backend.standardize_dtype(value.dtype) != "string":
            raise TypeError(
                f"BertTokenizer expects '{name}' as a batch of strings (tf.string), got "
                f"{keras.backend.standardize_dtype(value.dtype)}. Pass raw text; token ids go to "
                "the numeric model instead."
            )
        return value

    def wordpiece_ids(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """WordPiece ids of a 1-D string batch, [batch, (pieces)], without specials, truncation
        or padding: for pipelines that pack sequences themselves (e.g. pretraining)."""
        return self._wordpiece.tokenize(self._normalize(texts))

    def call(self, inputs: Any) -> dict[str, tf.Tensor]:
        segments = [self._as_string_batch(text, name) for name, text in self._split_inputs(inputs)]
        pieces = [self.wordpiece_ids(text) for text in segments]
        pieces = self._truncate(pieces)
        return self._pack(pieces)

    def _split_inputs(self, inputs: Any) -> list[tuple[str, Any]]:
        if isinstance(inputs, dict):
            unknown = set(inputs) - {"text", "text_pair"}
            if "text" not in inputs or unknown:
                raise ValueError(
                    "BertTokenizer takes a dict with keys 'text' and optionally 'text_pair'; "
                    f"got keys {sorted(inputs)}."
                )
            pairs = [("text", inputs["text"])]
            if inputs.get("text_pair") is not None:
                pairs.append(("text_pair", inputs["text_pair"]))
            return pairs
        if isinstance(inputs, (tuple, list)):
            if len(inputs) != 2:
                raise ValueError(
                    f"BertTokenizer takes one text or a pair of texts, got {len(inputs)}."
                )
            return [("text", inputs[0]), ("text_pair", inputs[1])]
        return [("text", inputs)]

    def _as_string_batch(self, texts: Any, name: str) -> tf.Tensor:
        texts = self._to_tensor(texts, name)
        if texts.shape.rank == 0:
            texts = tf.reshape(texts, [1])
        elif texts.shape.rank == 2 and texts.shape[-1] == 1:  # keras.Input(shape=(1,)) style
            texts = tf.squeeze(texts, axis=-1)
        elif texts.shape.rank != 1:
            raise ValueError(
                f"BertTokenizer expects '{name}' as a 1-D batch of strings, got {texts.shape}."
            )
        return texts

    def _normalize(self, texts: tf.Tensor) -> tf.Tensor:
        return prenormalize(texts, self.lowercase, self.strip_accents)

    def _truncate(self, pieces: list[tf.RaggedTensor]) -> list[tf.RaggedTensor]:
        lengths = [p.row_lengths() for p in pieces]
        # Room left after [CLS] and the [SEP]s, in the dtype of the lengths (int64).
        budget = tf.constant(self.max_length - (len(pieces) + 1), lengths[0].dtype)
        if len(pieces) == 1:
            keeps = [tf.minimum(lengths[0], budget)]
        else:
            # Longest-first: the shorter text keeps everything up to half the budget, the longer
            # one takes the rest (the closed form of removing one token at a time from the longer).
            length_a, length_b = lengths
            keep_a = tf.minimum(length_a, tf.maximum((budget + 1) // 2, budget - length_b))
            keep_b = tf.minimum(length_b, budget - keep_a)
            keeps = [keep_a, keep_b]
        return [self._keep_tokens(p, keep) for p, keep in zip(pieces, keeps, strict=True)]

    def _keep_tokens(self, pieces: tf.RaggedTensor, keep: tf.Tensor) -> tf.RaggedTensor:
        positions = tf.ragged.range(pieces.row_lengths()).flat_values
        row_ids = pieces.value_rowids()
        row_keep = tf.gather(keep, row_ids)
        if self.truncation == "end":
            mask = positions < row_keep
        else:
            head = tf.cast(tf.floor(tf.cast(keep, tf.float32) * self.head_fraction), keep.dtype)
            tail_start = pieces.row_lengths() - (keep - head)
            mask = (positions < tf.gather(head, row_ids)) | (
                positions >= tf.gather(tail_start, row_ids)
            )
        return tf.ragged.boolean_mask(pieces, pieces.with_flat_values(mask))

    def _pack(self, pieces: list[tf.RaggedTensor]) -> dict[str, tf.Tensor]:
        batch = pieces[0].nrows()
        cls = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.constant(self.cls_id, tf.int32)))
        sep = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.constant(self.sep_id, tf.int32)))
        tokens, segments = [cls], [tf.zeros_like(cls)]
        for segment_id, segment in enumerate(pieces):
            tokens += [segment, sep]
            segments += [tf.ones_like(segment) * segment_id, tf.ones_like(sep) * segment_id]
        token_ids = tf.concat(tokens, axis=1)
        segment_ids = tf.concat(segments, axis=1)
        if self.pad_to == "max_length":
            shape = [None, self.max_length]
        else:  # the longest row, and never narrower than [CLS] [SEP] (an empty batch included)
            width = tf.maximum(tf.reduce_max(token_ids.row_lengths()), 2)
            shape = tf.stack([token_ids.nrows(), width])
        return {
            "token_ids": token_ids.to_tensor(default_value=self.pad_id, shape=shape),
            "segment_ids": segment_ids.to_tensor(default_value=0, shape=shape),
            "padding_mask": tf.ones_like(token_ids).to_tensor(default_value=0, shape=shape),
        }

    def compute_output_spec(self, inputs: Any) -> dict[str, keras.KerasTensor]:
        first = (
            inputs["text"]
            if isinstance(inputs, dict)
            else (inputs[0] if isinstance(inputs, (tuple, list)) else inputs)
        )
        batch = first.shape[0] if first.shape else None
        length = self.max_length if self.pad_to == "max_length" else None
        return {name: keras.KerasTensor((batch, length), dtype="int32") for name in FEATURE_NAMES}

    # ----- helpers for people ------------------------------------------------------------------
    def tokenize_to_strings(self, text: str, text_pair: str | None = None) -> list[str]:
        """The packed WordPiece tokens of one example, padding dropped: handy when debugging."""
        inputs = [text] if text_pair is None else ([text], [text_pair])
        features = self(inputs)
        ids = features["token_ids"][0].numpy()[: int(features["padding_mask"][0].numpy().sum())]
        return [self.vocabulary[i] for i in ids]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            vocabulary=list(self.vocabulary),
            max_length=self.max_length,
            lowercase=self.lowercase,
            strip_accents=self.strip_accents,
            pad_to=self.pad_to,
            truncation=self.truncation,
            head_fraction=self.head_fraction,
        )
        return config


def check_tokenizer_fits(config: BertConfig, tokenizer: BertTokenizer) -> None:
    """Raises a clear error when `tokenizer` would feed ids or lengths the model cannot embed."""
    if not isinstance(tokenizer, BertTokenizer):
        raise TypeError(
            f"tokenizer must be a tfbert BertTokenizer, got {type(tokenizer).__name__}."
        )
    if tokenizer.max_length > config.max_position_embeddings:
        raise ValueError(
            f"max_length {tokenizer.max_length} exceeds the model's "
            f"{config.max_position_embeddings} position embeddings; lower max_length "
            "(for long texts, truncation='head_tail' keeps the start and the end)."
        )
    if tokenizer.vocabulary_size > config.vocab_size:
        raise ValueError(
            f"The vocabulary has {tokenizer.vocabulary_size} tokens but the model embeds only "
            f"{config.vocab_size}; use a config with vocab_size >= {tokenizer.vocabulary_size}."
        )
