"""`tfbert prune`: a trained model in, a smaller normal model directory out; mistakes refused in
one line before any work."""

from __future__ import annotations

import json

from .helpers import NEW_REVIEWS, assert_usage_error, run


def test_prune_writes_a_smaller_model_that_predicts(capsys, tmp_path, files, trained) -> None:
    output = tmp_path / "pruned"
    result = run(
        capsys, "prune", "--model", trained.model_dir, "--train-file", files.train,
        "--heads", 0.5, "--ffn", 0.25, "--layers", 1, "--epochs", 1, "--output-dir", output,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "Parameters:" in result.out and "Saved the pruned model" in result.out
    assert "Scoring heads, neurons and layers" in result.err
    bert = json.loads((output / "config.json").read_text(encoding="utf-8"))["bert"]
    assert bert["num_layers"] == 1 and bert["layer_heads"] == [1]  # tiny: 2 layers x 2 heads
    assert bert["intermediate_size"] == 384  # a quarter of 512 removed
    record = json.loads((output / "pruning.json").read_text(encoding="utf-8"))
    assert record["parameters"]["after"] < record["parameters"]["before"]
    predicted = run(capsys, "predict", "--model", output, *NEW_REVIEWS)
    assert predicted.code == 0, predicted.err
    assert len(predicted.out.strip().splitlines()) == len(NEW_REVIEWS)


def test_mistakes_are_refused_in_one_line(capsys, tmp_path, files, trained) -> None:
    base = ["prune", "--model", trained.model_dir, "--output-dir", tmp_path / "out"]
    assert_usage_error(run(capsys, *base, "--train-file", files.train, "--heads", 1.5), "--heads")
    assert_usage_error(run(capsys, *base, "--train-file", files.train, "--heads", 1), "--heads")
    zero = ("--train-file", files.train, "--ffn-multiple", 0)
    assert_usage_error(run(capsys, *base, *zero), "--ffn-multiple")
    assert_usage_error(run(capsys, *base), "--dataset or --train-file")
    taken = ["--output-dir", trained.model_dir, "--train-file", files.train]
    assert_usage_error(run(capsys, *base[:3], *taken), "already holds a model")
    missing = ["prune", "--model", tmp_path, "--train-file", files.train, "--output-dir", "x"]
    assert_usage_error(run(capsys, *missing), "holds no model")
    assert not (tmp_path / "out").exists()
