"""Reading labelled text from CSV, TSV, JSON Lines and TFRecord files into one in-memory form.

Every problem a user can fix in their file (missing column, empty text, bad encoding, unknown
label, ...) becomes a `DataError` whose message says what is wrong, where, and what to do,
because a traceback from deep inside training is a poor way to learn that row 812 is empty.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfbert.data.labels import LabelVocabulary, is_missing_label, unify_numeric_spellings
from tfbert.errors import DataError
from tfbert.text.cleaning import clean_text

__all__ = [
    "SUPPORTED_FORMATS",
    "LabelVocabulary",
    "TextClassificationData",
    "clean_text",
    "detect_format",
    "read_examples",
    "train_validation_split",
]

# Suffix -> format name; `file_format` accepts the format names (and the suffixes without a dot).
_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".tfrecord": "tfrecord",
    ".tfrec": "tfrecord",
}
SUPPORTED_FORMATS = ("csv", "tsv", "jsonl", "tfrecord")
_FORMAT_ALIASES = {"tab": "tsv", "ndjson": "jsonl", "jsonlines": "jsonl", "tfrec": "tfrecord"}

Labels = list[str] | list[list[str]]


@dataclass
class TextClassificationData:
    """Texts (optionally paired) with string labels, the common currency of every reader.

    Labels stay strings here so that files with `1`, `"1"` or `"pos"` all look the same;
    turning them into ids is the job of `LabelVocabulary`, which the model keeps. Texts must be
    strings and labels may not be missing values (None, NaN): a `DataError` names the first
    offending row, so a pandas column holding NaN is never trained on as the text "nan".
    """

    texts: list[str]
    labels: Labels | None
    text_pairs: list[str] | None = None

    def __post_init__(self) -> None:
        n = len(self.texts)
        _check_strings(self.texts, "texts")
        if self.text_pairs is not None:
            _check_strings(self.text_pairs, "text_pairs")
        if self.labels is not None:
            _check_labels(self.labels)
        if self.labels is not None and len(self.labels) != n:
            raise DataError(
                f"{n} texts but {len(self.labels)} labels; give one label (or label list) per text."
            )
        if self.text_pairs is not None and len(self.text_pairs) != n:
            raise DataError(
                f"{n} texts but {len(self.text_pairs)} paired texts; give one pair text per text."
            )

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def is_multi_label(self) -> bool:
        """True when each row holds a list of labels."""
        return bool(self.labels) and isinstance(self.labels[0], list)

    def subset(self, indices: Sequence[int]) -> TextClassificationData:
        """Rows at `indices`, in that order (for splits, samples and cross-validation folds)."""
        idx = [int(i) for i in indices]
        n = len(self.texts)
        bad = [i for i in idx if not -n <= i < n]
        if bad:
            raise DataError(
                f"subset index {bad[0]} is out of range for {n} rows; use indices 0..{n - 1}."
            )
        labels = None
        if self.labels is not None:
            labels = [_copy_label(self.labels[i]) for i in idx]
        pairs = None if self.text_pairs is None else [self.text_pairs[i] for i in idx]
        return TextClassificationData([self.texts[i] for i in idx], labels, pairs)


def _check_strings(values: Sequence[Any], name: str) -> None:
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise DataError(
                f"{name}[{i}] is {value!r} ({type(value).__name__}), not a string; every text "
                f"must be a string. Drop or fill in missing texts (e.g. pandas' dropna) first."
            )


def _check_labels(labels: Sequence[Any]) -> None:
    for i, label in enumerate(labels):
        items = label if isinstance(label, (list, tuple)) else [label]
        for item in items:
            if is_missing_label(item):
                raise DataError(
                    f"labels[{i}] is {item!r}, a missing value rather than a class name; fill in "
                    f"the label or drop the row."
                )
            if isinstance(item, (dict, list, tuple, set)):
                raise DataError(
                    f"labels[{i}] holds a {type(item).__name__}; a label is a string or a number "
                    f"(a list of them per row for multi-label data)."
                )


def _copy_label(label: str | list[str]) -> str | list[str]:
    return list(label) if isinstance(label, list) else label


# --------------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------------

# `clean_text` lives with the other text normalisation, in `tfbert.text.cleaning`.


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------


def detect_format(path: str | os.PathLike[str], file_format: str | None = None) -> str:
    """The reader to use: `file_format` when given, otherwise from the file suffix."""
    name = Path(path).name
    if file_format is not None:
        fmt = file_format.strip().lower().lstrip(".")
        fmt = _FORMAT_ALIASES.get(fmt, fmt)
        if fmt not in SUPPORTED_FORMATS:
            raise DataError(
                f"unknown file format {file_format!r}; supported formats are: "
                f"{', '.join(SUPPORTED_FORMATS)}. Pass one of them as --file-format."
            )
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        raise DataError(
            f"{name}: only JSON Lines is supported (one JSON object per line, suffix .jsonl); "
            f"if {name} has one object per line, pass --file-format jsonl, else convert it."
        )
    if suffix not in _SUFFIX_FORMATS:
        raise DataError(
            f"cannot tell the format of {name} from its suffix {suffix or '(none)'!r}; "
            f"known suffixes are: {', '.join(_SUFFIX_FORMATS)}. Rename the file or pass "
            f"--file-format ({', '.join(SUPPORTED_FORMATS)})."
        )
    return _SUFFIX_FORMATS[suffix]


def read_examples(
    path: str | os.PathLike[str],
    *,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    multi_label: bool = False,
    label_separator: str = ",",
    file_format: str | None = None,
    clean: bool = False,
    require_labels: bool = True,
) -> TextClassificationData:
    """Read one file of examples, checking it so that training never starts on bad data.

    Labels become strings (`1` -> `"1"`, surrounding spaces stripped). With `multi_label`, a
    CSV/TSV cell is split on `label_separator`, a JSON list is the label set and every value of
    a TFRecord label feature is one label; an empty set is allowed (no class applies).
    With `require_labels=False` (prediction input), labels are returned only when every row has
    one, else `None`. `clean=True` applies `clean_text` before the empty-text check.

    Refused with a `DataError` naming the file and row: a text that is not a string (in JSON
    Lines: an object, list, number, boolean or null), a label that is a JSON object, a missing
    label (an empty cell, JSON null, or a missing value written as text: `NaN`, `<NA>`, `#N/A`,
    `N/A`; never a class named "NaN"), one column used for two roles, a header naming a used
    column twice, and a JSON line repeating a key. Labels that spell one number in different
    ways (`1` and `1.0`) are one class: they are rewritten to the most frequent spelling, with a
    warning.
    """
    _check_column_names(text_column, text_pair_column, label_column)
    if multi_label and not label_separator:
        raise DataError(
            "label_separator is empty; pass the character that separates the labels of a "
            "multi-label cell, e.g. ','."
        )
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"{path} does not exist; check the path (relative paths start at {Path.cwd()})."
        )
    if path.is_dir():
        raise DataError(f"{path} is a directory; pass the path of a data file inside it.")
    fmt = detect_format(path, file_format)

    columns = _Columns(text_column, text_pair_column, label_column, require_labels)
    if fmt == "tfrecord":
        records = _read_tfrecord(path, columns)
    else:
        content = _read_utf8(path)
        if fmt == "jsonl":
            records = _read_jsonl(path, content, columns)
        else:
            records = _read_delimited(path, content, columns, "\t" if fmt == "tsv" else ",")
    return _assemble(path, records, columns, multi_label, label_separator, clean)


def _check_column_names(text: str, pair: str | None, label: str) -> None:
    roles = [("--text-column", text), ("--text-pair-column", pair), ("--label-column", label)]
    roles = [(flag, name) for flag, name in roles if name is not None]
    for flag, name in roles:
        if not isinstance(name, str) or not name:
            raise DataError(f"{flag} must be a non-empty column name, got {name!r}.")
    for i, (flag, name) in enumerate(roles):
        for other_flag, other in roles[i + 1 :]:
            if name == other:
                raise DataError(
                    f"{flag} and {other_flag} are both {name!r}; one column cannot be two "
                    f"things. Pass the name of the other column to one of them."
                )


@dataclass
class _Columns:
    text: str
    pair: str | None
    label: str
    require_labels: bool


@dataclass
class _Record:
    where: str  # "row 3 (line 4)", "line 7", "record 2": for messages
    text: Any
    pair: Any
    label: Any  # None = missing; str, list or number otherwise


def _read_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path.name} is not UTF-8: byte 0x{data[err.start]:02x} at byte offset {err.start} "
            f"(line {line}) cannot be decoded. Re-save the file as UTF-8, e.g. "
            f"`iconv -f <its encoding> -t utf-8 {path.name} > fixed{path.suffix}`."
        ) from None


def _missing_column_error(path: Path, kind: str, column: str, present: Iterable[str]) -> DataError:
    flag = {"text": "--text-column", "pair": "--text-pair-column", "label": "--label-column"}[kind]
    shown = ", ".join(present) or "(none)"
    return DataError(
        f"{path.name} has no column {column!r}; columns are: {shown}. "
        f"Pass {flag} with the name of the {kind if kind != 'pair' else 'second text'} column."
    )


class _MalformedError(DataError):
    """A row that does not parse; for TSV the reader then retries without quote handling."""


def _read_delimited(path: Path, content: str, columns: _Columns, delimiter: str) -> list[_Record]:
    """CSV/TSV with standard quoting; TSV falls back to no quoting (GLUE-style files)."""
    old_limit = csv.field_size_limit()
    csv.field_size_limit(max(old_limit, 2**31 - 1))  # long documents exceed the 128 KiB default
    try:
        try:
            return _parse_delimited(path, content, columns, delimiter, csv.QUOTE_MINIMAL)
        except _MalformedError as quoted_error:
            if delimiter != "\t":
                raise
            try:
                # Unquoted TSV (GLUE and many corpora): a quote is just a character there.
                return _parse_delimited(path, content, columns, delimiter, csv.QUOTE_NONE)
            except _MalformedError:
                raise quoted_error from None
    finally:
        csv.field_size_limit(old_limit)


def _parse_delimited(
    path: Path, content: str, columns: _Columns, delimiter: str, quoting: int
) -> list[_Record]:
    reader = csv.reader(
        io.StringIO(content, newline=""), delimiter=delimiter, quoting=quoting, strict=True
    )
    try:
        header = next(reader, None)
        while header is not None and not header:  # leading blank lines
            header = next(reader, None)
        if header is None:
            raise DataError(f"{path.name} is empty; it needs a header row and at least one row.")
        header = [h.strip() for h in header]
        index = _column_indices(path, header, columns)
        records = []
        row_number = 0
        for cells in reader:
            if not cells or (len(cells) == 1 and not cells[0].strip() and len(header) > 1):
                continue  # blank line
            row_number += 1
            where = f"row {row_number} (line {reader.line_num})"
            if len(cells) != len(header):
                sep = "tab" if delimiter == "\t" else "comma"
                raise _MalformedError(
                    f"{path.name} {where} has {len(cells)} fields but the header has "
                    f"{len(header)}; quote fields that contain a {sep} or a line break "
                    f'("like, this"), or fix the row.'
                )
            records.append(
                _Record(
                    where,
                    cells[index["text"]],
                    None if index["pair"] is None else cells[index["pair"]],
                    None if index["label"] is None else cells[index["label"]],
                )
            )
    except csv.Error as err:
        kind = "TSV" if delimiter == "\t" else "CSV"
        raise _MalformedError(
            f"{path.name} line {reader.line_num} is not valid {kind} ({err}); close the quotes "
            f'in that row (a quote inside a quoted field is written twice: "") or remove the '
            f"stray quote character."
        ) from None
    if not records:
        raise DataError(f"{path.name} has a header but no rows; add examples below the header.")
    return records


def _column_indices(path: Path, header: list[str], columns: _Columns) -> dict[str, int | None]:
    def find(kind: str, name: str | None, required: bool) -> int | None:
        if name is None:
            return None
        if header.count(name) > 1:
            positions = ", ".join(str(i + 1) for i, h in enumerate(header) if h == name)
            raise DataError(
                f"{path.name}'s header names column {name!r} {header.count(name)} times (columns "
                f"{positions}); rename the duplicates so that each column has its own name."
            )
        if name in header:
            return header.index(name)
        if required:
            raise _missing_column_error(path, kind, name, header)
        return None

    return {
        "text": find("text", columns.text, True),
        "pair": find("pair", columns.pair, True),
        "label": find("label", columns.label, columns.require_labels),
    }


def _read_jsonl(path: Path, content: str, columns: _Columns) -> list[_Record]:
    records = []
    label_seen = False
    first_keys: list[str] | None = None
    # split("\n"), not splitlines(): JSON strings may hold U+2028 and other line separators raw.
    for line_number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, object_pairs_hook=_no_duplicate_keys)
        except _DuplicateKeyError as err:
            raise DataError(
                f"{path.name} line {line_number} has the key {err.key!r} twice; keep one of "
                f"them (JSON readers silently keep only the last)."
            ) from None
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path.name} line {line_number} is not valid JSON ({err.msg} at column "
                f"{err.colno}); each line must be one JSON object such as "
                f'{{"text": "...", "label": "..."}}. Fix or remove that line.'
            ) from None
        if not isinstance(obj, dict):
            raise DataError(
                f"{path.name} line {line_number} is a JSON {type(obj).__name__}, not an object; "
                f'write each example as {{"{columns.text}": "...", "{columns.label}": "..."}}.'
            )
        if first_keys is None:
            first_keys = list(obj)
        where = f"line {line_number}"
        for kind, name in (("text", columns.text), ("pair", columns.pair)):
            if name is not None and name not in obj:
                if not records:
                    raise _missing_column_error(path, kind, name, obj)
                raise DataError(
                    f"{path.name} {where} has no key {name!r} (keys there: {', '.join(obj)}); "
                    f"add it or drop the line."
                )
        label_seen = label_seen or columns.label in obj
        _check_json_types(path, line_number, line, obj, columns)
        records.append(
            _Record(
                where,
                obj[columns.text],
                None if columns.pair is None else obj[columns.pair],
                obj.get(columns.label),
            )
        )
    if not records:
        raise DataError(f"{path.name} is empty; it needs one JSON object per line.")
    if columns.require_labels and not label_seen:
        raise _missing_column_error(path, "label", columns.label, first_keys or [])
    return records


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return obj


_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "a list",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _check_json_types(
    path: Path, line_number: int, line: str, obj: dict[str, Any], columns: _Columns
) -> None:
    """Texts must be JSON strings; labels strings, numbers or booleans (lists for multi-label)."""

    def refuse(key: str, what: str, fix: str) -> DataError:
        column = _json_value_column(line, key)
        at = f", column {column}" if column else ""
        return DataError(f"{path.name} line {line_number}{at}: {key!r} is {what}; {fix}")

    for name in (columns.text, columns.pair):
        if name is not None and not isinstance(obj[name], str):
            what = _JSON_TYPE_NAMES.get(type(obj[name]), type(obj[name]).__name__)
            raise refuse(name, what, 'a text must be a JSON string such as "a good film".')
    label = obj.get(columns.label)
    items = label if isinstance(label, list) else [label]
    for item in items:
        if isinstance(item, (dict, list)):
            what = _JSON_TYPE_NAMES[type(item)]
            what = what if item is label else f"a list holding {what}"
            raise refuse(
                columns.label,
                what,
                "a label is a string or a number, and a multi-label row lists them: "
                '["sports", "politics"].',
            )


def _json_value_column(line: str, key: str) -> int | None:
    """1-based column where the value of top-level `key` starts in a one-object JSON line."""
    decoder = json.JSONDecoder()
    whitespace = re.compile(r"[ \t\r\n]*")
    try:
        pos = whitespace.match(line, 0).end() + 1  # past "{"
        while True:
            pos = whitespace.match(line, pos).end()
            name, pos = json.decoder.scanstring(line, pos + 1)
            pos = whitespace.match(line, pos).end() + 1  # past ":"
            pos = whitespace.match(line, pos).end()
            if name == key:
                return pos + 1
            _, pos = decoder.raw_decode(line, pos)
            pos = whitespace.match(line, pos).end() + 1  # past ","
    except (ValueError, IndexError):
        return None


def _read_tfrecord(path: Path, columns: _Columns) -> list[_Record]:
    import tensorflow as tf  # deferred: importing TensorFlow costs seconds and most files are CSV

    records = []
    label_seen = False
    number = 0
    try:
        for number, raw in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator(), 1):
            try:
                example = tf.train.Example.FromString(raw)
            except Exception:  # protobuf raises its own DecodeError type
                raise DataError(
                    f"{path.name} record {number} is not a tf.train.Example; write records with "
                    f"tf.train.Example(features=...).SerializeToString()."
                ) from None
            features = example.features.feature
            where = f"record {number}"
            for kind, name in (("text", columns.text), ("pair", columns.pair)):
                if name is not None and name not in features:
                    if not records:
                        raise _missing_column_error(path, kind, name, sorted(features))
                    raise DataError(
                        f"{path.name} {where} has no feature {name!r} (features there: "
                        f"{', '.join(sorted(features))}); add it or drop the record."
                    )
            label = None
            if columns.label in features:
                label_seen = True
                label = _feature_values(path, where, columns.label, features[columns.label])
            text = _single_text(path, where, columns.text, features[columns.text])
            pair = None
            if columns.pair is not None:
                pair = _single_text(path, where, columns.pair, features[columns.pair])
            records.append(_Record(where, text, pair, label))
    except tf.errors.DataLossError:
        raise DataError(
            f"{path.name} is not a readable TFRecord file (corrupt or truncated after record "
            f"{number}); if it is GZIP-compressed, decompress it first, else write it again."
        ) from None
    if not records:
        raise DataError(f"{path.name} is empty; it holds no tf.train.Example records.")
    if columns.require_labels and not label_seen:
        first = tf.train.Example.FromString(
            next(iter(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()))
        )
        raise _missing_column_error(path, "label", columns.label, sorted(first.features.feature))
    return records


def _feature_values(path: Path, where: str, name: str, feature: Any) -> list[str]:
    kind = feature.WhichOneof("kind")
    if kind is None:
        return []
    if kind == "bytes_list":
        out = []
        for value in feature.bytes_list.value:
            try:
                out.append(value.decode("utf-8"))
            except UnicodeDecodeError:
                raise DataError(
                    f"{path.name} {where}: feature {name!r} is not UTF-8 text; store strings "
                    f"as text.encode('utf-8')."
                ) from None
        return out
    if kind == "int64_list":
        return [str(v) for v in feature.int64_list.value]
    return [_number_to_str(v) for v in feature.float_list.value]


def _single_text(path: Path, where: str, name: str, feature: Any) -> str | None:
    if feature.WhichOneof("kind") not in (None, "bytes_list"):
        raise DataError(
            f"{path.name} {where}: feature {name!r} is a {feature.WhichOneof('kind')}, but text "
            f"must be a bytes_list feature holding UTF-8 text."
        )
    values = _feature_values(path, where, name, feature)
    if len(values) > 1:
        raise DataError(
            f"{path.name} {where}: feature {name!r} holds {len(values)} strings; a text feature "
            f"must hold exactly one. Join them before writing the record."
        )
    return values[0] if values else None


def _number_to_str(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _label_to_str(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return _number_to_str(value)
    return str(value).strip()


def _assemble(
    path: Path,
    records: list[_Record],
    columns: _Columns,
    multi_label: bool,
    separator: str,
    clean: bool,
) -> TextClassificationData:
    texts = [_checked_text(path, r.where, r.text, columns.text, clean) for r in records]
    pairs = None
    if columns.pair is not None:
        pairs = [_checked_text(path, r.where, r.pair, columns.pair, clean) for r in records]

    labels: list[Any] = []
    missing: list[str] = []
    for r in records:
        label = _parse_label(path, r, multi_label, separator)
        if label is None:
            missing.append(r.where)
        labels.append(label)
    if missing:
        if columns.require_labels:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            rows = ""
            if len(missing) > 1:
                listed = ", ".join(where.split(" (")[0] for where in missing[:10])
                rows = f" Rows without a label: {listed}{', ...' if len(missing) > 10 else ''}."
            raise DataError(
                f"{path.name} {missing[0]}{more} has no label (column {columns.label!r}); every "
                f"training row needs one, and empty or NaN labels are refused rather than "
                f"dropped or made a class. Fill them in or drop those rows.{rows}"
            )
        return TextClassificationData(texts, None, pairs)
    return TextClassificationData(texts, _unify_numbers(path, labels, multi_label), pairs)


def _unify_numbers(path: Path, labels: list[Any], multi_label: bool) -> list[Any]:
    """Rewrites other spellings of one number (`1.0` next to `1`) to its most frequent one."""
    counts = Counter(
        item for label in labels for item in (label if isinstance(label, list) else [label])
    )
    renames = unify_numeric_spellings(counts)
    if not renames:
        return labels
    merged = "; ".join(
        f"{spelling!r} ({counts[spelling]} rows) as {kept!r}"
        for spelling, kept in list(renames.items())[:5]
    )
    warnings.warn(
        f"{path.name}: labels that spell the same number are one class; read {merged}. "
        f"Write each label one way to silence this warning.",
        stacklevel=3,
    )
    if multi_label:
        return [_unique([renames.get(item, item) for item in label]) for label in labels]
    return [renames.get(label, label) for label in labels]


def _checked_text(path: Path, where: str, value: Any, column: str, clean: bool) -> str:
    if value is not None and not isinstance(value, str):
        raise DataError(
            f"{path.name} {where}: {column!r} is a {type(value).__name__}, not a string; every "
            f"text must be a string."
        )
    text = "" if value is None else value
    if clean:
        text = clean_text(text)
    if not text.strip():
        after = " after cleaning" if clean and value is not None and str(value).strip() else ""
        raise DataError(
            f"{path.name} {where} has an empty {column!r}{after}; fill in or clean the text, "
            f"or drop the row (a model cannot classify nothing)."
        )
    return text


def _parse_label(path: Path, record: _Record, multi_label: bool, separator: str) -> Any:
    value = record.label
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, float) and math.isinf(item):
            raise DataError(
                f"{path.name} {record.where} has the label {item}, which cannot name a class; "
                f"use a finite number or a name."
            )
    if is_missing_label(value):
        return None
    if multi_label:
        if isinstance(value, list):
            items = [_label_to_str(v) for v in value if v is not None]
        elif isinstance(value, str):
            items = [part.strip() for part in value.split(separator)]
        else:
            items = [_label_to_str(value)]
        items = [item for item in items if item]
        for item in items:
            _refuse_missing(path, record, item)
        return _unique(items)
    if isinstance(value, list):
        if len(value) == 1:
            value = value[0]
        elif not value:
            return None
        else:
            raise DataError(
                f"{path.name} {record.where} has {len(value)} labels "
                f"({', '.join(map(_label_to_str, value[:5]))}); pass --multi-label if a row may "
                f"have several labels, else keep one label per row."
            )
    if is_missing_label(value):
        return None
    label = _label_to_str(value)
    _refuse_missing(path, record, label)
    return label or None


def _refuse_missing(path: Path, record: _Record, label: str) -> None:
    if is_missing_label(label):
        raise DataError(
            f"{path.name} {record.where} lists {label!r} among its labels, a missing value "
            f"rather than a class name; remove it from the list or fill in the label."
        )


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------


def train_validation_split(
    data: TextClassificationData,
    *,
    validation_fraction: float = 0.1,
    seed: int = 13,
    stratify: bool = True,
) -> tuple[TextClassificationData, TextClassificationData]:
    """Hold out a validation set when the data came as one file; same seed, same split.

    Stratifying keeps rare classes in both parts. Multi-label data is stratified on each row's
    first label; when stratification is impossible (a class with a single row, or fewer
    validation rows than classes) it falls back to a plain random split with a warning.
    """
    from sklearn.model_selection import train_test_split  # deferred: slow import

    if not 0.0 < validation_fraction < 1.0:
        raise DataError(
            f"validation_fraction must be between 0 and 1 (exclusive), got {validation_fraction}; "
            f"0.1 holds out 10%."
        )
    n = len(data)
    n_val = math.ceil(validation_fraction * n)
    if n < 2 or n_val >= n:
        raise DataError(
            f"{n} rows are too few to split off a validation set of {validation_fraction:.0%}; "
            f"add rows, lower validation_fraction, or pass a separate validation file."
        )

    strata = None
    if stratify and data.labels is not None:
        strata = [
            (label[0] if label else "") if isinstance(label, list) else label
            for label in data.labels
        ]
        counts = Counter(strata)
        if min(counts.values()) < 2 or n_val < len(counts) or n - n_val < len(counts):
            warnings.warn(
                "cannot stratify the validation split (a class has a single row, or there are "
                "fewer validation rows than classes); using a random split instead.",
                stacklevel=2,
            )
            strata = None
    train_idx, val_idx = train_test_split(
        np.arange(n), test_size=n_val, random_state=seed, shuffle=True, stratify=strata
    )
    return data.subset(train_idx), data.subset(val_idx)
