"""A small, generic timing harness for comparing implementations on a noisy, shared machine.

Why interleaving: the load of this machine changes over seconds (other jobs start and stop),
so timing implementation A for a minute and then B for a minute compares A and B under
different loads. `measure` instead runs one timed group of calls per case per round and rotates
the order of the cases every round, so every case sees every position and the same stretch of
time. The summary statistic is the median over rounds (robust to a round that a burst of load
hit), and ratios are only ever taken between medians of the same `measure` call.

Nothing here imports TensorFlow or torch: the scenarios bring their own work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

OK = "ok"
TABLE_WIDTH = 100  # the widest line a printed table may have

# CPU features that decide which matmul kernels oneDNN / MKL / XLA can use.
CPU_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)
PACKAGES = (
    "tensorflow",
    "tensorflow-text",
    "keras",
    "keras-hub",
    "torch",
    "transformers",
    "tokenizers",
    "numpy",
    "onnx",
    "onnxruntime",
    "openvino",
    "ai-edge-litert",
)


@dataclasses.dataclass
class Case:
    """One thing to time: `run()` does one call's worth of work, `units` units of it.

    `status` is "ok" for a runnable case, otherwise why it cannot run ("not installed: torch");
    such cases still get a row in the tables, so a missing peer is visible rather than silent.
    `info` holds case-specific facts for the JSON record (tokens counted, settings...).
    """

    name: str
    run: Callable[[], Any] | None
    units: float = 1.0
    unit: str = "examples"
    library: str = "tfbert"
    status: str = OK
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def runnable(self) -> bool:
        return self.status == OK and self.run is not None

    @classmethod
    def unavailable(cls, name: str, library: str, reason: str, unit: str = "examples") -> Case:
        return cls(name=name, run=None, unit=unit, library=library, status=reason)


def rotated(items: Sequence[Any], shift: int) -> list[Any]:
    """`items` rotated left by `shift` (modulo its length): round r's order in `measure`."""
    items = list(items)
    if not items:
        return items
    shift %= len(items)
    return items[shift:] + items[:shift]


def measure(
    cases: Sequence[Case],
    repeats: int = 5,
    min_seconds: float = 1.0,
    warmup: int = 1,
    *,
    progress: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Times the runnable `cases`, interleaved; returns each case's rate (units/s) per round.

    First `warmup` untimed calls of every case (traces, compiles, caches, thread pools). Then
    `repeats` rounds; round r times the cases in the order `rotated(cases, r)`. Each timing is
    a group of back-to-back calls lasting at least `min_seconds` (at least one call), and its
    rate is calls * units / elapsed seconds.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    runnable = [case for case in cases if case.runnable]
    names = [case.name for case in runnable]
    if len(set(names)) != len(names):
        raise ValueError(f"case names must be unique, got {names}.")
    for index in range(warmup):
        for case in runnable:
            if progress:
                progress(f"warm-up {index + 1}/{warmup}: {case.name}")
            case.run()
    rates: dict[str, list[float]] = {case.name: [] for case in runnable}
    for round_index in range(repeats):
        for case in rotated(runnable, round_index):
            if progress:
                progress(f"round {round_index + 1}/{repeats}: {case.name}")
            calls = 0
            start = clock()
            while True:
                case.run()
                calls += 1
                elapsed = clock() - start
                if elapsed >= min_seconds:
                    break
            rates[case.name].append(calls * case.units / max(elapsed, 1e-12))
    return rates


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def summarise(cases: Sequence[Case], rates: dict[str, list[float]]) -> list[dict[str, Any]]:
    """One JSON-ready row per case (runnable or not): its rates per round and their median."""
    rows = []
    for case in cases:
        values = rates.get(case.name, [])
        ok = case.runnable and bool(values)
        rows.append(
            {
                "name": case.name,
                "library": case.library,
                "status": case.status if case.status != OK or ok else "not measured",
                "unit": f"{case.unit}/s",
                "units_per_call": case.units,
                "rates": [float(v) for v in values],
                "median": median(values) if ok else None,
                "min": min(values) if ok else None,
                "max": max(values) if ok else None,
                **case.info,
            }
        )
    return rows


def ratios(
    rows: Sequence[dict[str, Any]],
    numerators: Sequence[str],
    denominators: Sequence[str] | None = None,
    key: str = "median",
    metric: str | None = None,
) -> list[dict[str, Any]]:
    """`numerator / denominator` of the rows' `key` values (medians) for every pair of rows.

    With rates (higher is better), a ratio above 1 means the numerator is faster. `metric`
    names the quantity in the record (default: the rows' unit). Pairs whose rows were not
    measured, or a row with itself, are left out.
    """
    by_name = {row["name"]: row for row in rows}
    others = [row["name"] for row in rows] if denominators is None else list(denominators)
    pairs = []
    for top in numerators:
        for bottom in others:
            a, b = by_name.get(top), by_name.get(bottom)
            if top == bottom or a is None or b is None or a.get(key) is None or not b.get(key):
                continue
            pairs.append(
                {
                    "numerator": top,
                    "denominator": bottom,
                    "metric": metric or a.get("unit", key),
                    "key": key,
                    "ratio": a[key] / b[key],
                }
            )
    return pairs


# ----- rendering ---------------------------------------------------------------------------------
SHORT_DTYPES = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}


def short_dtype(name: str | None) -> str:
    """A precision as a table shows it: f32, bf16 (other names unchanged, "" for none)."""
    return SHORT_DTYPES.get(name or "", name or "")


def format_number(value: float | None, digits: int = 3) -> str:
    """`digits` significant figures with thousands separators; "-" for missing values."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(value)))))
    return f"{value:,.{decimals}f}"


@dataclasses.dataclass
class Column:
    """A table column: its header and how to show a row's cell."""

    header: str
    cell: Callable[[dict[str, Any]], str]
    align: str = ">"


def rate_columns(
    rows: Sequence[dict[str, Any]],
    references: Sequence[str],
    labels: dict[str, str] | None = None,
    key: str = "median",
) -> list[Column]:
    """One "REF/row" column per reference row: how many times faster REF is than the row.

    `labels` gives short names for the references' headers (default: the row names)."""
    by_name = {row["name"]: row for row in rows}
    labels = labels or {}
    columns = []
    for reference in references:
        top = by_name.get(reference, {}).get(key)
        if not top:
            continue

        def cell(row: dict[str, Any], top: float = top) -> str:
            value = row.get(key)
            return f"{top / value:.2f}x" if value else "-"

        columns.append(Column(f"{labels.get(reference, reference)}/row", cell))
    return columns


def render_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    title: str = "",
    notes: Sequence[str] = (),
    width: int = TABLE_WIDTH,
) -> str:
    """A plain-text table at most `width` characters wide: the row name, then `columns`.

    Unmeasured rows show their status instead of cells. A row name too long to share its line
    with the cells gets a line of its own, the cells following on the next line; the title and
    the notes are wrapped to `width` (each note starts a new line).
    """
    header = ["", *(column.header for column in columns)]
    measured = [row for row in rows if row.get("median") is not None]
    body = [[row["name"], *(column.cell(row) for column in columns)] for row in measured]
    widths = [max(len(cells[i]) for cells in [header, *body]) for i in range(len(header))]
    cells_width = sum(widths[1:]) + 2 * len(columns)
    names = [len(row["name"]) for row in rows]
    # The name column: as wide as the longest name that fits beside the cells.
    widths[0] = max([0, *(n for n in names if n + cells_width <= width)])
    aligns = ["<", *(column.align for column in columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            f"{cell:{align}{size}}" for cell, align, size in zip(cells, aligns, widths, strict=True)
        ).rstrip()

    first = line(header)
    out = _wrap(title, width) if title else []
    out += [first, "-" * min(len(first), width)]
    for row in rows:
        name = row["name"]
        if row.get("median") is None:  # the status message spans the row
            status = f"{name:<{widths[0]}}  ({row['status']})"
            out += [status] if len(status) <= width else [name, *_wrap(f"({row['status']})", width)]
        elif len(name) > widths[0]:  # the name on its own line, the cells below it
            out += [name, line(["", *(column.cell(row) for column in columns)])]
        else:
            out.append(line([name, *(column.cell(row) for column in columns)]))
    for note in notes:
        out += _wrap(note, width)
    return "\n".join(out)


def _wrap(text: str, width: int) -> list[str]:
    """`text` wrapped to `width` columns, continuation lines indented by two spaces."""
    return textwrap.wrap(
        text, width, subsequent_indent="  ", break_on_hyphens=False, break_long_words=True
    ) or [""]


# ----- the machine -------------------------------------------------------------------------------
def package_version(name: str) -> str | None:
    """The installed version of a distribution, without importing it (None: not installed)."""
    candidates = [name] + (["tensorflow-cpu"] if name == "tensorflow" else [])
    for candidate in candidates:
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(candidate)
    return None


def cpu_description() -> tuple[str, list[str]]:
    """(CPU model name, the CPU_FLAGS it has) from /proc/cpuinfo; empty where unreadable."""
    model, flags = "", set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if model and flags:
                break
    return model, [flag for flag in CPU_FLAGS if flag in flags]


def machine_info(packages: Sequence[str] = PACKAGES) -> dict[str, Any]:
    """What the numbers depend on: CPUs, their features, load, niceness and package versions."""
    cpu_model, flags = cpu_description()
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "cpu_flags": flags,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "niceness": os.nice(0),
    }
    with contextlib.suppress(AttributeError):
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError):
        info["load_average"] = [round(value, 2) for value in os.getloadavg()]
    for name in packages:
        info[name] = package_version(name)
    return info


# ----- progress ----------------------------------------------------------------------------------
def progress(message: str) -> None:
    """A progress line on stderr (rewritten in place on a terminal)."""
    message = message if len(message) <= TABLE_WIDTH else message[: TABLE_WIDTH - 3] + "..."
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\x1b[K{message}")
    else:
        sys.stderr.write(message + "\n")
    sys.stderr.flush()


def progress_done() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


def git_commit(root: Path) -> str | None:
    """The short hash of the checkout's HEAD at `root` (None outside a git checkout)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def result_path(directory: Path, what: str, day: Any, commit: str | None) -> Path:
    """Where a result goes: `WHAT_DATE_COMMIT.json`, the naming of benchmarks/results/.

    >>> result_path(Path("r"), "inference_b1_l128", datetime.date(2026, 11, 29), "1a77fe5").name
    'inference_b1_l128_2026-11-29_1a77fe5.json'
    """
    return directory / f"{what}_{day:%Y-%m-%d}_{commit or 'uncommitted'}.json"


def write_results(path: Path, record: dict[str, Any]) -> None:
    """Writes a benchmark record as JSON (creating its directory) and says where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
