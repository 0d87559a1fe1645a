"""Structured pruning on IMDB: accuracy and speed of a pruned MiniLM against the unpruned one.

    python benchmarks/prune.py --work-dir WORK --train-examples 800 --heads 0.5 --ffn 0.5

Stages, each kept in `--work-dir` so that an interrupted run resumes at the first missing one:

1. `teacher/`: MiniLM-L6 (`minilm-l6`, its own mean pooling) fine-tuned briefly on a seeded
   subset of the IMDB train split (`--train-examples` per split, validation the same size);
2. `pruned/`: `tfbert.training.prune.prune_classifier` on it with the same data: heads, neurons
   (and `--layers`) scored on validation, removed, the smaller model fine-tuned again;
3. both models, in the same process and alternating, scored on a seeded subset of the IMDB
   test split (`--test-examples`, float32) and timed on real test reviews at `--max-length`
   tokens, batch 32 and batch 1, as `for_inference` copies (float32 and bfloat16):
   examples/s, the median of `--repeats` alternating timings.

The result (`--output`, or benchmarks/results/prune_DATE_COMMIT.json) states the CPU, the
load average and every setting.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import git_commit, machine_info, result_path, write_results  # noqa: E402
from tfbert.training.prune import PRUNING_FILE  # noqa: E402


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def train_teacher(args: argparse.Namespace, directory: Path) -> None:
    import keras

    from tfbert.data import load_dataset
    from tfbert.tasks.classifier import BertClassifier
    from tfbert.training.fine_tune import TrainingConfig, fine_tune

    splits = load_dataset("imdb", max_examples_per_split=args.train_examples, seed=args.seed)
    keras.utils.set_random_seed(args.seed)
    model = BertClassifier.from_pretrained(
        "minilm-l6", splits.label_names, max_length=args.max_length, pad_to="longest"
    )
    config = TrainingConfig(
        epochs=args.teacher_epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    say(f"fine-tuning the teacher on {len(splits.train)} reviews")
    fine_tune(
        model, splits.train, splits.validation, config=config, output_dir=directory, verbose=2
    )
    model.save_pretrained(directory)


def prune(args: argparse.Namespace, teacher: Path, directory: Path) -> None:
    from tfbert.training.prune import PruneConfig, prune_classifier

    prune_classifier(
        PruneConfig(
            model=teacher,
            output_dir=directory,
            dataset="imdb",
            max_examples=args.train_examples,
            heads=args.heads,
            ffn=args.ffn,
            layers=args.layers,
            epochs=args.pruned_epochs,
            learning_rate=args.learning_rate,
            batch_size=args.batch_size,
            seed=args.seed,
            **({} if args.ffn_multiple is None else {"ffn_multiple": args.ffn_multiple}),
        ),
        say=say,
        verbose=2,
    )


def rate(model: Any, texts: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    model.predict_texts(texts, batch_size=batch_size)
    return len(texts) / (time.perf_counter() - started)


def measure(args: argparse.Namespace, models: dict[str, Path]) -> dict[str, Any]:
    from tfbert.data import load_dataset
    from tfbert.evaluation import evaluate_classifier
    from tfbert.tasks.classifier import TextClassifier

    test = load_dataset("imdb", max_examples_per_split=args.test_examples, seed=args.seed).test
    loaded = {name: TextClassifier.load(path) for name, path in models.items()}
    rows: dict[str, dict[str, Any]] = {}
    for name, model in loaded.items():
        say(f"scoring {name} on {len(test)} test reviews")
        report = evaluate_classifier(model, test, batch_size=64)
        rows[name] = {
            "parameters": model.count_params(),
            "encoder_config": model.encoder.config.to_dict(),
            "test_accuracy": report.accuracy,
            "test_macro_f1": report.macro_f1,
        }
    timed = test.texts[: args.timed_texts]
    for precision in ("float32", "bfloat16"):
        copies = {name: model.for_inference(precision) for name, model in loaded.items()}
        for batch_size, texts in ((32, timed), (1, timed[: args.timed_texts_batch1])):
            rates: dict[str, list[float]] = {name: [] for name in copies}
            for copy in copies.values():  # warm-up: tracing, oneDNN kernels
                rate(copy, texts[: 2 * batch_size], batch_size)
            for _ in range(args.repeats):
                for name, copy in copies.items():
                    rates[name].append(rate(copy, texts, batch_size))
            for name, values in rates.items():
                key = f"{precision}_batch{batch_size}_examples_per_second"
                rows[name][key] = round(statistics.median(values), 2)
                say(f"{name} {precision} batch {batch_size}: {rows[name][key]} examples/s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--train-examples", type=int, default=800, help="per split")
    parser.add_argument("--test-examples", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--teacher-epochs", type=int, default=1)
    parser.add_argument("--pruned-epochs", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--heads", type=float, default=0.5)
    parser.add_argument("--ffn", type=float, default=0.5)
    parser.add_argument("--layers", type=int, default=0)
    parser.add_argument(
        "--ffn-multiple",
        type=int,
        default=None,
        help="each layer keeps a multiple of this many feed-forward neurons (1: any number; "
        "default: tfbert prune's)",
    )
    parser.add_argument("--timed-texts", type=int, default=256)
    parser.add_argument("--timed-texts-batch1", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    from tfbert._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    commit = git_commit(ROOT)  # the code measured: read before the long run
    teacher, pruned = args.work_dir / "teacher", args.work_dir / "pruned"
    if not (teacher / "model.safetensors").is_file():
        train_teacher(args, teacher)
    if not (pruned / "model.safetensors").is_file():
        prune(args, teacher, pruned)
    else:
        say(f"reusing {pruned}")
    pruning = json.loads((pruned / PRUNING_FILE).read_text(encoding="utf-8"))
    pruning["importance"] = {"layers": pruning["importance"]["layers"]}  # heads/neurons: long
    neurons = pruning["plan"].pop("neurons")  # thousands of indices: their count per layer
    pruning["plan"]["neurons_removed_per_layer"] = {k: len(v) for k, v in neurons.items()}
    rows = measure(args, {"unpruned": teacher, "pruned": pruned})
    base, small = rows["unpruned"], rows["pruned"]
    speedups = {
        key.replace("_examples_per_second", ""): round(small[key] / base[key], 3)
        for key in base
        if key.endswith("_examples_per_second")
    }
    record = {
        "what": "IMDB: MiniLM-L6 fine-tuned briefly, then structurally pruned (heads, FFN "
        "neurons, layers scored on validation) and fine-tuned again; test accuracy and "
        "predict_texts examples/s of both, measured in the same process",
        "command": " ".join(["python", "benchmarks/prune.py", *sys.argv[1:]]),
        "commit": commit,
        "date": datetime.date.today().isoformat(),
        "settings": {k: v for k, v in vars(args).items() if not isinstance(v, Path)},
        "machine": machine_info(),
        "models": rows,
        "speedup_pruned_over_unpruned": speedups,
        "accuracy_change": round(small["test_accuracy"] - base["test_accuracy"], 4),
        "pruning": {k: v for k, v in pruning.items() if k not in ("model", "settings")},
    }
    output = args.output or result_path(
        ROOT / "benchmarks" / "results", "prune", datetime.date.today(), commit
    )
    write_results(output, record)


if __name__ == "__main__":
    main()
