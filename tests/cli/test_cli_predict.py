"""`tfbert predict` from a model directory, an export and the real executable: one output line
per input, in order, for arguments, files and stdin."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from .helpers import (
    NEW_REVIEWS,
    NOISE,
    assert_usage_error,
    parse_json,
    parse_plain,
    run,
    tfbert_command,
)


def test_predict_from_model_dir_and_export_agree_for_args_file_and_stdin(
    capsys, monkeypatch, trained, exported, files
) -> None:
    results = {}
    for kind, model in (("model", trained.model_dir), ("export", exported.export_dir)):
        plain = run(capsys, "predict", "--model", model, *NEW_REVIEWS)
        assert plain.code == 0, plain.err
        as_json = run(capsys, "predict", "--model", model, "--json", *NEW_REVIEWS)
        assert as_json.code == 0, as_json.err
        from_file = run(capsys, "predict", "--model", model, "--json", "--file", files.texts)
        assert from_file.code == 0, from_file.err
        monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(NEW_REVIEWS) + "\n"))
        from_stdin = run(capsys, "predict", "--model", model, "--json")
        assert from_stdin.code == 0, from_stdin.err
        results[kind] = (plain, as_json, from_file, from_stdin)

        rows = parse_plain(plain.out)
        records = parse_json(as_json.out)
        assert [r["text"] for r in records] == NEW_REVIEWS
        assert [text for _, _, text in rows] == [t[:80] for t in NEW_REVIEWS]
        for (label, probs, _), record in zip(rows, records, strict=True):
            assert label == record["label"] in ("negative", "positive")
            assert sorted(record["probabilities"]) == ["negative", "positive"]
            assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
            assert max(record["probabilities"], key=record["probabilities"].get) == label
            for name, p in probs.items():
                assert p == pytest.approx(record["probabilities"][name], abs=1e-3)
        # The file's blank line gets an explicit line of its own; stdin gives the same as the
        # arguments.
        from_file_records = parse_json(from_file.out)
        assert from_file_records[:2] == records[:2]
        assert from_file_records[2]["text"] == "" and from_file_records[2]["label"] is None
        assert len(from_file_records) == 3
        assert parse_json(from_stdin.out) == records

    model_records = parse_json(results["model"][1].out)
    export_records = parse_json(results["export"][1].out)
    assert [r["label"] for r in model_records] == [r["label"] for r in export_records]
    for mine, theirs in zip(model_records, export_records, strict=True):
        for name, p in mine["probabilities"].items():
            assert p == pytest.approx(theirs["probabilities"][name], abs=1e-3)
    # A version directory works as well as the base path.
    version = run(capsys, "predict", "--model", exported.export_dir / "1", "--json", *NEW_REVIEWS)
    assert parse_json(version.out) == export_records


def test_one_output_line_per_input_with_blank_and_multi_line_texts(capsys, trained) -> None:
    texts = [NEW_REVIEWS[0], "", "   ", "first line\nsecond line\twith a tab", NEW_REVIEWS[1]]
    plain = run(capsys, "predict", "--model", trained.model_dir, *texts)
    assert plain.code == 0, plain.err
    lines = plain.out.rstrip("\n").split("\n")
    assert len(lines) == len(texts)
    assert lines[1].startswith("(blank)\t") and lines[2].startswith("(blank)\t")
    assert lines[3].split("\t")[2] == "first line\\nsecond line\\twith a tab"
    for i in (0, 3, 4):
        assert lines[i].split("\t")[0] in ("negative", "positive")

    as_json = run(capsys, "predict", "--model", trained.model_dir, "--json", *texts)
    records = [json.loads(line) for line in as_json.out.rstrip("\n").split("\n")]
    assert [r["text"] for r in records] == texts
    assert [r["label"] is None for r in records] == [False, True, True, False, False]
    assert "blank" in records[1]["error"]


def test_predict_file_that_is_a_directory(capsys, trained, tmp_path) -> None:
    assert_usage_error(
        run(capsys, "predict", "--model", trained.model_dir, "--file", tmp_path),
        "--file", "is a directory",
    )  # fmt: skip


def test_executable_output_is_free_of_tensorflow_noise(exported, tmp_path) -> None:
    # What a user's shell has: none of the variables the test session set to quieten TF.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFBERT_VERBOSE", "TFBERT_DEBUG")
    }
    ok = subprocess.run(
        [*tfbert_command(), "predict", "--model", str(exported.export_dir), *NEW_REVIEWS[:2]],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert len(ok.stdout.strip().splitlines()) == 2
    assert all(line.split("\t")[0] in ("negative", "positive") for line in ok.stdout.splitlines())
    assert ok.stderr.strip() == "", ok.stderr
    for line in ok.stdout.splitlines():
        assert not any(noise in line for noise in NOISE), line

    bad = subprocess.run(
        [*tfbert_command(), "predict", "--model", str(tmp_path), "some text"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        f"error: {tmp_path} is neither a tfbert model directory nor a SavedModel export "
        "(<base>/<version>/)."
    ]

    usage = subprocess.run(
        [*tfbert_command(), "predict"], capture_output=True, text=True, env=env, timeout=300
    )
    assert usage.returncode == 2 and "one of the arguments --model --server is required" in (
        usage.stderr
    )
