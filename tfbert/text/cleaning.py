"""Text cleaning and normalisation: everything that happens to a text before WordPiece.

Two kinds live here:

* `clean_text` is optional, plain-Python cleaning of raw data when it is read (markup, HTML
  entities, full-width ASCII, zero-width characters, runs of whitespace). It changes the text a
  user trains on, so it is opt-in (`tfbert train --clean-text`, `read_examples(clean=True)`).
* `normalize` is the in-graph normalisation every tokenizer applies, equal in training and
  serving: control characters removed, lowercasing and accent stripping (NFD, then combining
  marks dropped), and, only when asked, Unicode NFKC folding of compatibility forms (full-width
  "，" to ",", "´" to a space). BERT's reference tokenizer (Google's and Hugging Face's) does not
  fold, and its vocabularies hold "，" and "´" as tokens of their own, so folding is off by
  default; tfbert models saved before the option existed folded when lowercasing and keep
  doing so (see `tfbert.text.tokenizer.BertTokenizer`).

Example:

    >>> clean_text("Great<br />film &amp; ＢＥＲＴ")
    'Great film & BERT'
    >>> normalize(tf.constant(["Café，ＯＫ"]), lowercase=True, strip_accents=True)[0].numpy()
    ... # "cafe，ｏｋ" as UTF-8 bytes; with normalize_full_width=True: "cafe,ok"

`normalize` works on a whole string; `normalize_characters` does the same one character at a
time, which is slower but says where each character of the original went (used for the character
offsets of `tfbert.text.wordpiece`).
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any

# ----- plain-Python cleaning of raw data ------------------------------------------------------

# A tag must start with a letter (or / or !) right after "<", so "a < b > c" in prose survives.
_TAG_RE = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>]*>|<![A-Za-z][^<>]*>", re.DOTALL)
# Full-width ASCII variants (！ .. ～) and the ideographic space; everything else is left alone.
_FULLWIDTH_RE = re.compile("[\uff01-\uff5e\u3000]")
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def clean_text(
    text: str,
    *,
    strip_html: bool = True,
    normalize_whitespace: bool = True,
    fullwidth_to_halfwidth: bool = True,
) -> str:
    """Remove markup and width/spacing noise that changes tokens but not meaning.

    Web text (IMDB's `<br />`, `&amp;`) and Chinese text typed with full-width ASCII (`ＢＥＲＴ`,
    `１２３`) would otherwise produce tokens a model never saw in pretraining. Only the
    full-width ASCII block and the ideographic space are normalised (with NFKC): running NFKC on
    the whole text would also rewrite CJK compatibility ideographs, circled digits and
    half-width katakana, which are real content.
    """
    if strip_html:
        text = _TAG_RE.sub(" ", text)
        # Entities are unescaped after the tags are gone, so an escaped "&lt;b&gt;" stays text.
        text = html.unescape(text)
    if fullwidth_to_halfwidth:
        text = _FULLWIDTH_RE.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    if normalize_whitespace:
        text = _ZERO_WIDTH_RE.sub("", text)
        text = " ".join(text.split())
    return text


# ----- CJK characters -------------------------------------------------------------------------

# BERT's "Chinese character" blocks; FastBertTokenizer splits exactly these one by one
# (checked at every block boundary against tensorflow-text 2.21).
CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_cjk_character(char: str) -> bool:
    """True for the characters BERT tokenizers treat as words of their own (CJK ideographs)."""
    code = ord(char)
    return any(low <= code <= high for low, high in CJK_RANGES)


# ----- in-graph normalisation ------------------------------------------------------------------

# What BERT's reference tokenizer deletes before splitting words: control and format characters
# (tab, newline and carriage return are whitespace instead), private-use characters, NUL and
# the replacement character. tensorflow-text would treat some of them (U+0085) as whitespace
# and keep others (U+200B) inside words.
CONTROL_CHARACTERS = r"[^\P{Cc}\t\n\r]|\p{Cf}|\p{Co}|\x{FFFD}"


def resolve_strip_accents(lowercase: bool, strip_accents: bool | None) -> bool:
    """The accent setting of BERT tokenizers: when not given, accents go with lowercasing."""
    return bool(lowercase) if strip_accents is None else bool(strip_accents)


def builtin_normalizer(lowercase: bool, strip_accents: bool, normalize_full_width: bool) -> bool:
    """Whether to leave normalisation to `FastBertTokenizer(lower_case_nfd_strip_accents=True)`.

    Its built-in normaliser lowercases, strips accents and folds compatibility forms in one
    pass; it is used for exactly that combination (the behaviour of tfbert models saved before
    `normalize_full_width` existed), and `normalize` does the rest.
    """
    return bool(lowercase and strip_accents and normalize_full_width)


def normalize(
    texts: Any, lowercase: bool, strip_accents: bool, normalize_full_width: bool = False
) -> Any:
    """The text `FastBertTokenizer` should split, for any string tensor (runs in the graph).

    With `builtin_normalizer(...)` true the texts come back unchanged (the tokenizer's own
    normaliser does the work); otherwise this is the whole normalisation.
    """
    import tensorflow as tf
    import tensorflow_text as tf_text

    if builtin_normalizer(lowercase, strip_accents, normalize_full_width):
        return texts
    if normalize_full_width:
        if lowercase:  # NFKC with case folding, as tfbert always did for lowercase-only models
            return tf_text.case_fold_utf8(texts)
        texts = tf_text.normalize_utf8(texts, "NFKC")
    else:
        texts = tf.strings.regex_replace(texts, CONTROL_CHARACTERS, "")
        if lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
    if strip_accents:
        texts = tf.strings.regex_replace(tf_text.normalize_utf8(texts, "NFD"), r"\p{Mn}", "")
    return texts


def normalize_characters(
    texts: Any, lowercase: bool, strip_accents: bool, normalize_full_width: bool = False
) -> tuple[Any, Any, Any]:
    """`normalize` one character at a time, keeping track of where every character went.

    Takes a 1-D string batch. Returns `(normalized, source_starts, target_starts)`:
    the normalized texts, and per text the byte offset of each original character in the
    original text and of its normalized form in the normalized text (ragged int64, one more
    entry than characters: the final one is the text's end). A normalized byte offset `b` comes
    from the original character `i` with `target_starts[i] <= b < target_starts[i + 1]`.
    Characters that normalise to nothing (control characters, combining accents) have
    `target_starts[i] == target_starts[i + 1]`.
    """
    import tensorflow as tf

    characters = tf.strings.unicode_split(texts, "UTF-8")
    # Per character: in the built-in normaliser's case `normalize` leaves the text alone and
    # the tokenizer's offsets already point into the original.
    flat = normalize(characters.flat_values, lowercase, strip_accents, normalize_full_width)
    normalized = tf.strings.reduce_join(characters.with_flat_values(flat), axis=-1)
    splits = characters.row_splits
    # Per text, the running byte count before each character and at the end.
    indices = tf.ragged.range(splits[:-1], splits[1:] + 1)

    def starts(lengths: Any) -> Any:
        running = tf.concat([[0], tf.cumsum(tf.cast(lengths, tf.int64))], axis=0)
        at = indices.with_flat_values(tf.gather(running, indices.flat_values))
        return at - tf.expand_dims(tf.gather(running, splits[:-1]), -1)

    return (
        normalized,
        starts(tf.strings.length(characters.flat_values)),
        starts(tf.strings.length(flat)),
    )
