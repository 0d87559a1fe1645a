"""Helpers of the command-line tests: writing CSVs, running `tfbert` in-process or as a process."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from types import SimpleNamespace

from tfbert.cli import main

SENTIMENT = {"0": "negative", "1": "positive"}
NEW_REVIEWS = [
    "A wonderful, moving film with a brilliant cast; I loved every minute of it.",
    "Two hours I will never get back. Dull, badly acted and far too long.",
    "The plot was predictable but the music was great.",
]
NOISE = ("oneDNN", "cuda", "I0000", "E0000", "WARNING: All log messages", "Traceback")


def write_csv(path: Path, rows: list[tuple[str, str]], header=("text", "label")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_conll(path: Path, data) -> Path:
    """A CoNLL column file (a word and its tag per line, a blank line after each sentence) of
    a `TaggedSentences`."""
    lines = []
    for words, tags in zip(data.words, data.tags, strict=True):
        lines += [f"{word} {tag}" for word, tag in zip(words, tags, strict=True)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def balanced(reviews: list[tuple[str, str]], start: int, per_label: int) -> list[tuple[str, str]]:
    """`per_label` reviews of each sentiment from position `start`, interleaved, named labels."""
    by_label = {
        label: [(t, SENTIMENT[y]) for t, y in reviews if y == label][start : start + per_label]
        for label in ("0", "1")
    }
    return [row for pair in zip(by_label["0"], by_label["1"], strict=True) for row in pair]


def run(capsys, *argv: str | Path) -> SimpleNamespace:
    """Runs the command in-process; returns its exit code, stdout and stderr.

    Usage errors found by the parser exit through SystemExit: its code is returned too.
    """
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return SimpleNamespace(code=code, out=out, err=err)


def run_captured(*argv: str | Path) -> SimpleNamespace:
    """Like `run`, for session-scoped fixtures (which cannot use capsys)."""
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue())


def assert_usage_error(result: SimpleNamespace, *fragments: str, only: bool = True) -> str:
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


def train_args(path: Path, out_dir: Path, *extra: str) -> list[str | Path]:
    return ["train", "--train-file", path, "--preset", "tiny", "--max-length", "32",
            "--epochs", "1", "--output-dir", out_dir, *extra]  # fmt: skip


def parse_plain(out: str) -> list[tuple[str, dict[str, float], str]]:
    rows = []
    for line in out.strip("\n").split("\n"):
        label, scores, text = line.split("\t")
        probs = {k: float(v) for k, v in (item.split("=") for item in scores.split())}
        rows.append((label, probs, text))
    return rows


def parse_json(out: str) -> list[dict]:
    return [json.loads(line) for line in out.strip().splitlines()]


def tfbert_command() -> list[str]:
    script = Path(sys.executable).parent / "tfbert"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tfbert.cli"]
