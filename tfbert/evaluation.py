"""Metrics, reports and plots for a classifier's predictions on a labelled set.

Every number comes from `sklearn.metrics`, so results match what users get elsewhere. Reports are
plain dataclasses that round-trip through JSON, so an evaluation can be saved next to a model and
compared later without re-running it. matplotlib is imported only inside the plotting functions,
and draws through the Agg canvas directly (never pyplot), so importing this module is cheap, no
window is ever opened and the process-wide backend of a notebook is left alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
import unicodedata
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfbert.errors import DataError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PROBLEM_TYPES: tuple[str, ...] = ("binary", "multiclass", "multilabel")

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
_DPI = 120
_PROBABILITY_TOLERANCE = 1e-4  # float32 softmax/sigmoid outputs can overshoot [0, 1] slightly


@dataclass
class ClassReport:
    """Scores of one label; `support` is its number of true examples (positives in multilabel)."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class EvaluationReport:
    """Everything measured on one evaluation set, serialisable to JSON.

    `confusion_matrix` is `[true][predicted]` counts (C x C) for binary and multiclass. For
    multilabel it is one 2 x 2 matrix per label, `[[tn, fp], [fn, tp]]`, i.e. a C x 2 x 2 nested
    list in `label_names` order (the layout of `sklearn.metrics.multilabel_confusion_matrix`).

    `extra` holds metrics that only some problem types have: `roc_auc` (binary: of column 1;
    multiclass: macro one-vs-rest; multilabel: macro over labels; present only when every class
    occurs in `y_true`), `weighted_precision`/`weighted_recall`, and for multilabel
    `hamming_loss`, `micro_precision`, `micro_recall`, `micro_f1` and the `threshold` used.
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

    # ----- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (nested lists and floats only)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationReport:
        """Rebuilds a report written by `to_dict`; names any missing key instead of a TypeError."""
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [name for name in names if name not in data and name != "extra"]
        if missing:
            raise DataError(
                f"Evaluation report is missing {', '.join(missing)}; it was not written by "
                "EvaluationReport.to_dict/to_json (or was edited). Re-run the evaluation."
            )
        values = {name: data[name] for name in names if name in data}
        values["per_class"] = [
            item if isinstance(item, ClassReport) else ClassReport(**item)
            for item in data["per_class"]
        ]
        values["label_names"] = list(data["label_names"])
        values["extra"] = dict(data.get("extra", {}))
        return cls(**values)

    def to_json(self, path: str | Path) -> Path:
        """Writes the report as indented UTF-8 JSON, creating parent directories."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> EvaluationReport:
        """Reads a report written by `to_json`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No evaluation report at {path}.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise DataError(f"Evaluation report {path} is not valid JSON ({error}).") from None
        return cls.from_dict(data)

    # ----- text rendering ----------------------------------------------------------------------
    def format_table(self, digits: int = 3) -> str:
        """Fixed-width text table for terminals and logs, in the style of sklearn's report.

        Long label names are cut to fit (marked with '…'); wide (CJK) characters are counted as
        two columns so the grid stays aligned.
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

        lines.append("")
        if self.problem_type == "multilabel":
            lines += self._format_multilabel_confusion(name_w)
        else:
            lines += self._format_confusion(name_w)
        return "\n".join(lines)

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

    def __str__(self) -> str:
        return self.format_table()


# ----- computing a report ----------------------------------------------------------------------
def evaluate_predictions(
    y_true: Any,
    probabilities: Any,
    label_names: Sequence[str],
    problem_type: str,
    threshold: float = 0.5,
) -> EvaluationReport:
    """Scores predicted probabilities against true labels with scikit-learn.

    `y_true` is integer ids [N] (binary, multiclass) or multi-hot 0/1 [N, C] (multilabel);
    `probabilities` is [N, C] with columns in `label_names` order (binary: C == 2, column 1 is
    the positive class). Predictions are the argmax for binary and multiclass, and
    `probability >= threshold` per label for multilabel (`threshold` is unused otherwise).
    Per-class rows cover every label, even one never predicted: undefined precision counts as 0.
    """
    from sklearn import metrics

    labels, y, probs = _validate(y_true, probabilities, label_names, problem_type, threshold)
    n_classes = len(labels)
    class_ids = list(range(n_classes))
    extra: dict[str, float] = {}

    if problem_type == "multilabel":
        y_pred = (probs >= threshold).astype(np.int64)
        matrix: list[Any] = metrics.multilabel_confusion_matrix(y, y_pred).tolist()
        extra["hamming_loss"] = float(metrics.hamming_loss(y, y_pred))
        p, r, f, _ = metrics.precision_recall_fscore_support(
            y, y_pred, labels=class_ids, average="micro", zero_division=0
        )
        extra.update(micro_precision=float(p), micro_recall=float(r), micro_f1=float(f))
        if np.all(y.min(axis=0) != y.max(axis=0)):  # every label has positives and negatives
            extra["roc_auc"] = float(metrics.roc_auc_score(y, probs, average="macro"))
        extra["threshold"] = float(threshold)
    else:
        y_pred = probs.argmax(axis=1)
        matrix = metrics.confusion_matrix(y, y_pred, labels=class_ids).tolist()
        if len(np.unique(y)) == n_classes:  # ROC AUC is undefined for a class never seen
            if problem_type == "binary":
                extra["roc_auc"] = float(metrics.roc_auc_score(y, probs[:, 1]))
            elif np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):  # sklearn needs softmax rows
                extra["roc_auc"] = float(
                    metrics.roc_auc_score(y, probs, multi_class="ovr", labels=class_ids)
                )

    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y, y_pred, labels=class_ids, average=None, zero_division=0
    )
    averages = {}
    for average in ("macro", "weighted"):
        averages[average] = metrics.precision_recall_fscore_support(
            y, y_pred, labels=class_ids, average=average, zero_division=0
        )[:3]
    extra["weighted_precision"] = float(averages["weighted"][0])
    extra["weighted_recall"] = float(averages["weighted"][1])

    per_class = [
        ClassReport(label=name, precision=float(p), recall=float(r), f1=float(f), support=int(s))
        for name, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    ]
    return EvaluationReport(
        problem_type=problem_type,
        label_names=labels,
        num_examples=int(len(y)),
        accuracy=float(metrics.accuracy_score(y, y_pred)),
        macro_f1=float(averages["macro"][2]),
        weighted_f1=float(averages["weighted"][2]),
        macro_precision=float(averages["macro"][0]),
        macro_recall=float(averages["macro"][1]),
        per_class=per_class,
        confusion_matrix=matrix,
        extra=extra,
    )


def _validate(
    y_true: Any,
    probabilities: Any,
    label_names: Sequence[str],
    problem_type: str,
    threshold: float,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Checks shapes and values up front so mistakes fail with a sentence, not inside sklearn."""
    if problem_type not in PROBLEM_TYPES:
        raise DataError(
            f"Unknown problem_type {problem_type!r}; use one of {', '.join(PROBLEM_TYPES)}."
        )
    if isinstance(label_names, str):
        raise DataError("label_names must be a list of names, not a single string.")
    labels = [str(name) for name in label_names]
    if not labels:
        raise DataError("label_names is empty; pass one name per probability column.")
    if len(set(labels)) != len(labels):
        duplicates = sorted({name for name in labels if labels.count(name) > 1})
        raise DataError(
            f"label_names has duplicates ({', '.join(duplicates)}); names must be unique."
        )
    if problem_type == "binary" and len(labels) != 2:
        raise DataError(
            f"Binary evaluation needs exactly 2 label_names (negative, positive), got "
            f"{len(labels)}; use problem_type='multiclass' for more classes."
        )
    if problem_type == "multiclass" and len(labels) < 2:
        raise DataError("Multiclass evaluation needs at least 2 label_names.")
    if problem_type == "multilabel" and len(labels) < 2:
        # sklearn reads a single 0/1 column as binary class ids, which would mislabel the rows.
        raise DataError(
            "Multilabel evaluation needs at least 2 labels; for a single yes/no label use "
            "problem_type='binary' with label_names [f'not {name}', name], y_true as 0/1 ids "
            "and probabilities np.stack([1 - p, p], axis=1)."
        )

    try:
        probs = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("probabilities must be a numeric [N, C] array.") from None
    y = np.asarray(y_true)
    if y.shape[:1] == (0,) or probs.shape[:1] == (0,) or probs.size == 0:
        raise DataError("Nothing to evaluate: y_true and probabilities are empty.")
    if probs.ndim != 2:
        hint = (
            (
                " For a binary model with a single sigmoid output p, pass "
                "np.stack([1 - p, p], axis=1)."
            )
            if probs.ndim == 1
            else ""
        )
        raise DataError(f"probabilities must be 2-D [N, C], got shape {probs.shape}.{hint}")
    if probs.shape[1] != len(labels):
        raise DataError(
            f"probabilities has {probs.shape[1]} columns but there are {len(labels)} "
            f"label_names; pass one name per column, in column order."
        )
    if len(y) != len(probs):
        raise DataError(
            f"y_true has {len(y)} examples but probabilities has {len(probs)} rows; they must "
            "come from the same examples in the same order."
        )
    bad = ~np.isfinite(probs)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise DataError(
            f"probabilities contains NaN or infinite values in {len(rows)} row(s) (first: row "
            f"{rows[0]}); the model likely diverged - check the training loss and learning rate."
        )
    low, high = probs.min(), probs.max()
    if low < -_PROBABILITY_TOLERANCE or high > 1 + _PROBABILITY_TOLERANCE:
        raise DataError(
            f"probabilities must lie in [0, 1], got values in [{low:.3g}, {high:.3g}]; these look "
            "like logits - apply softmax (binary/multiclass) or sigmoid (multilabel) first."
        )
    if y.dtype.kind not in "biuf":
        raise DataError(
            f"y_true must be numeric (integer ids or 0/1), got dtype {y.dtype}; map label names "
            "to ids with label_names.index(name)."
        )

    if problem_type == "multilabel":
        if not 0.0 <= threshold <= 1.0:
            raise DataError(f"threshold must be in [0, 1], got {threshold!r}.")
        if y.shape != probs.shape:
            raise DataError(
                f"Multilabel y_true must be multi-hot with the same shape as probabilities "
                f"{probs.shape}, got {y.shape}."
            )
        if not np.isin(y, (0, 1)).all():
            raise DataError("Multilabel y_true must contain only 0 and 1 (multi-hot rows).")
        return labels, y.astype(np.int64), probs

    if y.ndim != 1:
        hint = (
            " If these are one-hot rows, pass y_true.argmax(axis=1)."
            if y.ndim == 2 and y.shape[1] == len(labels)
            else ""
        )
        raise DataError(
            f"{problem_type} y_true must be 1-D integer ids [N], got shape {y.shape}.{hint}"
        )
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise DataError("y_true must hold integer class ids, found non-integer values.")
    ids = y.astype(np.int64)
    outside = (ids < 0) | (ids >= len(labels))
    if outside.any():
        raise DataError(
            f"y_true has ids outside 0..{len(labels) - 1} (e.g. {ids[outside][0]} at position "
            f"{np.flatnonzero(outside)[0]}); every id must index label_names - check the label "
            "mapping or add the missing names."
        )
    return labels, ids, probs


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


def _short(text: str, limit: int = 20) -> str:
    """Label text for plot axes: long names are cut so they do not squeeze the heatmap."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----- plotting --------------------------------------------------------------------------------
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "Arial Unicode MS",
)


def _font_rc(texts: Sequence[str]) -> dict[str, Any]:
    """rc overrides that add an installed CJK font as fallback when labels need one.

    DejaVu Sans (matplotlib's default) has no CJK glyphs, so Chinese label names would otherwise
    render as boxes. If no such font is installed, matplotlib warns about the missing glyphs.
    """
    if all(ord(ch) < 0x2E80 for text in texts for ch in text):
        return {}
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    fallback = [name for name in _CJK_FONTS if name in installed]
    return {"font.family": ["DejaVu Sans", *fallback]} if fallback else {}


@contextmanager
def _one_glyph_warning() -> Iterator[None]:
    """Replaces matplotlib's warning per missing glyph (dozens for CJK names) with one that
    says what to install; other warnings pass through unchanged."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    missing = False
    for item in caught:
        if "missing from font" in str(item.message):
            missing = True
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    if missing:
        warnings.warn(
            "Some label names use characters no installed font has (e.g. Chinese), so they are "
            "drawn as boxes; install a CJK font (e.g. apt-get install fonts-noto-cjk) and "
            "delete matplotlib's font cache to fix the plot.",
            UserWarning,
            stacklevel=4,
        )


def _new_figure(width: float, height: float) -> Figure:
    """A figure on a private Agg canvas: no pyplot state, no window, safe in any backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    """Saves as PNG (creating parent directories) and releases the figure's memory."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"Plots are written as PNG; give a path ending in .png, got {path}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    # "tight" on top of the constrained layout: never clip a long axis label at the edge.
    figure.savefig(
        path, format="png", dpi=_DPI, facecolor="white", bbox_inches="tight", pad_inches=0.15
    )
    figure.clear()
    return path


def plot_confusion_matrix(
    report: EvaluationReport, path: str | Path, *, normalize: bool = True
) -> Path:
    """Saves the confusion matrix of `report` as a PNG heatmap and returns the path.

    Binary/multiclass: one C x C heatmap, rows = true label, columns = predicted label; with
    `normalize`, colours are each row's share (recall per true label) and cells show the count
    and that share. Multilabel: a grid of per-label 2 x 2 matrices (rows true no/yes, columns
    predicted no/yes) sharing one colour bar, each titled with the label's F1.
    """
    from matplotlib import rc_context

    with _one_glyph_warning(), rc_context(_font_rc(report.label_names)):
        if report.problem_type == "multilabel":
            figure = _multilabel_confusion_figure(report, normalize)
        else:
            figure = _confusion_figure(report, normalize)
        return _save(figure, path)


def _cell_texts(
    ax: Axes,
    counts: np.ndarray,
    shares: np.ndarray,
    colours: np.ndarray,
    vmax: float,
    normalize: bool,
    fontsize: float,
    compact: bool = False,
) -> None:
    """Writes count (and row share) in each cell, white on dark cells so it stays legible.

    `compact` (large matrices) leaves zero cells empty and drops the share, which would not fit.
    """
    for i in range(counts.shape[0]):
        row_total = counts[i].sum()
        for j in range(counts.shape[1]):
            if compact and counts[i, j] == 0:
                continue
            text = f"{counts[i, j]}"
            if normalize and row_total and not compact:
                text += f"\n{shares[i, j]:.0%}"
            dark = vmax > 0 and colours[i, j] > 0.55 * vmax
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if dark else "#1a1a1a",
            )


def _row_shares(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its total; rows with no examples stay 0 instead of NaN."""
    totals = counts.sum(axis=-1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)


def _confusion_figure(report: EvaluationReport, normalize: bool) -> Figure:
    counts = np.asarray(report.confusion_matrix, dtype=np.int64)
    n = counts.shape[0]
    shares = _row_shares(counts)
    colours = shares if normalize else counts.astype(float)
    vmax = 1.0 if normalize else max(float(counts.max()), 1.0)

    names = [_short(name) for name in report.label_names]
    longest = max(len(name) for name in names)
    side = min(max(4.2, 0.5 * n + 2.2), 20.0)
    label_room = 0.075 * longest  # inches for rotated tick labels below / beside the grid
    figure = _new_figure(side + 1.4 + label_room, side + 0.6 + label_room)
    ax = figure.add_subplot()
    image = ax.imshow(colours, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    colorbar = figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    colorbar.set_label("share of true label" if normalize else "examples")
    _colorbar_ticks(colorbar, normalize)

    if n <= 40:
        fontsize = 11 if n <= 5 else 9 if n <= 12 else 8
        _cell_texts(ax, counts, shares, colours, vmax, normalize, fontsize, compact=n > 12)
    tick_size = 10 if n <= 12 else 9 if n <= 25 else 7
    ax.set_xticks(range(n), names, fontsize=tick_size)
    ax.set_yticks(range(n), names, fontsize=tick_size)
    # Rotate column names only when they would not fit side by side under their cells.
    if n * longest * 0.075 * tick_size / 10 > 0.8 * side:
        ax.tick_params(axis="x", labelrotation=40)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_xticks(np.arange(-0.5, n, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, n, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0)
    ax.tick_params(which="minor", length=0)
    ax.set_title(
        f"Confusion matrix · accuracy {report.accuracy:.3f} · macro-F1 {report.macro_f1:.3f}\n"
        f"{report.num_examples} examples"
        + (", colour = share of each true label" if normalize else ""),
        fontsize=10 if n <= 12 else 12,
    )
    return figure


def _multilabel_confusion_figure(report: EvaluationReport, normalize: bool) -> Figure:
    counts = np.asarray(report.confusion_matrix, dtype=np.int64).reshape(-1, 2, 2)
    n = counts.shape[0]
    shares = _row_shares(counts)
    colours = shares if normalize else counts.astype(float)
    vmax = 1.0 if normalize else max(float(counts.max()), 1.0)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    figure = _new_figure(2.5 * ncols + 1.2, 2.5 * nrows + 0.9)
    axes = figure.subplots(nrows, ncols, squeeze=False)
    image = None
    for index, ax in enumerate(axes.flat):
        if index >= n:
            ax.set_axis_off()
            continue
        image = ax.imshow(colours[index], cmap="Blues", vmin=0.0, vmax=vmax)
        _cell_texts(ax, counts[index], shares[index], colours[index], vmax, normalize, 9)
        col = index % ncols
        bottom = index + ncols >= n  # nothing drawn below this one
        ax.set_xticks([0, 1], ["no", "yes"], fontsize=8)
        ax.set_yticks([0, 1], ["no", "yes"], fontsize=8)
        ax.tick_params(labelbottom=bottom, labelleft=col == 0)
        if bottom:
            ax.set_xlabel("predicted", fontsize=9)
        if col == 0:
            ax.set_ylabel("true", fontsize=9)
        f1 = report.per_class[index].f1 if index < len(report.per_class) else float("nan")
        ax.set_title(f"{_short(report.label_names[index], 18)}\nF1 {f1:.2f}", fontsize=9)
    assert image is not None
    colorbar = figure.colorbar(image, ax=list(axes.flat), fraction=0.03, pad=0.02)
    colorbar.set_label("share of true row" if normalize else "examples")
    _colorbar_ticks(colorbar, normalize)
    hamming = report.extra.get("hamming_loss")
    figure.suptitle(
        f"Per-label confusion · subset accuracy {report.accuracy:.3f} · "
        f"macro-F1 {report.macro_f1:.3f}"
        + (f" · Hamming loss {hamming:.3f}" if hamming is not None else ""),
        fontsize=10,
    )
    return figure


def _colorbar_ticks(colorbar: Any, normalize: bool) -> None:
    """Percent ticks for shares, whole-number ticks for counts (no '0.25 examples')."""
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    if normalize:
        colorbar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    else:
        colorbar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def plot_training_curves(history: Mapping[str, Sequence[float]] | Any, path: str | Path) -> Path:
    """Saves train-vs-validation curves from a Keras `History.history` dict as a PNG.

    One subplot per metric family (`loss`, `accuracy`, ...), pairing `name` with `val_name`;
    epochs are numbered from 1 as Keras prints them. For loss-like families the best validation
    epoch is marked, since that is the checkpoint worth keeping. A `History` object also works.
    """
    from matplotlib.ticker import MaxNLocator

    if not isinstance(history, Mapping) and isinstance(getattr(history, "history", None), Mapping):
        history = history.history
    if not isinstance(history, Mapping):
        raise DataError(
            "history must be a dict of metric name -> list of per-epoch values "
            "(Keras: model.fit(...).history)."
        )
    families: dict[str, dict[str, np.ndarray]] = {}
    for key, values in history.items():
        try:
            series = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise DataError(f"history[{key!r}] must be a list of numbers.") from None
        if series.size == 0:
            continue
        split = "val" if key.startswith("val_") else "train"
        family = key[4:] if split == "val" else key
        families.setdefault(family, {})[split] = series
    if not families:
        raise DataError("history has no recorded epochs; train for at least one epoch first.")
    order = sorted(families, key=lambda name: (name != "loss", "loss" not in name))

    ncols = min(3, len(order))
    nrows = math.ceil(len(order) / ncols)
    figure = _new_figure(4.4 * ncols, 3.3 * nrows + 0.4)
    axes = figure.subplots(nrows, ncols, squeeze=False)
    styles = {"train": ("training", "#1f77b4", "-"), "val": ("validation", "#d62728", "--")}
    for ax, family in zip(axes.flat, order, strict=False):
        for split, series in families[family].items():
            name, colour, style = styles[split]
            epochs = np.arange(1, series.size + 1)
            ax.plot(
                epochs,
                series,
                style,
                color=colour,
                label=name,
                linewidth=1.8,
                marker="o" if series.size <= 30 else None,
                markersize=4,
            )
        val = families[family].get("val")
        if val is not None and ("loss" in family or "error" in family) and np.isfinite(val).any():
            best = int(np.nanargmin(val)) + 1
            ax.axvline(
                best, color="grey", linestyle=":", linewidth=1.2, label=f"best val epoch {best}"
            )
        only_val = list(families[family]) == ["val"]
        ax.set_title(family.replace("_", " ") + (" (validation)" if only_val else ""), fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if len(ax.get_lines()) > 1:  # a lone series (e.g. learning_rate) needs no legend
            ax.legend(fontsize=8, frameon=False)
    for ax in list(axes.flat)[len(order) :]:
        ax.set_axis_off()
    figure.suptitle("Training curves", fontsize=11)
    with _one_glyph_warning():
        return _save(figure, path)


def evaluate_classifier(
    classifier: Any, data: Any, *, batch_size: int = 64, verbose: int | str = 0
) -> EvaluationReport:
    """Runs `classifier` (a tfbert BertClassifier) over labelled `data` and scores it.

    Labels missing from the model's label set raise a DataError that names them.
    """
    from tfbert.data.readers import LabelVocabulary

    if data.labels is None:
        raise DataError("the evaluation data has no labels; pass a file with a label column.")
    multi_label = classifier.problem_type == "multilabel"
    y_true = LabelVocabulary(classifier.labels).encode(data.labels, multi_label=multi_label)
    predicted = classifier.predict_texts(
        data.texts, data.text_pairs, batch_size=batch_size, verbose=verbose
    )
    return evaluate_predictions(
        y_true,
        predicted["probabilities"],
        classifier.labels,
        classifier.problem_type,
        threshold=getattr(classifier, "threshold", 0.5),
    )
