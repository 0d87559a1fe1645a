"""Label names <-> class ids: the mapping a trained classifier keeps with its weights.

`LabelVocabulary` covers single-label data (one class id per row) and multi-label data (a
multi-hot row per example). Labels are strings everywhere before this point, so that `1`,
`"1"` and `1.0` read from different files look alike; two rules keep that honest:

* Numerically equal names are one class. `"1"`, `"1.0"` and `"1e0"` can never become two
  classes: `from_labels` keeps one spelling (the most frequent one), `encode` accepts any
  spelling of a known number, and a vocabulary listing two spellings of one number is refused.
* A missing value written as text (`NaN`, `nan`, `<NA>`, `#N/A`, `N/A`, as pandas and
  spreadsheets write them) is not a class name: building a vocabulary from such labels is
  refused, naming the offending value (`is_missing_label` tells them apart).

Sequence tagging (BIO/BIOES tag sets) would add its own vocabulary type next to this one,
sharing the same names <-> ids contract (`names`, `encode`, `decode`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from tfbert.errors import DataError

__all__ = ["LabelVocabulary", "is_missing_label", "numeric_value", "unify_numeric_spellings"]

_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# Spellings of a missing value that pandas, R and spreadsheets write into text files.
_MISSING_SPELLINGS = frozenset({"nan", "+nan", "-nan", "<na>", "#n/a", "n/a"})


def is_missing_label(value: Any) -> bool:
    """True for None, a float NaN and the text spellings of a missing value (`NaN`, `#N/A`...)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value.strip().lower() in _MISSING_SPELLINGS


def numeric_value(name: str) -> Decimal | None:
    """The exact number a label name spells (`"1.0"` -> 1), or None when it is not a number."""
    if not _NUMBER_RE.fullmatch(name):
        return None
    try:
        return Decimal(name)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        return None


def unify_numeric_spellings(names: Iterable[str] | Counter[str]) -> dict[str, str]:
    """Maps each spelling of a number to the one spelling kept for it, where there are several.

    The kept spelling is the most frequent in `names` (the first seen on a tie). Returns only
    the spellings that change, e.g. `{"1.0": "1"}` for `["1", "1", "1.0", "0"]`.
    """
    counts = names if isinstance(names, Counter) else Counter(names)
    groups: dict[Decimal, list[str]] = {}
    for name in counts:  # Counter keeps first-seen order
        number = numeric_value(name)
        if number is not None:
            groups.setdefault(number, []).append(name)
    renames = {}
    for spellings in groups.values():
        if len(spellings) > 1:
            kept = max(spellings, key=lambda s: counts[s])  # max keeps the first on a tie
            renames.update({s: kept for s in spellings if s != kept})
    return renames


def _label_sort_key(name: str) -> tuple[int, float, str]:
    if _NUMBER_RE.fullmatch(name):
        return (0, float(name), name)
    return (1, 0.0, name)


def _flatten(labels: Iterable[Any], multi_label: bool) -> Iterator[str]:
    for label in labels:
        if isinstance(label, (list, tuple)):
            if not multi_label:
                raise DataError(
                    "a row holds a list of labels but multi_label is off; pass --multi-label "
                    "for multi-label data."
                )
            yield from (_name(x) for x in label)
        else:
            yield _name(label)


def _name(label: Any) -> str:
    if is_missing_label(label):
        raise DataError(
            f"a label is {label!r}, a missing value rather than a class name; fill in the "
            f"label or drop the row before training."
        )
    return str(label)


class LabelVocabulary:
    """The fixed mapping between label names and class ids that a trained model depends on.

    It is built once from the training labels and saved with the model, so that predictions
    decode to the same names whatever order later files list their labels in. Numerically
    equal names (`"1"`, `"1.0"`) are one class: see the module documentation.
    """

    def __init__(self, names: Sequence[str]) -> None:
        names = [str(n) for n in names]
        duplicates = sorted(n for n, c in Counter(names).items() if c > 1)
        if duplicates:
            raise DataError(
                f"label names must be unique; repeated: {', '.join(duplicates[:5])}. "
                f"List each class once."
            )
        if any(not n.strip() for n in names):
            raise DataError("a label name is empty; every class needs a non-empty name.")
        self.names: list[str] = names
        self._ids = {name: i for i, name in enumerate(names)}
        self._numeric_ids: dict[Decimal, int] = {}
        for i, name in enumerate(names):
            number = numeric_value(name)
            if number is None:
                continue
            if number in self._numeric_ids:
                other = names[self._numeric_ids[number]]
                raise DataError(
                    f"label names {other!r} and {name!r} are the same number, so they cannot be "
                    f"two classes; keep one spelling."
                )
            self._numeric_ids[number] = i

    @classmethod
    def from_labels(cls, labels: Iterable[Any], multi_label: bool = False) -> LabelVocabulary:
        """Sorted unique names, numbers numerically ("2" < "10"), so ids are reproducible.

        Spellings of one number (`"1"`, `"1.0"`) make one class, named by the most frequent
        spelling; a missing value (`NaN`, None) is refused.
        """
        counts = Counter(_flatten(labels, multi_label))
        for spelling, kept in unify_numeric_spellings(counts).items():
            counts[kept] += counts.pop(spelling)
        if not counts:
            raise DataError(
                "the training labels are empty; a classifier needs labelled examples of at "
                "least two classes."
            )
        if len(counts) == 1:
            (only,) = counts
            raise DataError(
                f"only one class {only!r} in the training labels; a classifier needs at least "
                f"two. Add examples of the other classes."
            )
        return cls(sorted(counts, key=_label_sort_key))

    def __len__(self) -> int:
        return len(self.names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelVocabulary) and self.names == other.names

    def __hash__(self) -> int:
        return hash(tuple(self.names))

    def __repr__(self) -> str:
        return f"LabelVocabulary({self.names!r})"

    def id_of(self, name: Any) -> int | None:
        """The class id of `name` (any spelling of a numeric name), or None if unknown."""
        name = str(name)
        found = self._ids.get(name)
        if found is None and self._numeric_ids:
            number = numeric_value(name.strip())
            if number is not None:
                found = self._numeric_ids.get(number)
        return found

    def encode(self, labels: Iterable[Any], multi_label: bool = False) -> np.ndarray:
        """int32 class ids [N], or a float32 multi-hot matrix [N, num_classes] for multi-label."""
        labels = list(labels)
        unknown: Counter[str] = Counter()
        if multi_label:
            out = np.zeros((len(labels), len(self.names)), dtype=np.float32)
            for row, label in enumerate(labels):
                names = [label] if isinstance(label, str) else label
                for name in names:
                    i = self.id_of(name)
                    if i is None:
                        unknown[str(name)] += 1
                    else:
                        out[row, i] = 1.0
        else:
            ids = []
            for label in labels:
                if isinstance(label, (list, tuple)):
                    raise DataError(
                        "a row holds a list of labels but multi_label is off; pass --multi-label "
                        "for multi-label data."
                    )
                i = self.id_of(label)
                if i is None:
                    unknown[str(label)] += 1
                ids.append(-1 if i is None else i)
            out = np.asarray(ids, dtype=np.int32)
        if unknown:
            shown = ", ".join(f"{name!r} ({count} rows)" for name, count in unknown.most_common(5))
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            known = ", ".join(self.names[:20]) + (", ..." if len(self.names) > 20 else "")
            raise DataError(
                f"{sum(unknown.values())} rows have labels that are not in the label vocabulary: "
                f"{shown}{more}. "
                f"Known labels: {known}. Relabel or drop those rows, or retrain with them in the "
                f"training data."
            )
        return out

    def decode(self, ids: Iterable[int] | np.ndarray) -> list[str]:
        """Label names for class ids (for example the argmax of the logits)."""
        flat = np.asarray(ids).reshape(-1)
        if flat.size and not np.issubdtype(flat.dtype, np.integer):
            raise DataError(
                f"class ids must be integers, got {flat.dtype}; take the argmax of the "
                f"probabilities first."
            )
        bad = [int(i) for i in flat if not 0 <= int(i) < len(self.names)]
        if bad:
            raise DataError(
                f"class id {bad[0]} is out of range for {len(self.names)} labels; the model and "
                f"its label vocabulary do not match."
            )
        return [self.names[int(i)] for i in flat]
