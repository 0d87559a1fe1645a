"""BERT pretraining data in `tf.data`: documents -> sentence pairs -> dynamically masked batches.

    text files (or texts)      one document per blank-line-separated block, one sentence a line
      -> documents             1-D string tensors of sentences (streamed; never all in memory)
      -> WordPiece ids         the model's own BertTokenizer (tensorflow-text FastBertTokenizer)
      -> NSP instances         [CLS] a [SEP] b [SEP], segment ids 0/1, padded to max_length
      -> batches, masked       new masks at every pass (RoBERTa's "dynamic masking")

Next sentence prediction (Devlin et al. 2019, and `create_pretraining_data.py` of the original
release): documents are read in windows of `window_size` documents. Each document is cut into
chunks of consecutive sentences that fill a target length (`max_length - 3` tokens, or with
probability `short_seq_prob` a random shorter one, as in the original). Each chunk becomes one
pair: segment a is its first sentences (a random number of them, at least one); segment b is,
with probability `random_next_rate` (0.5), a stretch of another document of the window starting
at a sentence boundary, otherwise the rest of the chunk, which follows a directly in the text. A
chunk of one sentence is split inside that sentence for a true pair. The pair is trimmed to
`max_length - 3` tokens longest-first, a from its start and b from its end, so that a true b
always continues a without a gap.

Label convention (the one of Hugging Face's `BertForPreTraining` and of the original code):
`nsp_labels` 0 = IsNext (b follows a), 1 = NotNext (b comes from another document).

Masked LM: `MaskedLMMasker` selects 15% of the eligible tokens of each sequence
(`round(0.15 * n)`, at least 1, at most `max_predictions_per_seq`), as the original BERT does.
Eligible means not a special token ([PAD], [UNK], [CLS], [SEP], [MASK]); [UNK] is excluded
because predicting it teaches nothing. Of the selected tokens 80% become [MASK], 10% a random
token drawn uniformly from the non-special vocabulary (tokens not written `[...]`), 10% stay
unchanged. With whole-word masking a word (a token and its following `##` pieces; every CJK
character is a word of its own, as BERT's tokenizer splits them) is selected or not as a whole,
and words are taken in random order while their pieces fit in the 15% budget.

Whole-word masking comes in two kinds (`whole_word_masking=`): "pieces" groups a token with its
following `##` pieces (the original BERT's rule; a CJK character is then a word of its own), and
"jieba" masks the characters of one Chinese word together (Cui et al. 2019). Word boundaries
for "jieba" come from jieba's segmenter, run in Python once per document
(`segment_documents`, or `tfbert.data.corpora.load_corpus(..., word_boundaries=True)`, which
caches it): a sentence carries them as `WORD_SEPARATOR` (U+2063 INVISIBLE SEPARATOR, which the
tokenizer drops) between words. The pipeline tokenizes word by word and carries a word-start
mark per token (inside the pipeline a token that continues a word is stored as `-(id + 1)`),
which the masker reads as `word_starts`. Text without separators is segmented on the fly.

Sequence packing (`next_sentence=False`; RoBERTa's FULL-SENTENCES, Cramming): the documents'
tokens form one stream, a [SEP] after each document, cut into sequences of `max_length - 2`
tokens as `[CLS] tokens [SEP]`, all segment 0. Every sequence is full except the last of a
pass, so no compute goes to padding; there are no NSP labels, and `to_keras_format` gives only
the masked-LM target.

Randomness is stateless (`tf.random.stateless_*`), seeded per window and per batch from
`tf.data.Dataset.random(seed, rerandomize_each_iteration=...)`: the same `seed` gives the same
data, and every pass over the data (every epoch of `fit`) draws new masks (unless
`dynamic_masking=False`) and, with `resample_pairs=True`, new pairs. Seeded stateful random ops
inside `map` would repeat the same masks every epoch (checked on TF 2.21).

The masking runs through tensorflow-text's `mask_language_model` (which regroups tokens into
words for whole-word masking), with `RandomItemSelector` and `MaskValuesChooser` subclassed:
the stock selector draws `ceil(rate * n)` items (16.7% of a 6-token sequence instead of BERT's
round), counts words rather than tokens under whole-word masking (so `max_predictions_per_seq`
would not bound the predictions) and shuffles with a stateful op; the stock chooser draws random
tokens from the whole vocabulary, specials included. keras-hub's `MaskedLMMaskGenerator` wraps
those same stock classes, without a whole-word option.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tensorflow as tf
import tensorflow_text as tf_text

from tfbert.config import WHOLE_WORD_MASKING
from tfbert.contract import FEATURE_NAMES
from tfbert.errors import DataError, MissingDependencyError
from tfbert.text.vocab import CLS, MASK, PAD, SEP, SPECIAL_TOKENS, is_reserved

if TYPE_CHECKING:
    from tfbert.text.tokenizer import BertTokenizer

__all__ = [
    "WHOLE_WORD_MASKING",
    "WORD_SEPARATOR",
    "MaskedLMMasker",
    "create_nsp_instances",
    "documents_dataset",
    "documents_from_texts",
    "nsp_instances_dataset",
    "pack_pairs",
    "packed_sequences_dataset",
    "pretraining_dataset",
    "segment_documents",
    "split_sentences",
    "to_keras_format",
    "whole_word_masking_mode",
    "write_documents",
]

# Between the words of a segmented sentence; BERT's tokenizer drops it (a format character), so
# segmented text tokenizes as the plain text does.
WORD_SEPARATOR = "\u2063"


def whole_word_masking_mode(value: bool | str | None) -> str:
    """ "none", "pieces" or "jieba" from a mode name or the old boolean (True: "pieces")."""
    if value is None or value is False:
        return "none"
    if value is True:
        return "pieces"
    mode = str(value).strip().lower()
    if mode not in WHOLE_WORD_MASKING:
        raise ValueError(
            f"whole_word_masking must be one of {', '.join(WHOLE_WORD_MASKING)} (or a bool), "
            f"got {value!r}."
        )
    return mode


# --------------------------------------------------------------------------------------------
# Sentences and documents.
# --------------------------------------------------------------------------------------------

_CLOSERS = "”’\"'」』）)\\]】》"
# A sentence ends after Chinese/full-width or !/? end punctuation (no space needed, as Chinese
# has none), or after periods followed by a space and something that is not a lowercase letter
# ("3.5", "e.g. this" and "etc. and" do not split; "Mr. Smith" does: simple on purpose).
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)  # IMDB-style web text
_SENTENCE = re.compile(rf"\s*(.+?(?:[。！？!?…]+[{_CLOSERS}]*|\.+[{_CLOSERS}]*(?=\s+[^a-z\s])|$))")


def split_sentences(text: str) -> list[str]:
    """Splits a text into sentences: simple punctuation rules for Chinese and English.

    Line breaks (and HTML `<br />`) always end a sentence; inside a line a sentence ends after
    。！？!?… (and any closing quotes or brackets), or after a period followed by whitespace and
    a character that is not a lowercase letter. Abbreviations such as "Mr. Smith" are split:
    BERT's pairs only need sentence-like units, not linguistically exact sentences.
    """
    sentences = []
    for line in _HTML_BREAK.sub("\n", text).splitlines():
        for match in _SENTENCE.finditer(line):
            sentence = match.group(1).strip()
            if sentence:
                sentences.append(sentence)
    return sentences


def documents_from_texts(texts: Iterable[str], split: bool = True) -> list[list[str]]:
    """One document per text, as a list of sentences; empty texts are dropped.

    With `split=False` the text's non-empty lines are its sentences (texts already in one
    sentence per line).
    """
    documents = []
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"Texts must be str, got {type(text).__name__}.")
        sentences = (
            split_sentences(text)
            if split
            else [line.strip() for line in text.splitlines() if line.strip()]
        )
        if sentences:
            documents.append(sentences)
    return documents


def _jieba() -> Any:
    try:
        import jieba
    except ImportError:
        raise MissingDependencyError(
            "whole-word masking for Chinese needs jieba's word boundaries; install it with: "
            'pip install "jieba==0.42.1" (or the baselines extra)'
        ) from None
    import logging

    jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict" chatter
    return jieba


def segment_sentence(sentence: str) -> str:
    """`sentence` with `WORD_SEPARATOR` between its jieba words (unchanged if it has them)."""
    if WORD_SEPARATOR in sentence:
        return sentence
    return WORD_SEPARATOR.join(_jieba().cut(sentence))


def segment_documents(
    documents: Iterable[Sequence[str]], show_progress: bool = False
) -> list[list[str]]:
    """Documents whose sentences carry jieba's word boundaries (`WORD_SEPARATOR`).

    Removing the separators gives the original text back. Sentences that already hold a
    separator are kept as they are. jieba runs in Python; do it once per corpus and keep the
    result (`tfbert.data.corpora.load_corpus(..., word_boundaries=True)` caches it).
    """
    documents = [list(document) for document in documents]
    if show_progress:
        from tqdm.std import tqdm

        documents = tqdm(documents, desc="jieba word boundaries", unit="doc", mininterval=2)
    return [[segment_sentence(sentence) for sentence in document] for document in documents]


def write_documents(
    documents: Iterable[Sequence[str]],
    directory: str | Path,
    num_shards: int = 1,
    prefix: str = "part",
) -> list[Path]:
    """Writes documents as BERT's pretraining text format, round-robin over `num_shards` files.

    One sentence per line, a blank line after each document, UTF-8; files
    `<prefix>-00000-of-0000N.txt`. Line breaks inside a sentence become spaces.
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}.")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [
        directory / f"{prefix}-{index:05d}-of-{num_shards:05d}.txt" for index in range(num_shards)
    ]
    handles = [open(path, "w", encoding="utf-8") for path in paths]  # noqa: SIM115
    try:
        written = 0
        for document in documents:
            lines = [" ".join(sentence.split()) for sentence in document]
            lines = [line for line in lines if line]
            if lines:
                handles[written % num_shards].write("\n".join(lines) + "\n\n")
                written += 1
    finally:
        for handle in handles:
            handle.close()
    return paths


def _resolve_files(patterns: str | Path | Sequence[str | Path]) -> list[str]:
    if isinstance(patterns, (str, Path)):
        patterns = [patterns]
    files: list[str] = []
    for pattern in patterns:
        pattern = str(pattern)
        if Path(pattern).is_dir():
            pattern = str(Path(pattern) / "*")
        matches = (
            sorted(tf.io.gfile.glob(pattern)) if "://" in pattern else sorted(glob.glob(pattern))
        )
        matches = [m for m in matches if "://" in m or Path(m).is_file()]
        if not matches:
            raise DataError(
                f"No text files match {pattern!r}; pass files (or a glob, or a directory) in "
                "BERT's format: one sentence per line, a blank line between documents."
            )
        files.extend(matches)
    return files


def _document_lines(path: tf.Tensor) -> tf.data.Dataset:
    """The documents of one text file: blocks of non-empty lines between blank lines."""
    lines = tf.data.TextLineDataset(path).concatenate(tf.data.Dataset.from_tensors(""))
    empty = tf.zeros([0], tf.string)

    def step(sentences, line):
        line = tf.strings.strip(line)
        is_break = tf.equal(line, "")
        state = tf.cond(is_break, lambda: empty, lambda: tf.concat([sentences, [line]], 0))
        emitted = tf.cond(is_break, lambda: sentences, lambda: empty)
        return state, emitted

    return lines.scan(empty, step).filter(lambda sentences: tf.size(sentences) > 0)


def documents_dataset(
    source: str | Path | Sequence[str | Path] | Sequence[Sequence[str]],
    *,
    shuffle_files: bool = True,
    shuffle_documents: bool = False,
    seed: int | None = None,
    cycle_length: int = 4,
) -> tf.data.Dataset:
    """A dataset of documents, each a 1-D string tensor of its sentences.

    `source` is a file, a directory, a glob or a list of them (streamed with
    `tf.data.TextLineDataset`, `cycle_length` files interleaved document by document, the file
    order shuffled every pass with `shuffle_files`), or documents in memory (a list of lists of
    sentences, e.g. from `documents_from_texts`), in their order or, with `shuffle_documents`,
    in a new order of all of them every pass (a corpus built source by source otherwise trains
    on one source at a time, however the later shuffle buffers mix it).
    """
    if isinstance(source, (str, Path)) or (
        source and all(isinstance(item, (str, Path)) for item in source)
    ):
        files = _resolve_files(source)  # type: ignore[arg-type]
        paths = tf.data.Dataset.from_tensor_slices(files)
        if shuffle_files and len(files) > 1:
            paths = paths.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        return paths.interleave(
            _document_lines,
            cycle_length=max(1, min(cycle_length, len(files))),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    documents = [[str(s) for s in document if str(s).strip()] for document in source]
    documents = [document for document in documents if document]
    if not documents:
        raise DataError("No documents with text to pretrain on.")
    sentences = tf.RaggedTensor.from_row_lengths(
        tf.constant([s for document in documents for s in document], tf.string),
        tf.constant([len(document) for document in documents], tf.int64),
    )
    if not shuffle_documents or len(documents) < 2:
        return tf.data.Dataset.from_tensor_slices(sentences)
    order = tf.data.Dataset.range(len(documents)).shuffle(
        len(documents), seed=seed, reshuffle_each_iteration=True
    )
    return order.map(lambda index: sentences[index])


# --------------------------------------------------------------------------------------------
# Sentence pairs for next sentence prediction.
# --------------------------------------------------------------------------------------------


def _wordpieces(
    tokenizer: BertTokenizer, texts: tf.Tensor, word_boundaries: bool = False
) -> tf.RaggedTensor:
    """[n, (pieces)] int32 ids, exactly as the model's tokenizer splits and normalises text.

    With `word_boundaries`, texts are tokenized word by word (words between `WORD_SEPARATOR`s)
    and a piece that does not start its word is returned as `-(id + 1)` (`_split_word_starts`
    undoes it), so the mark travels with the token through pairing and packing.
    """
    if not word_boundaries:
        return tokenizer.wordpiece_ids(texts)
    words = tf.strings.split(texts, sep=WORD_SEPARATOR)  # [n, (words)]
    pieces = tokenizer.wordpiece_ids(words.flat_values)  # [words, (pieces)]
    starts = tf.equal(tf.ragged.range(pieces.row_lengths()).flat_values, 0)
    ids = pieces.flat_values
    marked = pieces.with_flat_values(tf.where(starts, ids, -ids - 1))
    return tf.RaggedTensor.from_row_splits(marked, words.row_splits).merge_dims(1, 2)


def _split_word_starts(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Decodes the marked `token_ids` of `_wordpieces(..., word_boundaries=True)`: real ids plus
    a bool `word_starts` (padding and special tokens count as starts)."""
    ids = features["token_ids"]
    outputs = dict(features)
    outputs["token_ids"] = tf.where(ids < 0, -ids - 1, ids)
    outputs["word_starts"] = ids >= 0
    return outputs


def _segment_on_the_fly(documents: tf.data.Dataset) -> tf.data.Dataset:
    """Adds jieba word boundaries to streamed documents that lack them (Python, per document)."""

    def segment(sentences: tf.Tensor) -> tf.Tensor:
        return tf.constant(
            [segment_sentence(s.decode("utf-8")) for s in sentences.numpy()], tf.string
        )

    def apply(sentences: tf.Tensor) -> tf.Tensor:
        result = tf.py_function(segment, [sentences], tf.string)
        result.set_shape([None])
        return result

    return documents.map(apply)


def _uniform(seed: tf.Tensor, index: int, shape: Any) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, tf.random.experimental.stateless_fold_in(seed, index))


def _gather_spans(
    tokens: tf.RaggedTensor, rows: tf.Tensor, begins: tf.Tensor, lengths: tf.Tensor
) -> tf.RaggedTensor:
    """tokens[rows[i], begins[i] : begins[i] + lengths[i]] for every i, as a ragged tensor."""
    starts = tf.gather(tokens.row_starts(), rows) + begins
    indices = tf.ragged.range(starts, starts + lengths)
    return tf.gather(tokens.flat_values, indices)


def pack_pairs(
    segments_a: tf.RaggedTensor,
    segments_b: tf.RaggedTensor,
    max_length: int,
    cls_id: int,
    sep_id: int,
    pad_id: int,
) -> dict[str, tf.Tensor]:
    """`[CLS] a [SEP] b [SEP]` with segment ids 0/1, padded to `max_length` (as BertTokenizer).

    The segments must already fit (`len(a) + len(b) <= max_length - 3`).
    """
    rows = segments_a.nrows()
    cls = tf.RaggedTensor.from_tensor(tf.fill([rows, 1], tf.constant(cls_id, tf.int32)))
    sep = tf.RaggedTensor.from_tensor(tf.fill([rows, 1], tf.constant(sep_id, tf.int32)))
    token_ids = tf.concat([cls, segments_a, sep, segments_b, sep], axis=1)
    zeros, ones = tf.zeros_like, tf.ones_like
    segment_ids = tf.concat(
        [zeros(cls), zeros(segments_a), zeros(sep), ones(segments_b), ones(sep)], axis=1
    )
    shape = [None, max_length]
    return {
        "token_ids": token_ids.to_tensor(default_value=pad_id, shape=shape),
        "segment_ids": segment_ids.to_tensor(default_value=0, shape=shape),
        "padding_mask": tf.ones_like(token_ids).to_tensor(default_value=0, shape=shape),
    }


def create_nsp_instances(
    sentences: tf.RaggedTensor,
    seed: tf.Tensor,
    *,
    max_length: int,
    cls_id: int,
    sep_id: int,
    pad_id: int,
    random_next_rate: float = 0.5,
    short_seq_prob: float = 0.1,
) -> dict[str, tf.Tensor]:
    """Sentence pairs from one window of documents (see the module docstring for the rules).

    Args:
        sentences: [documents, (sentences), (pieces)] WordPiece ids of the window.
        seed: a stateless seed, shape [2] int.

    Returns [pairs, max_length] `token_ids`, `segment_ids`, `padding_mask` (int32) and
    [pairs] `nsp_labels` (0 IsNext, 1 NotNext).
    """
    if max_length < 5:
        raise ValueError(f"max_length must be at least 5 for sentence pairs, got {max_length}.")
    max_tokens = tf.constant(max_length - 3, tf.int64)
    sentences = tf.ragged.boolean_mask(sentences, sentences.row_lengths(axis=2) > 0)
    keep = tf.where(sentences.row_lengths() > 0)[:, 0]
    sentences = tf.gather(sentences, keep)  # documents with some text
    documents = tf.cast(sentences.nrows(), tf.int64)
    tokens = sentences.merge_dims(1, 2)  # [documents, (tokens)]
    sentence_lengths = sentences.row_lengths(axis=2)  # [documents, (sentences)]

    # Target length of each document's chunks.
    short = _uniform(seed, 0, [documents]) < short_seq_prob
    short_target = 2 + tf.cast(
        _uniform(seed, 1, [documents]) * tf.cast(max_tokens - 1, tf.float32), tf.int64
    )
    target = tf.where(short, tf.minimum(short_target, max_tokens), max_tokens)

    # Sentence -> chunk: a chunk holds the sentences that start in the same target-length
    # stretch of the document, so it ends with the first sentence reaching past the target.
    lengths = sentence_lengths.flat_values
    sentence_document = sentence_lengths.value_rowids()
    global_start = tf.cumsum(lengths, exclusive=True)
    first_sentence = sentence_lengths.row_starts()
    start = global_start - tf.gather(tf.gather(global_start, first_sentence), sentence_document)
    stretch = start // tf.gather(target, sentence_document)
    index = tf.range(tf.size(lengths, out_type=tf.int64))
    is_first = tf.equal(index, tf.gather(first_sentence, sentence_document))
    previous = tf.concat([tf.constant([-1], tf.int64), stretch[:-1]], 0)
    new_chunk = is_first | tf.not_equal(stretch, previous)
    chunk_of_sentence = tf.cumsum(tf.cast(new_chunk, tf.int64)) - 1
    chunks = tf.reduce_sum(tf.cast(new_chunk, tf.int64))
    chunk_document = tf.boolean_mask(sentence_document, new_chunk)
    chunk_first = tf.boolean_mask(index, new_chunk)
    chunk_start = tf.boolean_mask(start, new_chunk)
    chunk_sentences = tf.math.segment_sum(tf.ones_like(lengths), chunk_of_sentence)
    chunk_length = tf.math.segment_sum(lengths, chunk_of_sentence)

    # Where a ends: after a random number of whole sentences (1 .. n-1), or, for a one-sentence
    # chunk, inside the sentence for a true pair and at its end for a random one.
    u_split = _uniform(seed, 2, [chunks])
    boundary = 1 + tf.cast(u_split * tf.cast(chunk_sentences - 1, tf.float32), tf.int64)
    boundary = tf.minimum(boundary, tf.maximum(chunk_sentences - 1, 1))
    boundary_sentence = tf.minimum(chunk_first + boundary, tf.size(lengths, out_type=tf.int64) - 1)
    a_at_sentence = tf.gather(start, boundary_sentence) - chunk_start
    a_in_sentence = 1 + tf.cast(u_split * tf.cast(chunk_length - 1, tf.float32), tf.int64)
    a_in_sentence = tf.clip_by_value(a_in_sentence, 1, tf.maximum(chunk_length - 1, 1))

    can_true = (chunk_sentences >= 2) | (chunk_length >= 2)
    can_random = documents >= 2
    wants_random = _uniform(seed, 3, [chunks]) < random_next_rate
    is_random = tf.where(can_true, wants_random & can_random, can_random)
    valid = can_true | can_random
    multi = chunk_sentences >= 2
    a_length = tf.where(multi, a_at_sentence, tf.where(is_random, chunk_length, a_in_sentence))

    # Random b: another document of the window, from a random sentence on, sized to fill the
    # chunk's target (at least one token).
    offset = 1 + tf.cast(
        _uniform(seed, 4, [chunks]) * tf.cast(tf.maximum(documents - 1, 1), tf.float32), tf.int64
    )
    offset = tf.minimum(offset, tf.maximum(documents - 1, 1))
    other = (chunk_document + offset) % tf.maximum(documents, 1)
    other_sentences = tf.gather(sentence_lengths.row_lengths(), other)
    pick = tf.cast(_uniform(seed, 5, [chunks]) * tf.cast(other_sentences, tf.float32), tf.int64)
    pick = tf.minimum(pick, other_sentences - 1)
    random_begin = tf.gather(start, tf.gather(first_sentence, other) + pick)
    room = tf.gather(tokens.row_lengths(), other) - random_begin
    chunk_target = tf.gather(target, chunk_document)
    random_length = tf.minimum(room, tf.maximum(chunk_target - a_length, 1))

    b_document = tf.where(is_random, other, chunk_document)
    b_begin = tf.where(is_random, random_begin, chunk_start + a_length)
    b_length = tf.where(is_random, random_length, chunk_length - a_length)

    # Longest-first trimming to max_tokens: a loses tokens at its start, b at its end.
    keep_a = tf.minimum(a_length, tf.maximum((max_tokens + 1) // 2, max_tokens - b_length))
    keep_b = tf.minimum(b_length, max_tokens - keep_a)
    a_begin = chunk_start + a_length - keep_a

    selected = tf.where(valid)[:, 0]
    pick_rows = lambda values: tf.gather(values, selected)
    segments_a = _gather_spans(
        tokens, pick_rows(chunk_document), pick_rows(a_begin), pick_rows(keep_a)
    )
    segments_b = _gather_spans(tokens, pick_rows(b_document), pick_rows(b_begin), pick_rows(keep_b))
    features = pack_pairs(segments_a, segments_b, max_length, cls_id, sep_id, pad_id)
    features["nsp_labels"] = tf.cast(pick_rows(is_random), tf.int32)
    return features


def _as_graph(function: Any) -> Any:
    """`function` for `Dataset.map` as written: its control flow is Python's on Python values,
    so AutoGraph's rewriting of it (and of tensorflow-text's code it calls) would only cost
    seconds of tracing."""
    return tf.autograph.experimental.do_not_convert(function)


def _shuffled(documents: tf.data.Dataset, buffer: int, seed: int | None, reshuffle: bool):
    """`documents` shuffled in a buffer of `buffer` (0: as they are), anew each pass if
    `reshuffle`."""
    if not buffer:
        return documents
    return documents.shuffle(buffer, seed=seed, reshuffle_each_iteration=reshuffle)


def _window_pieces(
    tokenizer: BertTokenizer, window: tf.RaggedTensor, word_boundaries: bool
) -> tf.RaggedTensor:
    """A window of documents [documents, (sentences)] -> [documents, (sentences), (pieces)]."""
    pieces = _wordpieces(tokenizer, window.flat_values, word_boundaries)
    return tf.RaggedTensor.from_row_splits(pieces, window.row_splits)


def nsp_instances_dataset(
    documents: tf.data.Dataset,
    tokenizer: BertTokenizer,
    *,
    max_length: int | None = None,
    window_size: int = 256,
    random_next_rate: float = 0.5,
    short_seq_prob: float = 0.1,
    document_shuffle_buffer: int = 1000,
    resample_pairs: bool = True,
    seed: int | None = None,
    word_boundaries: bool = False,
) -> tf.data.Dataset:
    """Unbatched NSP pairs (`token_ids`, `segment_ids`, `padding_mask`, `nsp_labels`).

    Documents are shuffled in a buffer of `document_shuffle_buffer` (0: not at all), then read
    `window_size` at a time: random segments b come from another document of the same window.
    With `resample_pairs`, each pass over the data draws new pairs (and a new document order);
    otherwise every pass yields the same pairs. With `word_boundaries` (sentences segmented
    with `WORD_SEPARATOR`) each pair also has `word_starts` (bool, per token).
    """
    max_length = max_length or tokenizer.max_length
    if window_size < 2:
        raise ValueError(f"window_size must be at least 2 documents, got {window_size}.")
    if not 0.0 <= random_next_rate <= 1.0:
        raise ValueError(f"random_next_rate must be in [0, 1], got {random_next_rate}.")
    ids = {
        "cls_id": tokenizer.token_to_id(CLS),
        "sep_id": tokenizer.token_to_id(SEP),
        "pad_id": tokenizer.token_to_id(PAD),
    }
    documents = _shuffled(documents, document_shuffle_buffer, seed, resample_pairs)
    windows = documents.ragged_batch(window_size)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=resample_pairs).batch(2)

    def make(window: tf.RaggedTensor, window_seed: tf.Tensor) -> dict[str, tf.Tensor]:
        sentences = _window_pieces(tokenizer, window, word_boundaries)
        return create_nsp_instances(
            sentences,
            window_seed,
            max_length=max_length,
            random_next_rate=random_next_rate,
            short_seq_prob=short_seq_prob,
            **ids,
        )

    pairs = tf.data.Dataset.zip((windows, seeds)).map(
        _as_graph(make), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    if word_boundaries:
        pairs = pairs.map(_split_word_starts)
    return pairs.unbatch()


def packed_sequences_dataset(
    documents: tf.data.Dataset,
    tokenizer: BertTokenizer,
    *,
    max_length: int | None = None,
    window_size: int = 256,
    document_shuffle_buffer: int = 1000,
    resample: bool = True,
    seed: int | None = None,
    word_boundaries: bool = False,
) -> tf.data.Dataset:
    """Unbatched full sequences without NSP: `[CLS] tokens [SEP]`, `max_length` long.

    The documents' tokens (shuffled in a buffer of `document_shuffle_buffer`, a [SEP] after
    each document) are one stream cut into pieces of `max_length - 2` tokens; only the last
    sequence of a pass is shorter (and padded). Features: `token_ids`, `segment_ids` (all 0),
    `padding_mask`, and with `word_boundaries` `word_starts`. `window_size` documents are
    tokenized at a time. With `resample`, every pass takes a new document order.
    """
    max_length = max_length or tokenizer.max_length
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3 for packed sequences, got {max_length}.")
    cls_id, sep_id, pad_id = (tokenizer.token_to_id(t) for t in (CLS, SEP, PAD))
    documents = _shuffled(documents, document_shuffle_buffer, seed, resample)

    def tokens(window: tf.RaggedTensor) -> tf.Tensor:
        per_document = _window_pieces(tokenizer, window, word_boundaries).merge_dims(1, 2)
        sep = tf.fill([per_document.nrows(), 1], tf.constant(sep_id, per_document.dtype))
        return tf.concat([per_document, tf.RaggedTensor.from_tensor(sep)], axis=1).flat_values

    stream = documents.ragged_batch(window_size).map(
        _as_graph(tokens), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    chunks = stream.unbatch().batch(max_length - 2)

    def pack(chunk: tf.Tensor) -> dict[str, tf.Tensor]:
        chunk = tf.cast(chunk, tf.int32)
        ids = tf.concat([[cls_id], chunk, [sep_id]], 0)
        padding = max_length - tf.shape(ids)[0]
        features = {
            "token_ids": tf.pad(ids, [[0, padding]], constant_values=pad_id),
            "segment_ids": tf.zeros([max_length], tf.int32),
            "padding_mask": tf.pad(tf.ones_like(ids), [[0, padding]]),
        }
        for value in features.values():
            value.set_shape([max_length])
        return features

    sequences = chunks.map(_as_graph(pack), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return sequences.map(_split_word_starts) if word_boundaries else sequences


# --------------------------------------------------------------------------------------------
# Dynamic masking.
# --------------------------------------------------------------------------------------------


class _BudgetSelector(tf_text.RandomItemSelector):
    """Selects items (tokens or whole words) in random order while their tokens fit the budget.

    The budget of a sequence is `round(rate * eligible tokens)`, at least 1, at most
    `max_selections` tokens: the rule of the original `create_pretraining_data.py`. Only the
    selection rule differs from `RandomItemSelector` (whose `get_selectable` is kept: items
    holding an unselectable id are never chosen).
    """

    def __init__(self, max_selections: int, rate: float, unselectable_ids: list[int], seed):
        super().__init__(max_selections, rate, unselectable_ids)
        self.max_selections = max_selections
        self.rate = rate
        self.seed = seed

    def get_selection_mask(self, input_ids: tf.RaggedTensor, axis: int = 1) -> tf.RaggedTensor:
        if axis != 1:
            raise ValueError("Masking selects along axis 1 only.")
        selectable = self.get_selectable(input_ids, axis)  # [batch, (items)]
        if input_ids.ragged_rank > 1:
            sizes = input_ids.row_lengths(axis=2)
        else:
            sizes = tf.ones_like(input_ids, dtype=tf.int64)
        sizes = tf.ragged.map_flat_values(tf.cast, sizes, tf.int64)
        eligible = tf.reduce_sum(tf.where(selectable, sizes, tf.zeros_like(sizes)), axis=1)
        budget = tf.cast(tf.round(tf.cast(eligible, tf.float32) * self.rate), tf.int64)
        budget = tf.minimum(tf.maximum(budget, tf.minimum(eligible, 1)), self.max_selections)

        # Random priorities; unselectable items go last. Sort each row, take the prefix whose
        # tokens fit the budget, and scatter the decision back to the original order.
        priority = tf.random.stateless_uniform(tf.shape(selectable.flat_values), self.seed)
        priority = tf.where(selectable.flat_values, priority, 2.0)
        priority = selectable.with_flat_values(priority).to_tensor(default_value=3.0)
        order = tf.argsort(priority, axis=1, stable=True)
        dense_sizes = sizes.to_tensor(default_value=0)
        dense_selectable = selectable.to_tensor(default_value=False)
        sorted_sizes = tf.gather(dense_sizes, order, batch_dims=1)
        sorted_ok = tf.gather(dense_selectable, order, batch_dims=1)
        chosen_sorted = sorted_ok & (tf.cumsum(sorted_sizes, axis=1) <= budget[:, None])
        inverse = tf.argsort(order, axis=1)
        chosen = tf.gather(chosen_sorted, inverse, batch_dims=1)
        return tf.RaggedTensor.from_tensor(chosen, lengths=selectable.row_lengths())


class _ValuesChooser(tf_text.MaskValuesChooser):
    """[MASK] / random non-special token / unchanged, drawn per token with stateless ops."""

    def __init__(
        self, mask_id: int, random_ids: tf.Tensor, mask_rate: float, random_rate: float, seed
    ):
        super().__init__(int(random_ids.shape[0]), mask_id, mask_rate, random_rate)
        self.random_ids = random_ids
        self.seed = seed

    def get_mask_values(self, masked_lm_ids: tf.RaggedTensor) -> tf.RaggedTensor:
        ids = masked_lm_ids.flat_values
        shape = tf.shape(ids)
        draw = tf.random.stateless_uniform(shape, _fold(self.seed, 1))
        choice = tf.random.stateless_uniform(
            shape, _fold(self.seed, 2), maxval=tf.shape(self.random_ids)[0], dtype=tf.int32
        )
        random_ids = tf.cast(tf.gather(self.random_ids, choice), ids.dtype)
        mask_rate, random_rate = self._mask_token_rate, self._random_token_rate
        values = tf.where(
            draw < mask_rate,
            tf.cast(self.mask_token, ids.dtype),
            tf.where(draw < mask_rate + random_rate, random_ids, ids),
        )
        return masked_lm_ids.with_flat_values(values)


def _fold(seed: tf.Tensor, index: int) -> tf.Tensor:
    return tf.random.experimental.stateless_fold_in(seed, index)


class MaskedLMMasker:
    """Applies BERT's masking to padded batches; call with (features, seed).

    `features` holds `token_ids` and `padding_mask` ([batch, length]); the result adds the
    masked `token_ids`, `mask_positions` and `mask_ids` ([batch, max_predictions_per_seq]
    int32, padded with 0) and `mask_weights` (float32, 1 at real predictions, 0 at padding).
    Positions are sorted. `seed` is a stateless seed (shape [2]).

    `whole_word_masking`: "none" (tokens one by one), "pieces" (a token and its `##` pieces
    together; `True` means this), or "jieba" (words given by a bool `word_starts` feature, as
    the pipeline makes from segmented text; it is consumed, not passed on).
    """

    def __init__(
        self,
        vocabulary: Sequence[str],
        *,
        max_predictions_per_seq: int = 20,
        masking_rate: float = 0.15,
        mask_token_rate: float = 0.8,
        random_token_rate: float = 0.1,
        whole_word_masking: bool | str = False,
    ) -> None:
        if max_predictions_per_seq < 1:
            raise ValueError(
                f"max_predictions_per_seq must be at least 1, got {max_predictions_per_seq}."
            )
        if not 0.0 < masking_rate <= 1.0:
            raise ValueError(f"masking_rate must be in (0, 1], got {masking_rate}.")
        if min(mask_token_rate, random_token_rate) < 0 or mask_token_rate + random_token_rate > 1:
            raise ValueError(
                "mask_token_rate and random_token_rate must be >= 0 with a sum <= 1, got "
                f"{mask_token_rate} and {random_token_rate}."
            )
        vocabulary = list(vocabulary)
        self.vocabulary_size = len(vocabulary)
        self.max_predictions_per_seq = max_predictions_per_seq
        self.masking_rate = masking_rate
        self.mask_token_rate = mask_token_rate
        self.random_token_rate = random_token_rate
        self.whole_word_masking = whole_word_masking_mode(whole_word_masking)
        index = {token: i for i, token in enumerate(vocabulary)}
        self.mask_id = index[MASK]
        self.pad_id = index[PAD]
        self.special_ids = sorted(index[token] for token in SPECIAL_TOKENS)
        reserved = [is_reserved(t) for t in vocabulary]
        self.random_ids = tf.constant(
            [i for i, is_reserved in enumerate(reserved) if not is_reserved], tf.int32
        )
        if self.random_ids.shape[0] == 0:
            raise ValueError("The vocabulary has no non-special tokens to draw random ones from.")
        continuation = [t.startswith("##") and len(t) > 2 for t in vocabulary]
        self._continuation = tf.constant(continuation, tf.bool)
        self._special = tf.constant(reserved, tf.bool)

    def _words(
        self, ids: tf.RaggedTensor, word_starts: tf.RaggedTensor | None = None
    ) -> tf.RaggedTensor:
        """[batch, (tokens)] -> [batch, (words), (pieces)]: a word is a token and its ## pieces,
        or, given `word_starts` ([batch, (tokens)] bool), a start and the tokens up to the next.

        Special tokens are words of their own, and a piece right after one starts a word.
        """
        flat = ids.flat_values
        special = tf.gather(self._special, flat)
        if word_starts is None:
            starts = ~tf.gather(self._continuation, flat) | special
        else:
            starts = word_starts.flat_values | special
        positions = tf.ragged.range(ids.row_lengths()).flat_values
        previous_special = tf.concat([[True], special[:-1]], 0)
        starts = starts | previous_special | tf.equal(positions, 0)
        word_index = tf.cumsum(tf.cast(starts, tf.int64)) - 1
        words = tf.RaggedTensor.from_value_rowids(
            flat, word_index, nrows=tf.reduce_sum(tf.cast(starts, tf.int64))
        )
        words_per_row = tf.reduce_sum(ids.with_flat_values(tf.cast(starts, tf.int64)), axis=1)
        return tf.RaggedTensor.from_row_lengths(words, words_per_row)

    def __call__(self, features: dict[str, tf.Tensor], seed: tf.Tensor) -> dict[str, tf.Tensor]:
        token_ids = tf.cast(features["token_ids"], tf.int32)
        lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int64), axis=1)
        ids = tf.RaggedTensor.from_tensor(token_ids, lengths=lengths)
        if self.whole_word_masking == "jieba":
            if "word_starts" not in features:
                raise ValueError(
                    "whole_word_masking='jieba' needs a `word_starts` feature: build the batches "
                    "with pretraining_dataset(..., whole_word_masking='jieba')."
                )
            starts = tf.RaggedTensor.from_tensor(features["word_starts"], lengths=lengths)
            items = self._words(ids, starts)
        elif self.whole_word_masking == "pieces":
            items = self._words(ids)
        else:
            items = ids
        selector = _BudgetSelector(
            self.max_predictions_per_seq, self.masking_rate, self.special_ids, _fold(seed, 0)
        )
        chooser = _ValuesChooser(
            self.mask_id,
            self.random_ids,
            self.mask_token_rate,
            self.random_token_rate,
            _fold(seed, 1),
        )
        masked, positions, labels = tf_text.mask_language_model(items, selector, chooser, axis=1)
        if masked.ragged_rank > 1:
            masked = masked.merge_dims(1, -1)
        shape = [None, self.max_predictions_per_seq]
        outputs = {k: v for k, v in features.items() if k != "word_starts"}
        masked_ids = masked.to_tensor(default_value=self.pad_id, shape=tf.shape(token_ids))
        masked_ids.set_shape(token_ids.shape)
        outputs["token_ids"] = masked_ids
        outputs["mask_positions"] = tf.cast(positions, tf.int32).to_tensor(0, shape=shape)
        outputs["mask_ids"] = tf.cast(labels, tf.int32).to_tensor(0, shape=shape)
        outputs["mask_weights"] = tf.ones_like(positions, tf.float32).to_tensor(0.0, shape=shape)
        return outputs


# --------------------------------------------------------------------------------------------
# The whole pipeline.
# --------------------------------------------------------------------------------------------

MODEL_INPUTS = (*FEATURE_NAMES, "mask_positions")  # what a pretraining model takes


def to_keras_format(batch: dict[str, tf.Tensor]) -> tuple[dict, dict, dict]:
    """(inputs, targets, sample weights) keyed as `BertPretrainer`'s outputs for `fit`.

    Packed batches (no `nsp_labels`) give only the masked-LM target.
    """
    inputs = {name: batch[name] for name in MODEL_INPUTS}
    targets = {"mlm_logits": batch["mask_ids"]}
    weights = {"mlm_logits": batch["mask_weights"]}
    if "nsp_labels" in batch:
        targets["nsp_logits"] = batch["nsp_labels"]
        weights["nsp_logits"] = tf.ones_like(batch["nsp_labels"], tf.float32)
    return inputs, targets, weights


def pretraining_dataset(
    source: str | Path | Sequence[str | Path] | Sequence[Sequence[str]] | tf.data.Dataset,
    tokenizer: BertTokenizer,
    *,
    batch_size: int = 32,
    max_length: int | None = None,
    max_predictions_per_seq: int = 20,
    masking_rate: float = 0.15,
    mask_token_rate: float = 0.8,
    random_token_rate: float = 0.1,
    whole_word_masking: bool | str = False,
    dynamic_masking: bool = True,
    next_sentence: bool = True,
    random_next_rate: float = 0.5,
    short_seq_prob: float = 0.1,
    window_size: int = 256,
    document_shuffle_buffer: int = 1000,
    shuffle_buffer: int = 10_000,
    resample_pairs: bool = True,
    cache_pairs: bool = False,
    repeat: bool = False,
    drop_remainder: bool = False,
    seed: int | None = None,
    keras_format: bool = True,
) -> tf.data.Dataset:
    """Batches for `BertPretrainer.fit`, from text files, in-memory documents or a dataset.

    `source`: files/globs/directories in BERT's text format, a list of documents (lists of
    sentences, see `documents_from_texts`), or a `tf.data.Dataset` of documents (1-D string
    tensors). `max_length` defaults to the tokenizer's. Pairs are shuffled in a buffer of
    `shuffle_buffer` (0: keep the order). `dynamic_masking=False` gives the same masks on every
    pass (original BERT's static masking; also what a validation set wants, so that its
    masked-LM accuracy compares across epochs). `repeat` repeats the passes without end (use
    `steps_per_epoch`). `cache_pairs` keeps the pairs in memory after the
    first pass (for small corpora; with `resample_pairs=False` they are the same every pass
    anyway). With `keras_format` (default) each element is
    `(inputs, targets, sample_weights)` as `fit` expects; otherwise one dict with every field:
    `token_ids` (masked), `segment_ids`, `padding_mask`, `mask_positions`, `mask_ids`,
    `mask_weights`, `nsp_labels` (the last only with `next_sentence`).

    `next_sentence=False` packs the text into full sequences without NSP pairs (see the module
    docstring; `random_next_rate` and `short_seq_prob` then do not apply, and
    `resample_pairs` decides whether each pass takes a new document order).
    `whole_word_masking`: "none" (False), "pieces" (True) or "jieba"; with "jieba", in-memory
    documents without word boundaries are segmented first, and streamed ones as they are read
    (slower: segment a large corpus once with `segment_documents`).
    """
    max_length = max_length or tokenizer.max_length
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    whole_word_masking = whole_word_masking_mode(whole_word_masking)
    jieba_words = whole_word_masking == "jieba"
    if isinstance(source, tf.data.Dataset):
        documents = _segment_on_the_fly(source) if jieba_words else source
    else:
        is_files = isinstance(source, (str, Path)) or all(
            isinstance(item, (str, Path)) for item in source
        )
        if jieba_words and not is_files:
            _jieba()  # a missing jieba fails here, in one line
            source = segment_documents(source)
        documents = documents_dataset(
            source, seed=seed, shuffle_files=resample_pairs, shuffle_documents=resample_pairs
        )
        if jieba_words and is_files:
            documents = _segment_on_the_fly(documents)
    if next_sentence:
        pairs = nsp_instances_dataset(
            documents,
            tokenizer,
            max_length=max_length,
            window_size=window_size,
            random_next_rate=random_next_rate,
            short_seq_prob=short_seq_prob,
            document_shuffle_buffer=document_shuffle_buffer,
            resample_pairs=resample_pairs,
            seed=seed,
            word_boundaries=jieba_words,
        )
    else:
        pairs = packed_sequences_dataset(
            documents,
            tokenizer,
            max_length=max_length,
            window_size=window_size,
            document_shuffle_buffer=document_shuffle_buffer,
            resample=resample_pairs,
            seed=seed,
            word_boundaries=jieba_words,
        )
    if cache_pairs:
        pairs = pairs.cache()
    if shuffle_buffer:
        pairs = pairs.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    batches = pairs.batch(batch_size, drop_remainder=drop_remainder)
    masker = MaskedLMMasker(
        tokenizer.vocabulary,
        max_predictions_per_seq=max_predictions_per_seq,
        masking_rate=masking_rate,
        mask_token_rate=mask_token_rate,
        random_token_rate=random_token_rate,
        whole_word_masking=whole_word_masking,
    )
    mask_seed = None if seed is None else seed + 1
    seeds = tf.data.Dataset.random(seed=mask_seed, rerandomize_each_iteration=dynamic_masking)
    batches = tf.data.Dataset.zip((batches, seeds.batch(2))).map(
        _as_graph(masker), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    if keras_format:
        batches = batches.map(to_keras_format)
    if repeat:  # after masking, so that each pass re-draws (or, static, repeats) the masks
        batches = batches.repeat()
    return batches.prefetch(tf.data.AUTOTUNE)
