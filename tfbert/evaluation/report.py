"""Evaluation reports: plain dataclasses that print as a table and round-trip through JSON.

Every task kind measures different things, but all of its reports share one face: `to_dict` /
`to_json` to keep an evaluation next to a model, `from_json` to compare it later without
re-running it, and `format_table` (also `str(report)`) for terminals and logs. `Report` gives
that face to any dataclass that subclasses it with a `kind`; `load_report` reads a JSON file
back into the right class from the `kind` it was written with. Classification's report is
`EvaluationReport` (its per-class rows, `ClassReport`, suit any per-label score table, e.g.
entity types). A classification report may carry the scores of a simple reference model on the
same examples (`BaselineScores`, by default the TF-IDF baseline): the table, the JSON and the
plots then show it beside the model, with a warning when the model is below it.

    report = evaluate_classifier(model, data.test)
    report.to_json("runs/imdb/evaluation/test.json")
    print(load_report("runs/imdb/evaluation/test.json").format_table())
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tfbert.errors import DataError

# Keys of `EvaluationReport.extra` that `format_table` shows as table rows rather than as a list.
_TABLE_KEYS = frozenset(
    {
        "weighted_precision",
        "weighted_recall",
        "micro_precision",
        "micro_recall",
        "micro_f1",
        "threshold",
    }
)

# The kind assumed for a JSON report without a "kind" key (written before kinds existed).
_DEFAULT_KIND = "classification"
# What a report calls the reference model it is compared with, unless told otherwise.
TFIDF_BASELINE = "TF-IDF baseline"
# Shown when the model is below its baseline: what usually closes the gap.
_BELOW_BASELINE_ADVICE = (
    "try a pretrained starting point (--init-from) if it started from scratch, more epochs, "
    "or use the baseline itself (`tfbert baseline`)"
)
# Per-label rows of the baseline comparison are shown up to this many labels.
_BASELINE_ROWS_UP_TO = 25


class Report:
    """Base of every report type: JSON (de)serialisation and text rendering.

    Subclass it as a dataclass with a class keyword naming the task kind, e.g.
    `class EntityReport(Report, kind="token_classification")`; `load_report` then finds the
    class for a file of that kind with no change anywhere else. Subclasses implement
    `format_table`; `_from_fields` may rebuild nested values (lists of row dataclasses).
    """

    kind: ClassVar[str] = ""
    _kinds: ClassVar[dict[str, type[Report]]] = {}

    def __init_subclass__(cls, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            if kind in Report._kinds and Report._kinds[kind].__qualname__ != cls.__qualname__:
                raise TypeError(f"Report kind {kind!r} is already taken by {Report._kinds[kind]}.")
            cls.kind = kind
            Report._kinds[kind] = cls

    # ----- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (nested lists, numbers and strings), with its `kind`."""
        if not dataclasses.is_dataclass(self):
            raise TypeError(f"{type(self).__name__} must be a dataclass to be serialised.")
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Rebuilds a report written by `to_dict`; names any missing key instead of a TypeError.

        Called on `Report` itself, it picks the subclass from the dict's `kind`.
        """
        if not isinstance(data, Mapping):
            raise DataError(
                f"An evaluation report must be a JSON object, got {type(data).__name__}."
            )
        if cls is Report:
            return _report_class(data.get("kind", _DEFAULT_KIND)).from_dict(data)
        kind = data.get("kind", _DEFAULT_KIND)
        if kind != cls.kind:
            raise DataError(
                f"This is a {kind!r} report, not a {cls.kind!r} one; read it with load_report()."
            )
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        required = [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in data]
        if missing:
            raise DataError(
                f"Evaluation report is missing {', '.join(missing)}; it was not written by "
                f"{cls.__name__}.to_dict/to_json (or was edited). Re-run the evaluation."
            )
        values = {f.name: data[f.name] for f in fields if f.name in data}
        return cls(**cls._from_fields(values))

    @classmethod
    def _from_fields(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Turns JSON values back into field values (override for nested dataclasses)."""
        return values

    def to_json(self, path: str | Path) -> Path:
        """Writes the report as indented UTF-8 JSON, creating parent directories."""
        path = Path(path)
        if path.is_dir():
            raise DataError(
                f"{path} is a directory; give the report a file name, e.g. report.json."
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        except (FileExistsError, NotADirectoryError):
            raise DataError(
                f"Cannot write {path}: a file stands where a directory of that path should be; "
                "choose another location."
            ) from None
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> Any:
        """Reads a report written by `to_json` (on `Report`: of whatever kind it holds)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No evaluation report at {path}.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataError(f"Evaluation report {path} is not valid JSON ({error}).") from None
        return cls.from_dict(data)

    # ----- text rendering ----------------------------------------------------------------------
    def format_table(self, digits: int = 3) -> str:
        """Fixed-width text table of the report for terminals and logs."""
        raise NotImplementedError(f"{type(self).__name__} does not implement format_table.")

    def __str__(self) -> str:
        return self.format_table()


def _report_class(kind: Any) -> type[Report]:
    if not isinstance(kind, str) or kind not in Report._kinds:
        known = ", ".join(sorted(Report._kinds))
        raise DataError(f"Unknown evaluation report kind {kind!r}; known kinds: {known}.")
    return Report._kinds[kind]


def load_report(path: str | Path) -> Report:
    """Reads any report written by `Report.to_json`, as the class of the kind it records."""
    return Report.from_json(path)


@dataclass
class ClassReport:
    """Scores of one label; `support` is its number of true examples (positives in multilabel)."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class MajorityBaseline:
    """What always predicting the most frequent answer would score on the same examples.

    Binary and multiclass: always the most frequent true label (`label`). Multilabel: each
    label's more frequent value (yes or no) on every example; `accuracy` is then the share of
    correct label decisions (1 - Hamming loss), since subset accuracy needs the whole rows.
    """

    label: str | None
    accuracy: float
    macro_f1: float
    weighted_f1: float


@dataclass
class BaselineScores:
    """A simple reference model's scores on the same examples as the report it belongs to.

    `description` says what the model is (e.g. `TfidfClassifier.description()`), `per_class_f1`
    maps each label to its F1, `fit_seconds` is how long fitting it took (None if unknown).
    Build one with `tfbert.evaluation.baseline_scores(model, data)`, or let
    `evaluate_classifier(model, data, baseline=...)` attach it to the report.
    """

    description: str
    accuracy: float
    macro_f1: float
    per_class_f1: dict[str, float]
    fit_seconds: float | None = None
    name: str = TFIDF_BASELINE


@dataclass
class EvaluationReport(Report, kind=_DEFAULT_KIND):
    """Everything measured on one classification evaluation set, serialisable to JSON.

    `confusion_matrix` is `[true][predicted]` counts (C x C) for binary and multiclass. For
    multilabel it is one 2 x 2 matrix per label, `[[tn, fp], [fn, tp]]`, i.e. a C x 2 x 2 nested
    list in `label_names` order (the layout of `sklearn.metrics.multilabel_confusion_matrix`).

    `extra` holds metrics that only some problem types have: `roc_auc` (binary: of column 1;
    multiclass: macro one-vs-rest; multilabel: macro over labels; present only when every class
    occurs in `y_true`), `weighted_precision`/`weighted_recall`, and for multilabel
    `hamming_loss`, `micro_precision`, `micro_recall`, `micro_f1` and the `threshold` used.

    `baseline` (optional) holds the scores of a reference model on the same examples, shown
    beside the model's by `format_table` and the plots; `baseline_warning` says when the model
    is below it. Reports written without one load with `baseline=None`.
    """

    problem_type: str
    label_names: list[str]
    num_examples: int
    accuracy: float  # multilabel: subset accuracy (every label of an example must be right)
    macro_f1: float
    weighted_f1: float
    macro_precision: float
    macro_recall: float
    per_class: list[ClassReport]
    confusion_matrix: list[list[int]] | list[list[list[int]]]
    extra: dict[str, float] = field(default_factory=dict)
    baseline: BaselineScores | None = None

    @classmethod
    def _from_fields(cls, values: dict[str, Any]) -> dict[str, Any]:
        values["per_class"] = [
            item if isinstance(item, ClassReport) else ClassReport(**item)
            for item in values["per_class"]
        ]
        values["label_names"] = list(values["label_names"])
        values["extra"] = dict(values.get("extra", {}))
        baseline = values.get("baseline")
        if isinstance(baseline, Mapping):
            try:
                values["baseline"] = BaselineScores(**baseline)
            except TypeError:
                raise DataError(
                    "The evaluation report's baseline entry is incomplete or has unknown keys; "
                    "it was not written by EvaluationReport.to_json. Re-run the evaluation."
                ) from None
        return values

    # ----- baselines ---------------------------------------------------------------------------
    def majority_baseline(self) -> MajorityBaseline:
        """The scores of a constant majority prediction on the same examples.

        A model is only useful where it beats this: on a set that is 90% one class, 0.9
        accuracy is what predicting that class every time already gets. Computed from the
        per-class supports, so it works on a report read back from JSON.
        """
        n = self.num_examples
        supports = [c.support for c in self.per_class]
        if self.problem_type == "multilabel":
            f1s, correct = [], []
            for positives in supports:
                says_yes = positives * 2 > n  # the more frequent value of this label
                f1s.append(2 * positives / (positives + n) if says_yes and n else 0.0)
                correct.append(max(positives, n - positives) / n if n else 0.0)
            total = sum(supports)
            weighted = (
                sum(f * s for f, s in zip(f1s, supports, strict=True)) / total if total else 0
            )
            return MajorityBaseline(
                label=None,
                accuracy=sum(correct) / len(correct),
                macro_f1=sum(f1s) / len(f1s),
                weighted_f1=float(weighted),
            )
        top = max(range(len(supports)), key=lambda i: supports[i])  # first one on a tie
        share = supports[top] / n if n else 0.0
        top_f1 = 2 * share / (1 + share) if share else 0.0  # precision = share, recall = 1
        return MajorityBaseline(
            label=self.label_names[top],
            accuracy=share,
            macro_f1=top_f1 / len(supports),
            weighted_f1=share * top_f1,
        )

    def below_baseline(self) -> list[str]:
        """The headline metrics ("accuracy", "macro-F1") on which the model is below its
        `baseline`, compared as shown (in percent with one decimal); empty without a baseline."""
        if self.baseline is None:
            return []
        pairs = {
            "accuracy": (self.accuracy, self.baseline.accuracy),
            "macro-F1": (self.macro_f1, self.baseline.macro_f1),
        }
        return [
            name
            for name, (mine, theirs) in pairs.items()
            if round(mine * 100, 1) < round(theirs * 100, 1)
        ]

    def baseline_warning(self) -> str | None:
        """One plain line saying that the model is below its baseline and what to try, or None.

        E.g. "Warning: the model's accuracy (81.0%) is below the TF-IDF baseline's (85.9%) on
        these 872 examples: try a pretrained starting point (--init-from) if ...".
        """
        below = self.below_baseline()
        if not below or self.baseline is None:
            return None
        mine = {"accuracy": self.accuracy, "macro-F1": self.macro_f1}
        theirs = {"accuracy": self.baseline.accuracy, "macro-F1": self.baseline.macro_f1}
        what = " and ".join(f"{name} ({mine[name]:.1%})" for name in below)
        verb = "are" if len(below) > 1 else "is"
        reference = ", ".join(f"{theirs[name]:.1%}" for name in below)
        return (
            f"Warning: the model's {what} {verb} below the {self.baseline.name}'s ({reference}) "
            f"on these {self.num_examples:,} examples: {_BELOW_BASELINE_ADVICE}."
        )

    # ----- text rendering ----------------------------------------------------------------------
    def format_table(self, digits: int = 3) -> str:
        """Fixed-width text table for terminals and logs, in the style of sklearn's report.

        Long label names are cut to fit (marked with '…'); wide (CJK) characters are counted as
        two columns so the grid stays aligned. With a `baseline`, a block compares its accuracy,
        macro-F1 and per-label F1 with the model's, followed by `baseline_warning` if any.
        """
        accuracy_name = "subset accuracy" if self.problem_type == "multilabel" else "accuracy"
        fixed_w = max(_width("weighted avg"), _width(accuracy_name))
        name_w = max(fixed_w, min(max(_width(n) for n in self.label_names), 24))
        num_w = max(digits + 2, 9)
        header = _fit("label", name_w) + "".join(
            _fit(h, num_w, ">") for h in ("precision", "recall", "f1-score", "support")
        )
        rule = "-" * _width(header)
        blank = " " * num_w

        def row(name: str, p: float | None, r: float | None, f: float, support: int) -> str:
            cells = [blank if v is None else f"{v:>{num_w}.{digits}f}" for v in (p, r)]
            return _fit(name, name_w) + "".join(cells) + f"{f:>{num_w}.{digits}f}{support:>{num_w}}"

        total = sum(c.support for c in self.per_class)
        n_labels = len(self.label_names)
        lines = [
            f"{self.problem_type} classification: {self.num_examples} examples, "
            f"{n_labels} label{'s' if n_labels != 1 else ''}",
            "",
            header,
            rule,
        ]
        lines += [row(c.label, c.precision, c.recall, c.f1, c.support) for c in self.per_class]
        lines.append(rule)
        lines.append(row(accuracy_name, None, None, self.accuracy, self.num_examples))
        extra = self.extra
        if "micro_f1" in extra:
            lines.append(
                row(
                    "micro avg",
                    extra.get("micro_precision"),
                    extra.get("micro_recall"),
                    extra["micro_f1"],
                    total,
                )
            )
        lines.append(
            row("macro avg", self.macro_precision, self.macro_recall, self.macro_f1, total)
        )
        lines.append(
            row(
                "weighted avg",
                extra.get("weighted_precision"),
                extra.get("weighted_recall"),
                self.weighted_f1,
                total,
            )
        )

        others = {k: v for k, v in extra.items() if k not in _TABLE_KEYS}
        if others:
            lines.append("")
            key_w = max(_width(k) for k in others)
            lines += [f"{_fit(k, key_w)}  {v:.{digits}f}" for k, v in others.items()]

        if self.baseline is not None:
            lines.append("")
            lines += self._format_baseline(name_w, num_w, digits, accuracy_name)

        lines.append("")
        if self.problem_type == "multilabel":
            lines += self._format_multilabel_confusion(name_w)
        else:
            lines += self._format_confusion(name_w)
        return "\n".join(lines)

    def _format_baseline(
        self, name_w: int, num_w: int, digits: int, accuracy_name: str
    ) -> list[str]:
        """The model's and the baseline's headline scores side by side, then the warning."""
        baseline = self.baseline
        assert baseline is not None
        fitted = (
            f" (fitted in {baseline.fit_seconds:.1f} s)" if baseline.fit_seconds is not None else ""
        )
        col_w = max(num_w, _width(baseline.name) + 2)
        lines = [
            f"{baseline.name}: {baseline.description}{fitted}",
            _fit("", name_w) + _fit("model", num_w, ">") + _fit(baseline.name, col_w, ">"),
        ]

        def row(name: str, mine: float | None, theirs: float | None) -> str:
            cells = [
                " " * width if value is None else f"{value:>{width}.{digits}f}"
                for value, width in ((mine, num_w), (theirs, col_w))
            ]
            return _fit(name, name_w) + "".join(cells)

        lines.append(row(accuracy_name, self.accuracy, baseline.accuracy))
        lines.append(row("macro-F1", self.macro_f1, baseline.macro_f1))
        if len(self.per_class) <= _BASELINE_ROWS_UP_TO:
            lines += [
                row(f"F1 {c.label}", c.f1, baseline.per_class_f1.get(c.label))
                for c in self.per_class
            ]
        warning = self.baseline_warning()
        if warning is not None:
            lines += ["", warning]
        return lines

    def _format_confusion(self, name_w: int) -> list[str]:
        """C x C count grid; falls back to numbered columns when names would not stay distinct."""
        n = len(self.label_names)
        if n > 25:
            return [
                f"Confusion matrix not shown for {n} labels; use plot_confusion_matrix() "
                "or report.confusion_matrix."
            ]
        matrix = self.confusion_matrix
        count_w = max(len(str(v)) for r in matrix for v in r)
        head_w = min(max(_width(name) for name in self.label_names), 10)
        heads = [_fit(name, head_w).rstrip() for name in self.label_names]
        rows = list(self.label_names)
        if len(set(heads)) < n or n > 12:  # truncated names collide or the grid gets too wide
            heads = [str(i) for i in range(n)]
            rows = [f"{i} {name}" for i, name in enumerate(self.label_names)]
        col_w = max(count_w, *(_width(h) for h in heads)) + 2
        lines = [
            "Confusion matrix (rows: true label, columns: predicted label)",
            _fit("true \\ pred", name_w) + "".join(_fit(h, col_w, ">") for h in heads),
        ]
        lines += [
            _fit(name, name_w) + "".join(f"{v:>{col_w}}" for v in counts)
            for name, counts in zip(rows, matrix, strict=True)
        ]
        return lines

    def _format_multilabel_confusion(self, name_w: int) -> list[str]:
        """One row of tn/fp/fn/tp per label, which stays readable for any number of labels."""
        counts = [[v for pair in m for v in pair] for m in self.confusion_matrix]
        col_w = max(len(str(v)) for r in counts for v in r) + 2
        col_w = max(col_w, 5)
        threshold = self.extra.get("threshold")
        suffix = f", threshold {threshold:g}" if threshold is not None else ""
        lines = [
            f"Per-label confusion (tn fp / fn tp{suffix})",
            _fit("label", name_w) + "".join(_fit(h, col_w, ">") for h in ("tn", "fp", "fn", "tp")),
        ]
        lines += [
            _fit(name, name_w) + "".join(f"{v:>{col_w}}" for v in row)
            for name, row in zip(self.label_names, counts, strict=True)
        ]
        return lines


# ----- text layout helpers ---------------------------------------------------------------------
def _width(text: str) -> int:
    """Terminal columns `text` occupies: wide (CJK) characters take 2, combining marks 0."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _fit(text: str, width: int, align: str = "<") -> str:
    """Pads `text` to exactly `width` columns, cutting it with '…' if it is too long."""
    text = " ".join(text.split())  # tabs or newlines in a label would break the grid
    if _width(text) > width:
        kept, used = [], 0
        for ch in text:
            if used + _width(ch) > width - 1:
                break
            kept.append(ch)
            used += _width(ch)
        text = "".join(kept) + "…"
    padding = " " * (width - _width(text))
    return text + padding if align == "<" else padding + text
