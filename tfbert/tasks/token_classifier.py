"""Token classification (named-entity recognition): a tag per word, entities from the tags.

`TokenClassifier(backbone, preprocessor, tags, scheme="bio", crf=False)` puts a per-token head
(`tfbert.modeling.heads.TokenClassificationHead`) on any backbone's sequence output: the BERT
encoder, or the BiLSTM baseline (`TokenClassifier(BiLSTM.from_vocabulary(tokenizer), ...,
crf=True)` is the classic BiLSTM-CRF). The model maps numeric features to per-token tag
scores (what `fit` trains); `crf=True` adds a linear-chain CRF (`tfbert.modeling.crf`) that
scores whole tag sequences and decodes them with Viterbi.

Words and pieces. A word (an English token, a Chinese character) may become several
WordPieces; its tag sits on its first piece and the others are skipped by the loss and by
decoding (`IGNORE_LABEL`). A sentence longer than the model's length is cut into windows
of pieces that overlap by `stride` pieces; each word takes its tag scores from the window in
which it sits most centrally, and decoding (Viterbi with a CRF) runs over the whole sentence.

Prediction reads raw strings, whose words are what BERT splits before WordPiece (each Chinese
character, each run of letters or digits, each punctuation mark), and returns entities with
character offsets into the original string. Training data are words and tags (a
`tfbert.data.ner.TaggedSentences`, or lists): `dataset` first cuts them into those same words
(`served_sentences`), so that CoNLL's one word "U.S." trains the four words the served model
tags; `encode` takes words as given.

    model = TokenClassifier.from_pretrained("minilm-l6", tags=["O", "B-PER", "I-PER"], crf=True)
    model.compile()
    model.fit(model.dataset(words, tags, batch_size=16), epochs=3)  # or dataset(sentences)
    model.predict_texts(["Angela Merkel visited Paris."])[0]["entities"]
    # [{"type": "PER", "start": 0, "end": 13, "text": "Angela Merkel", "score": 0.98}, ...]
    model.export("exports/ner")       # strings in, entities out (tfbert.export.token_classifier)

Tag schemes: "bio" (B-X begins an entity, I-X continues it) and "bioes" (also E-X ends one and
S-X is a one-word entity). Entities are read from tags as conlleval does: an I-X (or E-X)
after O or after another type begins a new entity.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfbert.config import BertConfig
from tfbert.contract import FEATURE_NAMES, TOKEN_CLASSIFIER_FORMAT, tagged_texts
from tfbert.data.ner import OUTSIDE, TAG_SCHEMES, TaggedSentences, separator_for, split_tag
from tfbert.errors import DataError
from tfbert.export.token_classifier import TokenClassifierServingModule, write_token_classifier
from tfbert.modeling.backbone import Backbone
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import PretrainedBert, load_encoder_weights, load_pretrained
from tfbert.modeling.crf import CRFLoss
from tfbert.modeling.heads import TokenClassificationHead
from tfbert.tasks.inference import check_texts, numeric_function
from tfbert.tasks.task import (
    Task,
    default_optimizer,
    feature_inputs,
)
from tfbert.text.packers import IGNORE_LABEL, SinglePacker, TokenLabelPacker, first_pieces
from tfbert.text.tokenizer import BertTokenizer

FORMAT_NAME = TOKEN_CLASSIFIER_FORMAT  # what a token classifier directory's config.json says
SCHEMES = TAG_SCHEMES  # the tag schemes a model takes (one definition: tfbert.data.ner)
# Tag prefixes as numbers, for the in-graph entity reading.
_PREFIXES = {OUTSIDE: 0, "B": 1, "I": 2, "E": 3, "S": 4}
_O, _B, _I, _E, _S = range(5)


def tag_parts(tags: Sequence[str], scheme: str) -> tuple[list[int], list[int], list[str]]:
    """Each tag's prefix number and entity-type number, and the entity types in order.

    Tags are parsed by `tfbert.data.ner.split_tag`; raises DataError for a tag the scheme does
    not allow ("E-PER" in BIO, "PER" without prefix).
    """
    if scheme not in TAG_SCHEMES:
        raise ValueError(f"scheme must be one of {TAG_SCHEMES}, got {scheme!r}.")
    allowed = "BI" if scheme == "bio" else "BIES"
    prefixes, type_ids, types = [], [], []
    for tag in tags:
        try:
            prefix, kind = split_tag(tag)
        except DataError:
            prefix, kind = "", ""
        if prefix == OUTSIDE:
            prefixes.append(_PREFIXES[OUTSIDE])
            type_ids.append(-1)
            continue
        if prefix not in allowed or tag[:1] != prefix:
            raise DataError(
                f"Tag {tag!r} does not fit the {scheme.upper()} scheme: write 'O' or one of "
                f"{', '.join(p + '-TYPE' for p in allowed)} (or pass scheme='bioes')."
            )
        if kind not in types:
            types.append(kind)
        prefixes.append(_PREFIXES[prefix])
        type_ids.append(types.index(kind))
    return prefixes, type_ids, types


def window_bounds(
    piece_counts: tf.Tensor, budget: int, stride: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The windows that cover texts of `piece_counts` pieces, at most `budget` pieces each,
    consecutive ones overlapping by `stride` pieces (the last one ends with the text).

    Returns `(rows, starts, ends)`, one entry per window: its text and its piece range. A text
    that fits is one window; an empty text is one empty window.
    """
    counts = tf.cast(piece_counts, tf.int64)
    step = budget - stride
    extra = tf.maximum(counts - budget, 0)
    windows = 1 + (extra + step - 1) // step
    rows = tf.repeat(tf.range(tf.size(counts, out_type=tf.int64)), windows)
    index = tf.ragged.range(windows).flat_values
    starts = tf.minimum(index * step, tf.gather(extra, rows))
    ends = tf.minimum(starts + budget, tf.gather(counts, rows))
    return rows, starts, ends


def _window_positions(pieces: tf.RaggedTensor, rows, starts, ends) -> tf.RaggedTensor:
    """[windows, (pieces)]: each window's pieces as indices into `pieces.flat_values`."""
    return tf.ragged.range(starts, ends) + tf.gather(pieces.row_splits, rows)[:, None]


def _gather(values: tf.Tensor, positions: tf.RaggedTensor) -> tf.RaggedTensor:
    return positions.with_flat_values(tf.gather(values, positions.flat_values))


@keras.saving.register_keras_serializable(package="tfbert")
class TokenClassifier(Task):
    """A tag for every word of a text, on any backbone's sequence output.

    Args:
        backbone: features -> sequence output (`tfbert.modeling.backbone`): a BertEncoder, a
            BiLSTM, or your own.
        preprocessor: the BertTokenizer that turns text into features; its `max_length` is
            the window length.
        tags: tag names, their order the tag ids ("O", "B-PER", "I-PER", ...).
        scheme: "bio" or "bioes", how the tags spell entities.
        crf: put a linear-chain CRF on the tag scores (trained jointly, Viterbi decoding).
        stride: pieces shared by consecutive windows of a long sentence; defaults to a
            quarter of the window.
        classifier_dropout: dropout before the head; defaults to the backbone's hidden
            dropout for BERT, else 0.1.
    """

    format_name = FORMAT_NAME
    kind, names_key = "tfbert token classifier", "tags"

    def __init__(
        self,
        backbone: Backbone | dict[str, Any],
        preprocessor: BertTokenizer | dict[str, Any],
        tags: Sequence[str],
        scheme: str = "bio",
        crf: bool = False,
        stride: int | None = None,
        classifier_dropout: float | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        if isinstance(preprocessor, dict):
            preprocessor = keras.saving.deserialize_keras_object(preprocessor)
        tags = [str(tag) for tag in tags]
        if len(set(tags)) != len(tags) or len(tags) < 2:
            raise ValueError(f"tags must be at least two distinct names, got {tags}.")
        prefixes, type_ids, types = tag_parts(tags, scheme)
        self.check_parts(backbone, preprocessor)
        budget = preprocessor.max_length - 2
        stride = budget // 4 if stride is None else int(stride)
        if not 0 <= stride < budget:
            raise ValueError(
                f"stride must be at least 0 and below the {budget} pieces a window holds "
                f"(max_length - 2), got {stride}."
            )
        classifier_dropout = self.head_dropout(backbone, classifier_dropout)

        inputs = feature_inputs()
        head = TokenClassificationHead(
            len(tags),
            dropout=classifier_dropout,
            initializer_range=getattr(getattr(backbone, "config", None), "initializer_range", 0.02),
            crf=crf,
            name="tagger",
        )
        emissions = head(backbone(inputs)["sequence_output"])
        if backbone.pooler is not None:
            # The pooler gets no gradient; freezing it keeps it out of the optimizer.
            backbone.pooler.trainable = False
        super().__init__(
            inputs=inputs, outputs=emissions, backbone=backbone, preprocessor=preprocessor, **kwargs
        )
        self.head = head
        self.tags = tags
        self.scheme = scheme
        self.crf = bool(crf)
        self.stride = stride
        self.classifier_dropout = classifier_dropout
        self.entity_types = types
        self._tag_prefixes, self._tag_types = prefixes, type_ids
        self._tag_ids = {tag: index for index, tag in enumerate(tags)}

    @property
    def num_tags(self) -> int:
        return len(self.tags)

    # ----- building from pretrained weights ------------------------------------------------------
    @classmethod
    def from_preset(
        cls,
        preset: str,
        *,
        vocabulary: Sequence[str] | str | Path,
        tags: Sequence[str],
        max_length: int = 128,
        tokenizer_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> TokenClassifier:
        """A randomly initialised BERT token classifier of a named size (`tfbert.config`);
        `options` go to the constructor (scheme, crf, stride, classifier_dropout) or, for
        any other name, override the BertConfig."""
        tokenizer = BertTokenizer(vocabulary, max_length=max_length, **(tokenizer_options or {}))
        task_options = {k: options.pop(k) for k in _TASK_OPTIONS if k in options}
        options.setdefault("vocab_size", tokenizer.vocabulary_size)
        encoder = BertEncoder(BertConfig.from_preset(preset, **options), name="encoder")
        return cls(encoder, tokenizer, tags, **task_options)

    @classmethod
    def from_pretrained(
        cls,
        path_or_name: str | Path | PretrainedBert,
        tags: Sequence[str] | None = None,
        *,
        max_length: int | None = None,
        dropout: float | None = None,
        scheme: str = "bio",
        crf: bool = False,
        stride: int | None = None,
        **tokenizer_options: Any,
    ) -> TokenClassifier:
        """Loads a saved token classifier (no `tags`), or starts a new one from pretrained BERT
        weights: any checkpoint `tfbert.modeling.checkpoints` reads (Hugging Face, Google,
        keras-hub, tfbert, or the name "minilm-l6"), with a new head for `tags`.

        The tokenizer follows the checkpoint (override with BertTokenizer options);
        `dropout` replaces the checkpoint's hidden and attention dropout.
        """
        if max_length is not None:
            tokenizer_options["max_length"] = max_length
        if tags is None:
            return cls.load(path_or_name, **tokenizer_options)
        tokenizer_options.setdefault("max_length", 128)
        pretrained = (
            path_or_name
            if isinstance(path_or_name, PretrainedBert)
            else load_pretrained(path_or_name)
        )
        config = pretrained.config if dropout is None else pretrained.config.with_dropout(dropout)
        tokenizer = BertTokenizer(
            pretrained.vocabulary, **{**pretrained.tokenizer_options(), **tokenizer_options}
        )
        encoder = BertEncoder(config, name="encoder")
        model = cls(encoder, tokenizer, tags, scheme=scheme, crf=crf, stride=stride)
        load_encoder_weights(encoder, pretrained, allow_missing=True)
        return model

    # ----- training ----------------------------------------------------------------------------
    def compile(
        self, optimizer: Any = "auto", loss: Any = "auto", metrics: Any = None, **kwargs: Any
    ) -> None:
        """Keras `compile`; "auto" takes AdamW at 5e-5 and the loss of the head: the CRF's
        negative log-likelihood, or cross-entropy over the labelled pieces."""
        if optimizer == "auto":
            optimizer = default_optimizer(5e-5)
        if loss == "auto":
            loss = (
                CRFLoss(self.head.crf)
                if self.crf
                else keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True, ignore_class=IGNORE_LABEL
                )
            )
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def encode_labels(self, tags: Sequence[Sequence[str]]) -> list[list[int]]:
        """Tag names per word to tag ids; an unknown tag is a DataError naming it."""
        encoded = []
        for index, sentence in enumerate(tags):
            try:
                encoded.append([self._tag_ids[tag] for tag in sentence])
            except KeyError as error:
                raise DataError(
                    f"Sentence {index} has the tag {error.args[0]!r}, which is not among the "
                    f"model's tags {self.tags}; build the model with every tag of the data."
                ) from None
        return encoded

    def encode(
        self, words: Sequence[Sequence[str]], tag_ids: Sequence[Sequence[int]] | None = None
    ) -> dict[str, np.ndarray]:
        """Training features from words (and their tag ids), one row per window.

        Returns `token_ids`, `segment_ids`, `padding_mask` ([windows, max_length] int32),
        `labels` (each word's tag id on its first piece, `IGNORE_LABEL` elsewhere; with
        `tag_ids`) and `sentence` (the sentence each window comes from).
        """
        words = [list(sentence) for sentence in words]
        wrong = next((w for s in words for w in s if not isinstance(w, str)), None)
        if wrong is not None:
            raise TypeError(f"words must be lists of strings, got {type(wrong).__name__}.")
        if tag_ids is not None:
            tag_ids = [list(sentence) for sentence in tag_ids]
            if len(tag_ids) != len(words):
                raise DataError(f"Got {len(words)} sentences but {len(tag_ids)} tag lists.")
            for index, (sentence, ids) in enumerate(zip(words, tag_ids, strict=True)):
                if len(sentence) != len(ids):
                    raise DataError(
                        f"Sentence {index} has {len(sentence)} words but {len(ids)} tags; "
                        "give one tag per word."
                    )
                if any(not 0 <= i < self.num_tags for i in ids):
                    raise DataError(
                        f"Sentence {index} has a tag id outside 0..{self.num_tags - 1}."
                    )
        chunks = []
        for start in range(0, max(len(words), 1), 1024):
            chunk = words[start : start + 1024]
            batch_words = _ragged([w for s in chunk for w in s], chunk, tf.string)
            batch_tags = None
            if tag_ids is not None:
                chunk_tags = tag_ids[start : start + 1024]
                batch_tags = _ragged([t for s in chunk_tags for t in s], chunk, tf.int32)
            features = self._encode_windows(batch_words, batch_tags)
            features["sentence"] = features["sentence"] + start
            chunks.append({k: v.numpy() for k, v in features.items()})
        return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}

    def _encode_windows(
        self, words: tf.RaggedTensor, tag_ids: tf.RaggedTensor | None
    ) -> dict[str, tf.Tensor]:
        """Windows of pieces with their words' labels, packed by `TokenLabelPacker`."""
        ids, word_ids = self.preprocessor.wordpiece.tokenize_words(words)
        rows, starts, ends = window_bounds(ids.row_lengths(), self._budget, self.stride)
        positions = _window_positions(ids, rows, starts, ends)
        window_words = _gather(word_ids.flat_values, positions)
        present = positions.row_lengths() > 0
        first_word = tf.where(present, tf.reduce_min(window_words, axis=1), 0)
        labels = None
        if tag_ids is not None:
            last_word = tf.where(present, tf.reduce_max(window_words, axis=1), -1)
            word_positions = (
                tf.ragged.range(tf.cast(first_word, tf.int64), tf.cast(last_word, tf.int64) + 1)
                + tf.gather(tag_ids.row_splits, rows)[:, None]
            )
            labels = _gather(tag_ids.flat_values, word_positions)
            # A window that starts inside a word holds only its later pieces: no label there.
            first = tf.concat([first_pieces(word_ids).flat_values, [True]], axis=0)
            opening = tf.minimum(
                tf.gather(ids.row_splits, rows) + starts, tf.size(ids.flat_values, tf.int64)
            )
            partial = present & ~tf.gather(first, opening)
            leading = tf.ragged.range(labels.row_lengths()).flat_values == 0
            labels = labels.with_flat_values(
                tf.where(
                    leading & tf.gather(partial, labels.value_rowids()),
                    IGNORE_LABEL,
                    labels.flat_values,
                )
            )
        packer = TokenLabelPacker(
            self.preprocessor.cls_id,
            self.preprocessor.sep_id,
            self.preprocessor.pad_id,
            self.preprocessor.max_length,
        )
        features = packer(
            _gather(ids.flat_values, positions), window_words - first_word[:, None], labels
        )
        features.pop("word_ids")
        features["sentence"] = tf.cast(rows, tf.int32)
        return features

    @property
    def _budget(self) -> int:
        """Pieces a window holds: the length without [CLS] and [SEP]."""
        return self.preprocessor.max_length - 2

    def served_sentences(
        self,
        words: TaggedSentences | Sequence[Sequence[str]],
        tags: Sequence[Sequence[str]] | None = None,
    ) -> TaggedSentences:
        """Training sentences in the unit the model tags when served, in the model's scheme.

        `words` is a `TaggedSentences` (tags in any scheme), or sentences of words with their
        `tags` (tag names of this model). The sentences' texts (words joined by a space, or
        by nothing for Chinese characters) are cut into the words `predict_texts` tags, and
        the entities tagged over them (`TaggedSentences.to_served_words`): CoNLL's "U.S." is
        trained as the four words the served model sees, so that each gets a learned tag.
        """
        if isinstance(words, TaggedSentences):
            data = words if words.scheme == self.scheme else words.with_scheme(self.scheme)
        else:
            if tags is None:
                raise DataError("Give the tags of the words (one tag list per sentence).")
            words = [list(sentence) for sentence in words]
            wrong = next((w for s in words for w in s if not isinstance(w, str)), None)
            if wrong is not None:
                raise TypeError(f"words must be lists of strings, got {type(wrong).__name__}.")
            self.encode_labels(tags)  # tags the model lacks are refused, naming them
            tags = [list(sentence) for sentence in tags]
            data = TaggedSentences(words, tags, self.scheme, separator_for(words))
        return data.to_served_words()

    def dataset(
        self,
        words: TaggedSentences | Sequence[Sequence[str]],
        tags: Sequence[Sequence[str]] | None = None,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
    ) -> tf.data.Dataset:
        """A `tf.data.Dataset` of (features, labels) batches for `fit` (every window of every
        sentence once per epoch), from a `TaggedSentences` or from words and tag names.

        The sentences are first cut into the words the served model tags
        (`served_sentences`); `encode` takes words as given.
        """
        served = self.served_sentences(words, tags)
        encoded = self.encode(served.words, self.encode_labels(served.tags))
        features = {name: encoded[name] for name in FEATURE_NAMES}
        data = tf.data.Dataset.from_tensor_slices((features, encoded["labels"]))
        if shuffle:
            data = data.shuffle(len(encoded["labels"]), seed=seed, reshuffle_each_iteration=True)
        return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    # ----- prediction --------------------------------------------------------------------------
    def tag_function(self, constant_weights: bool | None = None) -> Any:
        """The in-graph tagger, cached: a 1-D batch of strings -> the padded tensors of
        entities and per-word tags that the export returns (`tfbert.contract.TAGGER_OUTPUTS`).

        `constant_weights=True` freezes the weights into the graph; by default the graph
        reads the variables (stored once, in the precision of `for_inference` copies).
        """
        constant_weights = bool(constant_weights)

        def build() -> Any:
            numeric = numeric_function(self, None, constant_weights)
            return tf.function(
                lambda texts: self._tag_graph(texts, numeric),
                input_signature=[tf.TensorSpec([None], tf.string)],
                autograph=False,
            )

        return self.cached_function(("tags", constant_weights), build)

    def _tag_graph(self, texts: tf.Tensor, numeric: Any) -> dict[str, tf.Tensor]:
        pieces = self.preprocessor.wordpieces_with_offsets(texts)
        ids = pieces.ids
        rows, starts, ends = window_bounds(ids.row_lengths(), self._budget, self.stride)
        positions = _window_positions(ids, rows, starts, ends)
        packer = SinglePacker(
            self.preprocessor.cls_id,
            self.preprocessor.sep_id,
            self.preprocessor.pad_id,
            self.preprocessor.max_length,
            pad_to="longest",
        )
        emissions = numeric(packer(_gather(ids.flat_values, positions)))
        piece_scores = merge_windows(emissions, positions, tf.size(ids.flat_values, tf.int64))
        first = first_pieces(pieces.word_ids)
        word_scores = tf.ragged.boolean_mask(ids.with_flat_values(piece_scores), first)
        word_starts = tf.ragged.boolean_mask(pieces.starts, first)
        word_index = tf.cumsum(tf.cast(first.flat_values, tf.int32)) - 1
        word_ends = word_starts.with_flat_values(
            tf.math.unsorted_segment_max(
                pieces.ends.flat_values, word_index, tf.size(word_starts.flat_values)
            )
        )
        scores = word_scores.to_tensor()
        mask = tf.sequence_mask(word_scores.row_lengths(), tf.shape(scores)[1])
        if self.crf:
            tags, _ = self.head.crf.decode(scores, mask)
            probabilities = self.head.crf.marginals(scores, mask)
        else:
            probabilities = tf.nn.softmax(scores, axis=-1)
            tags = tf.where(mask, tf.argmax(scores, axis=-1, output_type=tf.int32), -1)
        chosen = tf.gather(probabilities, tf.maximum(tags, 0), batch_dims=2)
        return self._tagger_outputs(
            texts, tags, tf.where(mask, chosen, 0.0), word_starts.to_tensor(), word_ends.to_tensor()
        )

    def _tagger_outputs(
        self, texts, tags, tag_scores, word_starts, word_ends
    ) -> dict[str, tf.Tensor]:
        """Entities read from the tags (conlleval's rules) and the per-word tags, padded."""
        valid = tags >= 0
        safe = tf.maximum(tags, 0)
        prefix = tf.where(valid, tf.gather(tf.constant(self._tag_prefixes), safe), _O)
        kind = tf.where(valid, tf.gather(tf.constant(self._tag_types), safe), -1)

        def before(x, fill):
            return tf.concat([tf.fill([tf.shape(x)[0], 1], fill), x[:, :-1]], axis=1)

        def after(x, fill):
            return tf.concat([x[:, 1:], tf.fill([tf.shape(x)[0], 1], fill)], axis=1)

        def one_of(x, *values):
            return tf.reduce_any(tf.stack([x == v for v in values]), axis=0)

        inside = prefix != _O
        begins = inside & (
            one_of(prefix, _B, _S)
            | one_of(before(prefix, _O), _O, _E, _S)
            | (before(kind, -1) != kind)
        )
        finishes = inside & (
            one_of(prefix, _E, _S)
            | one_of(after(prefix, _O), _O, _B, _S)
            | (after(kind, -1) != kind)
        )
        begin_at, end_at = tf.where(begins), tf.where(finishes)  # row-major: they pair up
        entity_row = begin_at[:, 0]
        start = tf.gather_nd(word_starts, begin_at)
        end = tf.gather_nd(word_ends, end_at)
        cumulative = tf.cumsum(tag_scores, axis=1)
        total = (
            tf.gather_nd(cumulative, end_at)
            - tf.gather_nd(cumulative, begin_at)
            + tf.gather_nd(tag_scores, begin_at)
        )
        width = tf.cast(end_at[:, 1] - begin_at[:, 1] + 1, tf.float32)
        names = tf.constant(self.entity_types + [""], tf.string)  # "" keeps it non-empty
        batch = tf.shape(tags, out_type=tf.int64)[0]

        def padded(values, fill):
            ragged = tf.RaggedTensor.from_value_rowids(values, entity_row, nrows=batch)
            return ragged.to_tensor(default_value=fill)

        tag_names = tf.constant(self.tags)
        return {
            "entity_count": tf.cast(
                tf.RaggedTensor.from_value_rowids(
                    entity_row, entity_row, nrows=batch
                ).row_lengths(),
                tf.int32,
            ),
            "entity_type": padded(tf.gather(names, tf.gather_nd(kind, begin_at)), ""),
            "entity_start": padded(start, tf.constant(0, tf.int64)),
            "entity_end": padded(end, tf.constant(0, tf.int64)),
            "entity_text": padded(
                tf.strings.substr(tf.gather(texts, entity_row), start, end - start, "UTF8_CHAR"),
                "",
            ),
            "entity_score": padded(total / width, 0.0),
            "token_count": tf.reduce_sum(tf.cast(valid, tf.int32), axis=1),
            "token_tag": tf.where(valid, tf.gather(tag_names, safe), ""),
            "token_start": word_starts,
            "token_end": word_ends,
            "token_score": tag_scores,
        }

    def predict_texts(
        self, texts: Sequence[str], batch_size: int = 32, verbose: int | str = 0
    ) -> list[dict[str, Any]]:
        """Entities and per-word tags of raw strings, one dict per text, in their order:
        `entities` (each {"type", "start", "end", "text", "score"}: character offsets into the
        original string, `text == string[start:end]`, the mean probability of its words'
        tags), `words` (the original spelling of each word) and `tags`."""
        texts, _ = check_texts(texts)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        function = self.tag_function()
        order = np.argsort([len(t) for t in texts], kind="stable")
        progress = keras.utils.Progbar(len(texts)) if verbose in (1, "auto") else None
        results: list[dict[str, Any]] = [{}] * len(texts)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            batch = [texts[i] for i in rows]
            outputs = function(tf.constant(batch, tf.string))
            for row, result in zip(rows, tagged_texts(batch, outputs), strict=True):
                results[row] = result
            if progress is not None:
                progress.add(len(rows))
        return results

    # ----- export ------------------------------------------------------------------------------
    def export(
        self,
        export_base: str | Path,
        version: int | None = None,
        *,
        overwrite: bool = False,
        warmup_texts: Sequence[str] | None = None,
        constant_weights: bool | None = None,
    ) -> Path:
        """Writes a SavedModel that takes raw strings and returns entities and per-word tags
        to `<export_base>/<version>/` (signatures: tfbert.export.token_classifier).

        `constant_weights=True` stores the network's weights in the graph instead of
        variables (the CRF's stay variables), which costs memory per signature; by default
        every signature reads the variables, stored once.
        """
        constant_weights = bool(constant_weights)
        # Decoding reads the CRF's few weights as variables even when the network's are
        # constants.
        tracked = self.head.crf.weights if constant_weights and self.crf else []
        module = TokenClassifierServingModule(
            self.tag_function(constant_weights),
            weights=[v.value for v in (tracked if constant_weights else self.weights)],
        )
        return write_token_classifier(
            module,
            self.tags,
            export_base,
            version,
            overwrite=overwrite,
            warmup_texts=warmup_texts,
            settings={"scheme": self.scheme, "crf": self.crf, "entity_types": self.entity_types},
        )

    # ----- saving ------------------------------------------------------------------------------
    def task_config(self) -> dict[str, Any]:
        return {
            "tags": self.tags,
            "scheme": self.scheme,
            "crf": self.crf,
            "stride": self.stride,
            "classifier_dropout": self.classifier_dropout,
        }

    @classmethod
    def from_parts(
        cls, backbone: Backbone, preprocessor: BertTokenizer, settings: dict[str, Any]
    ) -> TokenClassifier:
        return cls(
            backbone,
            preprocessor,
            settings["tags"],
            **{k: settings[k] for k in _TASK_OPTIONS if k in settings},
        )


_TASK_OPTIONS = ("scheme", "crf", "stride", "classifier_dropout")


def merge_windows(
    emissions: tf.Tensor, positions: tf.RaggedTensor, num_pieces: tf.Tensor
) -> tf.Tensor:
    """Per-piece rows from per-window outputs: each piece takes the row of the window in which
    it sits most centrally (the earlier window on a tie).

    `emissions` [windows, length, width] are outputs at packed positions ([CLS] first);
    `positions` [windows, (pieces)] index each window's pieces among `num_pieces`.
    """
    windows = tf.cast(positions.nrows(), tf.int64)
    window = positions.value_rowids()
    within = tf.ragged.range(positions.row_lengths()).flat_values
    values = tf.gather_nd(emissions, tf.stack([window, within + 1], axis=-1))
    length = tf.gather(positions.row_lengths(), window)
    key = tf.abs(2 * within - (length - 1)) * windows + window
    best = tf.math.unsorted_segment_min(key, positions.flat_values, num_pieces)
    chosen = key == tf.gather(best, positions.flat_values)
    return tf.scatter_nd(
        tf.boolean_mask(positions.flat_values, chosen)[:, None],
        tf.boolean_mask(values, chosen),
        tf.stack([tf.cast(num_pieces, tf.int64), tf.shape(emissions, out_type=tf.int64)[-1]]),
    )


def _ragged(flat: list[Any], sentences: list[list[Any]], dtype: tf.DType) -> tf.RaggedTensor:
    return tf.RaggedTensor.from_row_lengths(
        tf.constant(flat, dtype, shape=[len(flat)]), [len(s) for s in sentences]
    )
