"""In-graph BERT tokenization: raw strings (or string pairs) to the three integer features.

`BertTokenizer` is the preprocessor: `tfbert.text.cleaning` normalises, `tfbert.text.wordpiece`
splits into pieces, `tfbert.text.packers` truncates and packs. It is a Keras layer, so the same
object works inside a model with a string input, inside `tf.data.Dataset.map`, and inside an
exported SavedModel: nothing outside the graph is needed at serving time.

    tokenizer = BertTokenizer("vocab.txt", max_length=128)
    features = tokenizer(["A great film.", "Dull."])   # token_ids, segment_ids, padding_mask
    pairs = tokenizer((["Is it good?"], ["Yes, very."]))

Why tensorflow-text's `FastBertTokenizer` and not keras-hub's `BertTokenizer`: it compiles the
vocabulary into the graph (no asset files), strips accents the way uncased BERT was trained
("Café" -> "cafe"; keras-hub gives [UNK]), and splits CJK characters one by one like the original
BERT. By default the ids are those of BERT's reference tokenizer (Google's and Hugging Face's);
`normalize_full_width=True` folds compatibility forms ("，" -> ","), as tfbert models saved
before that option existed did. Truncation and packing are written with core TF ragged ops on
purpose: tensorflow-text's `RoundRobinTrimmer` (and keras-hub's packer built on it) need the
`RoundRobinTrim` op from tensorflow-text >= 2.13, which older TF Serving releases do not have
compiled in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from tfbert.config import BertConfig
from tfbert.contract import FEATURE_NAMES, TEXT_INPUT, TEXT_PAIR_INPUT
from tfbert.text.packers import PAD_TO_CHOICES, TRUNCATION_CHOICES, PairPacker, SinglePacker
from tfbert.text.vocab import CLS, PAD, SEP, load_vocabulary, validate_vocabulary
from tfbert.text.wordpiece import WordPiece, WordPieces, unknown_token_rate

__all__ = [
    "FEATURE_NAMES",
    "PAD_TO_CHOICES",
    "SAVED_SETTINGS",
    "TRUNCATION_CHOICES",
    "BertTokenizer",
    "check_tokenizer_fits",
    "saved_settings",
]

# The constructor options a model directory keeps beside its vocabulary (see `saved_settings`).
SAVED_SETTINGS = (
    "max_length",
    "lowercase",
    "strip_accents",
    "normalize_full_width",
    "pad_to",
    "truncation",
    "head_fraction",
)


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
        normalize_full_width: fold compatibility forms with Unicode NFKC (full-width "，" to
            ",", "´" to a space) before WordPiece. Off by default, which matches BERT's
            reference tokenizer and the pretrained vocabularies (they hold "，" as a token).
            Configs saved without this key (older tfbert models) load with tfbert's old
            behaviour: folding when lowercasing.

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
        normalize_full_width: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if isinstance(vocabulary, (str, Path)):
            vocabulary = load_vocabulary(vocabulary)
        vocabulary = list(vocabulary)
        validate_vocabulary(vocabulary)
        self.vocabulary = vocabulary
        self._token_to_id = {token: index for index, token in enumerate(vocabulary)}
        self.pad_id = self._token_to_id[PAD]
        self.cls_id = self._token_to_id[CLS]
        self.sep_id = self._token_to_id[SEP]
        packing = dict(
            cls_id=self.cls_id,
            sep_id=self.sep_id,
            pad_id=self.pad_id,
            max_length=max_length,
            pad_to=pad_to,
            truncation=truncation,
            head_fraction=head_fraction,
        )
        self._packers = {1: SinglePacker(**packing), 2: PairPacker(**packing)}
        self.max_length = max_length
        self.pad_to = pad_to
        self.truncation = truncation
        self.head_fraction = float(head_fraction)
        self._wordpiece = WordPiece(
            vocabulary,
            lowercase=lowercase,
            strip_accents=strip_accents,
            normalize_full_width=normalize_full_width,
        )
        self.lowercase = self._wordpiece.lowercase
        self.strip_accents = self._wordpiece.strip_accents
        self.normalize_full_width = self._wordpiece.normalize_full_width

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BertTokenizer:
        """Rebuilds a tokenizer from `get_config()`, old configs included (see the class)."""
        return cls(**legacy_defaults(config))

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
                TEXT_INPUT: self._to_tensor(inputs[0], TEXT_INPUT),
                TEXT_PAIR_INPUT: self._to_tensor(inputs[1], TEXT_PAIR_INPUT),
            }
        else:
            inputs = self._to_tensor(inputs, TEXT_INPUT)
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

    @property
    def wordpiece(self) -> WordPiece:
        """The WordPiece step alone (normalisation and pieces, no specials or packing)."""
        return self._wordpiece

    def wordpiece_ids(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """WordPiece ids of a 1-D string batch, [batch, (pieces)], without specials, truncation
        or padding: for pipelines that pack sequences themselves (e.g. pretraining)."""
        return self._wordpiece.tokenize(texts)

    def wordpieces_with_offsets(self, texts: Any, unit: str = "character") -> WordPieces:
        """Pieces of a 1-D string batch with their spans in the original texts and word ids
        (see `tfbert.text.wordpiece.WordPiece.tokenize_with_offsets`); the ids are those the
        layer packs."""
        return self._wordpiece.tokenize_with_offsets(self._as_string_batch(texts, TEXT_INPUT), unit)

    def call(self, inputs: Any) -> dict[str, tf.Tensor]:
        segments = [self._as_string_batch(text, name) for name, text in self._split_inputs(inputs)]
        pieces = [self.wordpiece_ids(text) for text in segments]
        return self._packers[len(pieces)].pack(pieces)

    def _split_inputs(self, inputs: Any) -> list[tuple[str, Any]]:
        if isinstance(inputs, dict):
            unknown = set(inputs) - {TEXT_INPUT, TEXT_PAIR_INPUT}
            if TEXT_INPUT not in inputs or unknown:
                raise ValueError(
                    f"BertTokenizer takes a dict with keys '{TEXT_INPUT}' and optionally "
                    f"'{TEXT_PAIR_INPUT}'; got keys {sorted(inputs)}."
                )
            pairs = [(TEXT_INPUT, inputs[TEXT_INPUT])]
            if inputs.get(TEXT_PAIR_INPUT) is not None:
                pairs.append((TEXT_PAIR_INPUT, inputs[TEXT_PAIR_INPUT]))
            return pairs
        if isinstance(inputs, (tuple, list)):
            if len(inputs) != 2:
                raise ValueError(
                    f"BertTokenizer takes one text or a pair of texts, got {len(inputs)}."
                )
            return [(TEXT_INPUT, inputs[0]), (TEXT_PAIR_INPUT, inputs[1])]
        return [(TEXT_INPUT, inputs)]

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

    def compute_output_spec(self, inputs: Any) -> dict[str, keras.KerasTensor]:
        first = (
            inputs[TEXT_INPUT]
            if isinstance(inputs, dict)
            else (inputs[0] if isinstance(inputs, (tuple, list)) else inputs)
        )
        batch = first.shape[0] if first.shape else None
        length = self.max_length if self.pad_to == "max_length" else None
        return {name: keras.KerasTensor((batch, length), dtype="int32") for name in FEATURE_NAMES}

    # ----- helpers for people ------------------------------------------------------------------
    def unknown_rate(self, texts: Sequence[str]) -> float:
        """The share of WordPieces of `texts` that this tokenizer maps to [UNK]."""
        return unknown_token_rate(
            self.vocabulary,
            texts,
            lowercase=self.lowercase,
            strip_accents=self.strip_accents,
            normalize_full_width=self.normalize_full_width,
        )

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
            normalize_full_width=self.normalize_full_width,
        )
        return config


def legacy_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    """Tokenizer settings with the defaults of the tfbert version that wrote them.

    Settings saved before `normalize_full_width` existed come from a tokenizer that folded
    compatibility forms whenever it lowercased; they keep that behaviour.
    """
    settings = dict(settings)
    if "normalize_full_width" not in settings:
        settings["normalize_full_width"] = bool(settings.get("lowercase", True))
    return settings


def saved_settings(tokenizer: BertTokenizer) -> dict[str, Any]:
    """The options a model directory stores to rebuild `tokenizer` with its vocabulary.

    Rebuild with `BertTokenizer(vocabulary, **legacy_defaults(settings))`, so that settings
    written by older versions keep their behaviour.
    """
    config = tokenizer.get_config()
    return {key: config[key] for key in SAVED_SETTINGS}


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
