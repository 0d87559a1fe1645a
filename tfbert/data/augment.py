"""Text augmentation for small training sets: random deletion, swap and insertion (EDA).

Wei & Zou 2019 ("EDA: Easy Data Augmentation Techniques") make extra training texts by small
random edits. Here the unit of an edit is an English (or any space-separated) word, and a
single character in Chinese, Japanese or Korean text, which has no spaces between words:

- deletion: each unit is dropped with probability `rate` (at least one unit is kept);
- swap: `max(1, round(rate * units))` times, two units trade places;
- insertion: `max(1, round(rate * units))` times, a unit of the same text is inserted again
  at a random position (EDA inserts synonyms; a unit of the text itself needs no thesaurus
  and works in every language).

Apply it to the training split only; validation and test texts stay as they are:

    train = augment_data(data.train, copies=1, rate=0.1, seed=13)  # originals + 1 copy each

The same seed gives the same texts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfbert.data.readers import TextClassificationData
from tfbert.errors import DataError
from tfbert.text.cleaning import is_cjk_character

OPERATIONS = ("deletion", "swap", "insertion")

# A unit: its text, and whether it came from a run of CJK text (joined without spaces).
Unit = tuple[str, bool]


def split_units(text: str) -> list[Unit]:
    """Whitespace-separated words; a word holding CJK characters is split into characters."""
    units: list[Unit] = []
    for word in text.split():
        if any(is_cjk_character(char) for char in word):
            units.extend((char, True) for char in word)
        else:
            units.append((word, False))
    return units


def join_units(units: Sequence[Unit]) -> str:
    """The inverse of `split_units`: a space between units, except inside CJK text."""
    pieces: list[str] = []
    for index, (token, cjk) in enumerate(units):
        if index and not (cjk and units[index - 1][1]):
            pieces.append(" ")
        pieces.append(token)
    return "".join(pieces)


def _edit_count(rate: float, size: int) -> int:
    return max(1, round(rate * size))


def augment_text(
    text: str, operation: str, rate: float = 0.1, rng: np.random.Generator | None = None
) -> str:
    """`text` after one `operation` ("deletion", "swap" or "insertion") at `rate`.

    Texts too short for the operation (one unit for deletion and swap, none for insertion)
    come back as they are, apart from whitespace.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {OPERATIONS}, got {operation!r}.")
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"rate must be in (0, 1], got {rate}.")
    rng = rng if rng is not None else np.random.default_rng()
    units = split_units(text)
    size = len(units)
    if operation == "deletion" and size > 1:
        keep = rng.random(size) >= rate
        if not keep.any():
            keep[rng.integers(size)] = True
        units = [unit for unit, kept in zip(units, keep, strict=True) if kept]
    elif operation == "swap" and size > 1:
        for _ in range(_edit_count(rate, size)):
            i, j = rng.choice(size, size=2, replace=False)
            units[i], units[j] = units[j], units[i]
    elif operation == "insertion" and size:
        for _ in range(_edit_count(rate, size)):
            unit = units[rng.integers(len(units))]
            units.insert(int(rng.integers(len(units) + 1)), unit)
    return join_units(units)


def augment_data(
    data: TextClassificationData,
    copies: int = 1,
    rate: float = 0.1,
    *,
    operations: Sequence[str] = OPERATIONS,
    seed: int = 13,
) -> TextClassificationData:
    """The rows of `data`, then `copies` edited copies of every row (labels kept).

    Each copy of a text gets one operation drawn at random from `operations`; a paired text
    (`text_pairs`) gets the same operation drawn independently. Reproducible with `seed`.
    """
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 0:
        raise DataError(f"augmentation copies must be a whole number >= 0, got {copies!r}.")
    if not 0.0 < rate <= 1.0:
        raise DataError(f"the augmentation rate must be in (0, 1], got {rate}.")
    unknown = [name for name in operations if name not in OPERATIONS]
    if unknown or not operations:
        raise DataError(
            f"augmentation operations must be some of {', '.join(OPERATIONS)}; got "
            f"{list(operations)}."
        )
    if copies == 0 or not len(data):
        return data
    rng = np.random.default_rng(seed)
    texts = list(data.texts)
    pairs = None if data.text_pairs is None else list(data.text_pairs)
    for _ in range(copies):
        for index, text in enumerate(data.texts):
            operation = operations[int(rng.integers(len(operations)))]
            texts.append(augment_text(text, operation, rate, rng))
            if pairs is not None:
                pairs.append(augment_text(data.text_pairs[index], operation, rate, rng))
    labels = None
    if data.labels is not None:
        rows = data.subset(list(range(len(data))) * copies).labels  # copied lists, not shared
        labels = list(data.labels) + list(rows)
    return TextClassificationData(texts, labels, pairs)
