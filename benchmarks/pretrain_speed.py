"""Where the time of `tfbert pretrain` goes: the training step alone vs the whole input pipeline.

    python benchmarks/pretrain_speed.py                      # the variants, interleaved
    python benchmarks/pretrain_speed.py --cli OLD_SRC NEW_SRC  # the long-run command, two trees

Variants (each one setting away from the long Chinese run, `long-run`: masked LM on packed
sequences, jieba whole-word masking, bert-base-chinese's vocabulary, bfloat16, batch 32):
`mlm-nsp` (NSP pairs and the NSP head), `unpacked` (masked LM on NSP pairs), `no-wwm`,
`learned-8k` (a vocabulary learned from the corpus sample), `float32`, `batch-64`, and
`old-recipe` (mlm-nsp, unpacked, no whole-word masking, learned vocabulary: the first recipe).
Every variant builds a `mini` pretrainer on a sample of the built-in `zh` corpus and is timed
three ways, all interleaved round by round (the machine may be shared: ratios are what count):

- `step`: the training step alone, on one cached batch repeated;
- `full`: training on the real input pipeline (what `tfbert pretrain` does);
- `pipeline`: the input pipeline alone, batches drawn without training.

Tokens are real (unpadded) tokens, as `tfbert pretrain` counts them. With `--cli`, the real
long-run command (`--steps` short, `--steps-per-epoch` small) runs from each source tree in
turn, alternating, and the tokens/s of its epochs after the first are compared.

Writes benchmarks/results/pretrain_speed_DATE_COMMIT.json (or `--json`) with the CPU and load.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: import `benchmarks` as the repository's package
    if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":
        sys.path[0] = str(_ROOT)
    elif str(_ROOT) not in sys.path:
        sys.path.insert(0, str(_ROOT))

from benchmarks.harness import (  # noqa: E402
    Case,
    git_commit,
    machine_info,
    measure,
    result_path,
    write_results,
)

RESULTS = _ROOT / "benchmarks" / "results"
LONG_RUN = {
    "objective": "mlm",
    "packed": True,
    "whole_word_masking": "jieba",
    "vocab": "bert-base-chinese",
    "precision": "bfloat16",
    "batch_size": 32,
}
VARIANTS: dict[str, dict[str, Any]] = {
    "long-run": {},
    "mlm-nsp": {"objective": "mlm-nsp", "packed": False},
    "unpacked": {"packed": False},
    "no-wwm": {"whole_word_masking": "none"},
    "learned-8k": {"vocab": "learned"},
    "float32": {"precision": "float32"},
    "batch-64": {"batch_size": 64},
    "old-recipe": {
        "objective": "mlm-nsp",
        "packed": False,
        "whole_word_masking": "none",
        "vocab": "learned",
    },
}
# Batches per timing of the input pipeline alone: many more than its prefetch buffers hold.
PIPELINE_BATCHES = 200
# The long-run command, less its step count and output directory.
CLI_COMMAND = [
    "pretrain", "--corpus", "zh", "--objective", "mlm", "--vocab", "bert-base-chinese",
    "--whole-word-masking", "jieba", "--preset", "mini", "--max-length", "128",
    "--batch-size", "32", "--learning-rate", "5e-4", "--warmup-fraction", "0.05",
    "--precision", "bfloat16", "--dropout", "0",
]  # fmt: skip


def corpus_sample(documents: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """A random sample of the zh corpus: with jieba word boundaries, and the plain text."""
    from tfbert.data.corpora import load_corpus
    from tfbert.data.pretraining import WORD_SEPARATOR

    segmented = load_corpus("zh", word_boundaries=True)
    picked = random.Random(seed).sample(range(len(segmented)), min(documents, len(segmented)))
    segmented = [segmented[i] for i in sorted(picked)]
    plain = [[s.replace(WORD_SEPARATOR, "") for s in document] for document in segmented]
    return segmented, plain


def build_variant(
    name: str,
    settings: dict[str, Any],
    corpora: tuple[list[list[str]], list[list[str]]],
    vocabularies: dict[str, list[str]],
    steps: int,
) -> tuple[list[Case], dict[str, Any]]:
    """The three timed cases of one variant (`steps` steps or batches per call)."""
    import tensorflow as tf

    from tfbert.modeling.precision import set_precision
    from tfbert.training.optimization import create_optimizer
    from tfbert.training.pretrain import create_pretrainer, mean_tokens_per_example

    set_precision(settings["precision"])
    model = create_pretrainer(
        settings["objective"],
        preset="mini",
        vocabulary=vocabularies[settings["vocab"]],
        max_length=128,
        dropout=0.0,
    )
    model.compile(optimizer=create_optimizer(5e-4, total_steps=30_000, warmup_fraction=0.05))
    set_precision("float32")
    wwm = settings["whole_word_masking"]
    source = corpora[0] if wwm == "jieba" else corpora[1]
    options: dict[str, Any] = {"whole_word_masking": wwm, "seed": 13}
    if settings["objective"] == "mlm":
        options["next_sentence"] = not settings["packed"]

    def stream() -> tf.data.Dataset:
        return model.pretraining_dataset(
            source, batch_size=settings["batch_size"], repeat=True, **options
        )

    batch_size = settings["batch_size"]
    tokens = mean_tokens_per_example(stream())
    cached = stream().take(1).cache().repeat()
    model.fit(cached, steps_per_epoch=2, epochs=1, verbose=0)  # builds and traces the step
    cached_batches, training_batches, pipeline_batches = iter(cached), iter(stream()), None

    def train(iterator: Any) -> None:
        logs = None
        for _ in range(steps):
            logs = model.train_function(iterator)
        float(logs["loss"])  # waits for the last step

    def pipeline() -> None:
        nonlocal pipeline_batches
        if pipeline_batches is None:
            pipeline_batches = iter(stream())
        for _ in range(PIPELINE_BATCHES):
            next(pipeline_batches)

    units = steps * batch_size * tokens
    pipeline_units = PIPELINE_BATCHES * batch_size * tokens
    info = {"variant": name, **settings, "tokens_per_example": round(tokens, 2)}
    cases = [
        Case(f"{name} step", lambda: train(cached_batches), units, "tokens", info=info),
        Case(f"{name} full", lambda: train(training_batches), units, "tokens", info=info),
        Case(f"{name} pipeline", pipeline, pipeline_units, "tokens", info=info),
    ]
    return cases, {"parameters": model.count_params()}


def run_variants(args: argparse.Namespace) -> dict[str, Any]:
    from tfbert.data.vocabularies import resolve_vocabulary
    from tfbert.text.vocab import learn_vocabulary

    started = time.time()
    chosen = {name: {**LONG_RUN, **VARIANTS[name]} for name in args.variants}
    corpora = corpus_sample(args.documents, args.seed)
    vocabularies = {"bert-base-chinese": resolve_vocabulary("bert-base-chinese")}
    if any(s["vocab"] == "learned" for s in chosen.values()):
        texts = [" ".join(document) for document in corpora[1]]
        vocabularies["learned"] = learn_vocabulary(texts, 8000)
    cases: list[Case] = []
    models: dict[str, Any] = {}
    for name, settings in chosen.items():
        print(f"building {name} ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
        variant_cases, models[name] = build_variant(
            name, settings, corpora, vocabularies, args.steps
        )
        cases += variant_cases
    loads = [os.getloadavg()]

    def progress(message: str) -> None:
        loads.append(os.getloadavg())
        print(message, file=sys.stderr, flush=True)

    rates = measure(cases, repeats=args.rounds, min_seconds=0.0, warmup=1, progress=progress)
    rows = []
    for case in cases:
        values = rates[case.name]
        rows.append(
            {
                "case": case.name,
                **case.info,
                "tokens_per_second": [round(v, 1) for v in values],
                "median_tokens_per_second": round(statistics.median(values), 1),
                "median_steps_per_second": round(
                    statistics.median(values)
                    / (case.info["batch_size"] * case.info["tokens_per_example"]),
                    3,
                ),
            }
        )
    return {
        "variants": chosen,
        "models": models,
        "rows": rows,
        "load_average_during": [round(sum(x) / len(x), 2) for x in zip(*loads, strict=True)],
    }


def cli_throughput(source: Path, work: Path, steps: int, steps_per_epoch: int) -> list[float]:
    """Runs the long-run command from source tree `source`; tokens/s of each epoch."""
    env = {**os.environ, "PYTHONPATH": str(source), "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        output = Path(scratch) / "model"
        command = [sys.executable, "-m", "tfbert.cli", *CLI_COMMAND, "--steps", str(steps)]
        command += ["--steps-per-epoch", str(steps_per_epoch), "--output-dir", str(output)]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, cwd=scratch)
        record = json.loads((output / "pretrain_history.json").read_text(encoding="utf-8"))
    return [float(v) for v in record["history"]["tokens_per_second"]]


def run_cli(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    trees = [Path(tree).resolve() for tree in args.cli]
    epochs: dict[str, list[float]] = {str(tree): [] for tree in trees}
    loads = []
    for round_index in range(args.rounds):
        order = trees[round_index % len(trees) :] + trees[: round_index % len(trees)]
        for tree in order:
            loads.append(os.getloadavg())
            print(f"round {round_index + 1}/{args.rounds}: {tree}", file=sys.stderr, flush=True)
            measured = cli_throughput(tree, work, args.cli_steps, args.cli_steps_per_epoch)
            epochs[str(tree)] += measured[1:]  # the first epoch holds the tracing
    return {
        "command": "tfbert " + " ".join(CLI_COMMAND),
        "steps": args.cli_steps,
        "steps_per_epoch": args.cli_steps_per_epoch,
        "trees": {
            str(tree): {
                "commit": git_commit(tree) or tree.name,
                "epoch_tokens_per_second": [round(v, 1) for v in epochs[str(tree)]],
                "median_tokens_per_second": round(statistics.median(epochs[str(tree)]), 1),
            }
            for tree in trees
        },
        "load_average_during": [round(sum(x) / len(x), 2) for x in zip(*loads, strict=True)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=10, help="steps per timing (default: 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    parser.add_argument(
        "--documents", type=int, default=20_000, help="zh corpus documents sampled (default: 20000)"
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--cli",
        nargs="+",
        metavar="SOURCE_TREE",
        help="instead: time the long-run command from these source trees, alternating",
    )
    parser.add_argument("--cli-steps", type=int, default=60, help="(default: 60)")
    parser.add_argument("--cli-steps-per-epoch", type=int, default=10, help="(default: 10)")
    parser.add_argument("--work-dir", default=tempfile.gettempdir(), help="scratch for --cli")
    parser.add_argument("--json", type=Path, default=None, help="where the record goes")
    args = parser.parse_args()

    started = time.time()
    machine = machine_info(("tensorflow", "tensorflow-text", "keras", "numpy"))
    record: dict[str, Any] = {
        "benchmark": "benchmarks/pretrain_speed.py",
        "commit": git_commit(_ROOT),
        "machine": machine,
        "argv": sys.argv[1:],
    }
    if args.cli:
        record["cli"] = run_cli(args)
    else:
        record.update(run_variants(args))
    record["wall_seconds"] = round(time.time() - started, 1)
    record["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    what = "pretrain_speed_cli" if args.cli else "pretrain_speed"
    path = args.json or result_path(RESULTS, what, datetime.date.today(), record["commit"])
    write_results(path, record)
    if not args.cli:
        for row in record["rows"]:
            print(
                f"{row['case']:22s} {row['median_tokens_per_second']:10.0f} tokens/s "
                f"{row['median_steps_per_second']:7.2f} steps/s"
            )
    else:
        for tree, values in record["cli"]["trees"].items():
            print(f"{tree}: {values['median_tokens_per_second']:.0f} tokens/s")


if __name__ == "__main__":
    main()
