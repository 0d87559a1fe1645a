"""Named-entity recognition on the official test splits: `python benchmarks/ner.py`.

Cells (dataset x model), each trained on the train split, its epoch chosen by entity F1 on the
validation split, then scored once on the test split:

- conll2003 (English, CoNLL-2003): `minilm-softmax` and `minilm-crf` (the built-in pretrained
  MiniLM-L6 with a per-token softmax or a CRF head) and `bilstm-crf` (the classic non-BERT
  baseline: a BiLSTM-CRF on MiniLM's WordPieces, embeddings trained from scratch);
- msra (Chinese, SIGHAN 2006 MSRA): `bert-crf`, the best Chinese starting point tfbert has (by
  default a `mini` BERT trained from scratch on the bert-base-chinese vocabulary; `--init-from`
  plugs in a pretrained Chinese checkpoint instead) and `bilstm-crf`.

Each cell records entity-level test precision / recall / F1 (micro, and per type, exact span and
type as conlleval counts, on the datasets' own words), the F1 of the raw-string path
(`predict_texts` on the sentences' text, entities as character spans), training wall time, the
epochs run and the one kept, and inference throughput (test sentences per second through
`predict_texts`, strings in, entities out).

Cells run one after the other. Each keeps its state in `--runs-dir/<cell>-<settings hash>/`:
step-level training backups (`tfbert.training.resume`), so an interrupted run continues where it
stopped, and `result.json` once finished, so a rerun only fills the missing cells. Writes
benchmarks/results/ner_DATE_COMMIT.json (the finished cells, with the machine) and prints a
Markdown table.

    nice -n 15 python benchmarks/ner.py --runs-dir /tmp/ner-runs
    python benchmarks/ner.py --cells conll2003-minilm-softmax --quick 300   # a smoke test
    python benchmarks/ner.py --cells msra-bert-crf --init-from runs/zh-bert
    python benchmarks/ner.py --cells conll2003-minilm-crf --epochs 6    # a longer schedule
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
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
CHINESE_VOCABULARY = "bert-base-chinese"
SEED = 13


@dataclasses.dataclass(frozen=True)
class Cell:
    """One dataset x model run and its hyper-parameters.

    `model` is "bert" (pretrained `start` checkpoint, or a `start` preset from scratch with
    `vocabulary`) or "bilstm" (a BiLSTM-CRF on `vocabulary`'s WordPieces, or on `start`'s when
    `vocabulary` is None). `max_length` counts WordPieces with [CLS] and [SEP]; longer sentences
    are cut into overlapping windows.
    """

    dataset: str
    model: str
    start: str
    crf: bool
    epochs: int
    learning_rate: float
    batch_size: int = 32
    max_length: int = 128
    vocabulary: str | None = None
    from_scratch: bool = False
    warmup_fraction: float = 0.1
    # Train on the words the served model tags (`TokenClassifier.served_sentences`), as
    # `tfbert train --task ner` does; False trains on the dataset's own words.
    served_words: bool = True

    def settings(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """A short hash of the settings: another setting is another run directory."""
        text = json.dumps(self.settings(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


# Fine-tuning a pretrained encoder: BERT's recipe (Devlin et al. 2019: 2-4 epochs, batch 32,
# warm-up then linear decay) at the higher end of its learning rates, as small distilled
# encoders need; from scratch (BERT or BiLSTM) many more epochs at a higher rate. The epoch
# kept is the one with the best validation entity F1.
def cells(init_from: str | None) -> dict[str, Cell]:
    """The benchmark's cells by name; `init_from` replaces the Chinese BERT's starting point."""
    chinese_bert = (
        Cell("msra", "bert", init_from, crf=True, epochs=3, learning_rate=5e-5)
        if init_from
        else Cell(
            "msra",
            "bert",
            "mini",
            crf=True,
            epochs=10,
            learning_rate=5e-4,
            vocabulary=CHINESE_VOCABULARY,
            from_scratch=True,
        )  # fmt: skip
    )
    return {
        "conll2003-minilm-softmax": Cell(
            "conll2003", "bert", "minilm-l6", crf=False, epochs=3, learning_rate=1e-4
        ),
        "conll2003-minilm-crf": Cell(
            "conll2003", "bert", "minilm-l6", crf=True, epochs=3, learning_rate=1e-4
        ),
        "conll2003-bilstm-crf": Cell(
            "conll2003",
            "bilstm",
            "minilm-l6",
            crf=True,
            epochs=10,
            learning_rate=1e-3,
            from_scratch=True,
        ),  # fmt: skip
        "msra-bert-crf": chinese_bert,
        "msra-bilstm-crf": Cell(
            "msra",
            "bilstm",
            CHINESE_VOCABULARY,
            crf=True,
            epochs=10,
            learning_rate=1e-3,
            vocabulary=CHINESE_VOCABULARY,
            from_scratch=True,
        ),  # fmt: skip
    }


# ----- the model ------------------------------------------------------------------------------
def build_model(cell: Cell, tags: list[str]) -> Any:
    """The cell's untrained token classifier (the scheme follows the dataset's tags)."""
    from tfbert.data.ner import detect_scheme
    from tfbert.data.vocabularies import resolve_vocabulary
    from tfbert.modeling.bilstm import BiLSTM
    from tfbert.modeling.checkpoints import load_pretrained
    from tfbert.tasks.token_classifier import TokenClassifier
    from tfbert.text.tokenizer import BertTokenizer

    scheme = detect_scheme(tags)
    if cell.model == "bert" and not cell.from_scratch:
        return TokenClassifier.from_pretrained(
            cell.start, tags, max_length=cell.max_length, scheme=scheme, crf=cell.crf
        )
    if cell.model == "bert":
        return TokenClassifier.from_preset(
            cell.start,
            vocabulary=resolve_vocabulary(cell.vocabulary),
            tags=tags,
            max_length=cell.max_length,
            scheme=scheme,
            crf=cell.crf,
        )
    if cell.vocabulary is not None:
        tokenizer = BertTokenizer(resolve_vocabulary(cell.vocabulary), max_length=cell.max_length)
    else:
        pretrained = load_pretrained(cell.start)
        tokenizer = BertTokenizer(
            pretrained.vocabulary,
            **{**pretrained.tokenizer_options(), "max_length": cell.max_length},
        )
    return TokenClassifier(
        BiLSTM.from_vocabulary(tokenizer, name="bilstm"),
        tokenizer,
        tags,
        scheme=scheme,
        crf=cell.crf,
    )


def tag_words(model: Any, words: list[list[str]], batch_size: int = 64) -> list[list[str]]:
    """Predicted tags of pre-split words (a tag per given word, as conlleval scores them).

    The same path as the model's raw-string tagger, on the given words: pieces of each word,
    windows of at most the model's length (overlapping by its stride), each piece's scores from
    the window where it is most central, the first piece's scores for its word, then Viterbi
    (CRF) or the best tag. A word that normalises to nothing gets "O".
    """
    import numpy as np
    import tensorflow as tf

    from tfbert.tasks.inference import numeric_function
    from tfbert.tasks.token_classifier import merge_windows, window_bounds
    from tfbert.text.packers import SinglePacker, first_pieces

    numeric = numeric_function(model)
    tokenizer = model.preprocessor
    packer = SinglePacker(
        tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id, tokenizer.max_length, "longest"
    )
    order = np.argsort([len(s) for s in words], kind="stable")  # less padding per batch
    result: list[list[str]] = [[] for _ in words]
    for begin in range(0, len(words), batch_size):
        rows = order[begin : begin + batch_size]
        batch = tf.ragged.constant([list(words[i]) or [""] for i in rows], tf.string)
        ids, word_ids = tokenizer.wordpiece.tokenize_words(batch)
        windows, starts, ends = window_bounds(
            ids.row_lengths(), tokenizer.max_length - 2, model.stride
        )
        positions = tf.ragged.range(starts, ends) + tf.gather(ids.row_splits, windows)[:, None]
        features = packer(
            positions.with_flat_values(tf.gather(ids.flat_values, positions.flat_values))
        )
        emissions = numeric(features)
        pieces = merge_windows(emissions, positions, tf.size(ids.flat_values, tf.int64))
        first = first_pieces(word_ids)
        scores = tf.ragged.boolean_mask(ids.with_flat_values(pieces), first).to_tensor()
        owners = tf.ragged.boolean_mask(word_ids, first)
        mask = tf.sequence_mask(owners.row_lengths(), tf.shape(scores)[1])
        if model.crf:
            best, _ = model.head.crf.decode(scores, mask)
        else:
            best = tf.argmax(scores, axis=-1, output_type=tf.int32)
        best = tf.ragged.boolean_mask(best, mask)
        for row, owner, chosen in zip(rows, owners.to_list(), best.to_list(), strict=True):
            tags = ["O"] * len(words[row])
            for word, tag in zip(owner, chosen, strict=True):
                if word < len(tags):  # an empty sentence was tagged as one empty word
                    tags[word] = model.tags[tag]
            result[row] = tags
    return result


# ----- training -------------------------------------------------------------------------------
def _epoch_batches(
    lengths: Any, batch_size: int, seed: int, epoch: int, pool: int = 50
) -> list[Any]:
    """The batches of one epoch as index arrays, a pure function of (seed, epoch): a shuffled
    order, sorted by length within pools of `pool` batches (little padding), the batches then
    shuffled again."""
    import numpy as np

    from tfbert.training.resume import epoch_order

    order = epoch_order(len(lengths), seed, epoch)
    size = pool * batch_size
    batches = []
    for begin in range(0, len(order), size):
        chunk = order[begin : begin + size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffled = np.random.default_rng([seed, epoch, 1]).permutation(len(batches))
    return [batches[i] for i in shuffled]


def train_cell(cell: Cell, splits: dict[str, Any], directory: Path, verbose: int) -> dict[str, Any]:
    """Trains the cell's model (resuming from `directory`'s backup), keeps the epoch with the
    best validation entity F1; returns the model and what training recorded."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tfbert.contract import FEATURE_NAMES
    from tfbert.evaluation.entities import evaluate_entities
    from tfbert.training.callbacks import BestWeights, PeriodicProgress
    from tfbert.training.optimization import create_optimizer
    from tfbert.training.resume import TrainingBackup, resumable_fit

    keras.utils.set_random_seed(SEED)
    train, validation = splits["train"], splits["validation"]
    model = build_model(cell, train.tag_names())
    if cell.served_words:
        train = model.served_sentences(train)
    encoded = model.encode(train.words, model.encode_labels(train.tags))
    lengths = encoded["padding_mask"].sum(axis=1)

    def epoch_data(epoch: int, skip: int) -> tf.data.Dataset:
        batches = _epoch_batches(lengths, cell.batch_size, SEED, epoch)[skip:]
        widths = [int(lengths[b].max()) for b in batches]

        def generate():
            for batch, width in zip(batches, widths, strict=True):
                features = {name: encoded[name][batch, :width] for name in FEATURE_NAMES}
                yield features, encoded["labels"][batch, :width]

        spec = tf.TensorSpec([None, None], tf.int32)
        return (
            tf.data.Dataset.from_generator(
                generate, output_signature=({name: spec for name in FEATURE_NAMES}, spec)
            )
            .apply(tf.data.experimental.assert_cardinality(len(batches)))
            .prefetch(2)
        )

    steps = len(_epoch_batches(lengths, cell.batch_size, SEED, 0))
    model.compile(
        optimizer=create_optimizer(
            cell.learning_rate,
            total_steps=steps * cell.epochs,
            warmup_fraction=cell.warmup_fraction,
        )
    )
    clock = _Clock(directory / "training_seconds.json")

    class ValidationF1(keras.callbacks.Callback):
        """Adds the validation entity F1 (and 1 - F1, which BestWeights minimises)."""

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            report = evaluate_entities(validation, tag_words(model, validation.words))
            if logs is not None:
                logs["val_entity_f1"] = report.micro_f1
                logs["val_entity_error"] = 1.0 - report.micro_f1
            print(f"epoch {epoch + 1}: validation entity F1 {report.micro_f1:.4f}", flush=True)
            clock.save()

    best = BestWeights(directory / "best.weights.h5", monitor="val_entity_error")
    backup = TrainingBackup(
        directory / "backup",
        steps_per_epoch=steps,
        every_steps=200,
        fingerprint={**cell.settings(), "train_windows": len(lengths)},
        delete_at_end=False,
    )
    callbacks = [ValidationF1(), best, clock.callback]
    if verbose == 2:
        callbacks.append(PeriodicProgress(steps, cell.batch_size))
    history = resumable_fit(
        model,
        epoch_data,
        epochs=cell.epochs,
        steps_per_epoch=steps,
        callbacks=callbacks,
        backup=backup,
        verbose=verbose,
    )
    clock.save()
    model.load_weights(best.path)
    f1s = [float(v) for v in history.history.get("val_entity_f1", [])]
    return {
        "model": model,
        "training_seconds": round(clock.total(), 1),
        "epochs_run": cell.epochs,
        "best_epoch": (best.best_epoch + 1) if best.best_epoch is not None else None,
        "validation_f1_per_epoch": [round(100 * v, 2) for v in f1s],
        "train_loss_per_epoch": [round(float(v), 4) for v in history.history.get("loss", [])],
        "train_windows": int(len(lengths)),
        "steps_per_epoch": steps,
        "parameters": int(model.count_params()),
        "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
    }


class _Clock:
    """Training wall time summed over the runs of one cell (a resumed run adds its own)."""

    def __init__(self, path: Path) -> None:
        import keras

        self.path = path
        self.before = json.loads(path.read_text())["seconds"] if path.is_file() else 0.0
        self.started = time.perf_counter()
        self.callback = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: (batch + 1) % 200 == 0 and self.save()
        )

    def total(self) -> float:
        return self.before + time.perf_counter() - self.started

    def save(self) -> None:
        self.path.write_text(json.dumps({"seconds": self.total()}) + "\n", encoding="utf-8")


# ----- scoring --------------------------------------------------------------------------------
def score(model: Any, test: Any) -> dict[str, Any]:
    """Entity-level test scores on the given words, the raw-string F1, and throughput."""
    from tfbert.data.ner import Entity
    from tfbert.evaluation.entities import evaluate_entities, evaluate_entity_spans

    started = time.perf_counter()
    report = evaluate_entities(test, tag_words(model, test.words))
    word_seconds = time.perf_counter() - started
    texts = test.texts()
    model.predict_texts(texts[:64])  # traces the tagger once before timing
    started = time.perf_counter()
    results = model.predict_texts(texts, batch_size=32)
    string_seconds = time.perf_counter() - started
    predicted = [[Entity(e["type"], e["start"], e["end"]) for e in r["entities"]] for r in results]
    strings = evaluate_entity_spans(test.character_entities(), predicted)
    return {
        "test_f1": _pct(report.micro_f1),
        "test_precision": _pct(report.micro_precision),
        "test_recall": _pct(report.micro_recall),
        "test_macro_f1": _pct(report.macro_f1),
        "per_type": {
            row.label: {
                "precision": _pct(row.precision),
                "recall": _pct(row.recall),
                "f1": _pct(row.f1),
                "support": row.support,
            }
            for row in report.per_type
        },
        "token_accuracy": _pct(report.token_accuracy),
        "test_sentences": len(test),
        "test_entities": report.num_true,
        "raw_text_f1": _pct(strings.micro_f1),
        "sentences_per_second": round(len(texts) / string_seconds, 1),
        "word_path_sentences_per_second": round(len(texts) / word_seconds, 1),
    }


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def run_cell(name: str, cell: Cell, runs: Path, quick: int | None, verbose: int) -> dict[str, Any]:
    """Trains and scores one cell, resuming its run directory; returns the result record."""
    from tfbert.data.ner import load_ner_dataset

    directory = runs / f"{name}-{cell.key()}{f'-quick{quick}' if quick else ''}"
    done = directory / "result.json"
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    directory.mkdir(parents=True, exist_ok=True)
    splits = load_ner_dataset(cell.dataset, max_sentences_per_split=quick)
    print(f"[{time.strftime('%H:%M:%S')}] {name} in {directory}", flush=True)
    trained = train_cell(cell, splits, directory, verbose)
    model = trained.pop("model")
    result = {"settings": cell.settings(), **trained, **score(model, splits["test"])}
    if quick:
        result["quick"] = quick
    done.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result


def table(results: dict[str, dict[str, Any]]) -> str:
    """The Markdown table of finished cells (percent, minutes, sentences/s)."""
    lines = [
        "| cell | test F1 | P | R | per type F1 | raw-text F1 | epoch kept / run | "
        "training | sentences/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, cell in results.items():
        types = ", ".join(f"{k} {v['f1']:.1f}" for k, v in cell["per_type"].items())
        lines.append(
            f"| {name} | {cell['test_f1']:.2f} | {cell['test_precision']:.2f} | "
            f"{cell['test_recall']:.2f} | {types} | {cell['raw_text_f1']:.2f} | "
            f"{cell['best_epoch']} / {cell['epochs_run']} | "
            f"{cell['training_seconds'] / 60:.0f} min | {cell['sentences_per_second']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", nargs="+", default=None, help="cells to run (default: all)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/ner-bench"))
    parser.add_argument(
        "--init-from",
        default=None,
        help="a pretrained Chinese BERT (any checkpoint tfbert reads) for the msra-bert-crf cell; "
        "default: a mini BERT from scratch on the bert-base-chinese vocabulary",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="train the chosen cells for this many epochs instead of their own (another "
        "setting, so another run directory)",
    )
    parser.add_argument(
        "--quick", type=int, default=None, help="a smoke test: this many sentences per split"
    )
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    args = parser.parse_args(argv)
    available = cells(args.init_from)
    if args.epochs is not None:
        if args.epochs < 1:
            parser.error(f"--epochs must be at least 1, got {args.epochs}")
        available = {k: dataclasses.replace(c, epochs=args.epochs) for k, c in available.items()}
    chosen = args.cells or list(available)
    unknown = [c for c in chosen if c not in available]
    if unknown:
        parser.error(f"unknown cells {unknown}; choose from {', '.join(available)}")
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    commit = git_commit(_ROOT)  # the code measured: the checkout as the run starts
    results: dict[str, dict[str, Any]] = {}
    for name in chosen:
        results[name] = run_cell(name, available[name], args.runs_dir, args.quick, args.verbose)
        cell = results[name]
        print(f"  {name}: test F1 {cell['test_f1']:.2f} (epoch {cell['best_epoch']})", flush=True)
        record = {
            "benchmark": "benchmarks/ner.py",
            "what": "entity-level test precision / recall / F1 (%, exact span and type, micro "
            "and per type) on the official test splits, training wall time, epochs, and "
            "inference throughput (test sentences/s through predict_texts, batch 32)",
            "commit": commit,
            "machine": machine_info(),
            "results": results,
        }
        what = "ner" if not args.quick else f"ner_quick{args.quick}"
        path = args.json or result_path(RESULTS, what, datetime.date.today(), commit)
        write_results(path, record)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
