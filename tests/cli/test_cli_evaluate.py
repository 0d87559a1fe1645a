"""`tfbert evaluate` (and the bfloat16 path through evaluate, predict and export) on real reviews,
and the model or input mistakes that must give one line, not a traceback."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

from tfbert.data import read_examples
from tfbert.evaluation import evaluate_classifier
from tfbert.export import directory_size
from tfbert.tasks.tfidf import TfidfClassifier

from .helpers import NEW_REVIEWS, assert_usage_error, parse_json, run, write_csv


def test_evaluate_prints_a_table_and_writes_the_report(capsys, trained, files, tmp_path) -> None:
    result = run(
        capsys, "evaluate", "--model", trained.model_dir, "--test-file", files.test,
        "--report", tmp_path / "report",
    )  # fmt: skip
    assert result.code == 0, result.err
    out = result.out
    assert f"{files.test}: 80 examples" in out
    # No training data given: the TF-IDF baseline saved at training is reused.
    assert f"TF-IDF baseline: the one fitted at training ({trained.model_dir / 'baseline'})" in (
        result.err
    )
    assert "TF-IDF baseline: TF-IDF (word 1-2-grams" in out
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
    stem = files.test.stem
    assert written == [f"{stem}.json", f"{stem}_confusion_matrix.png", f"{stem}_per_class.png"]

    as_json = run(
        capsys, "evaluate", "--model", trained.model_dir, "--test-file", files.test,
        "--report", tmp_path / "report2", "--json",
    )  # fmt: skip
    assert as_json.code == 0
    report = json.loads(as_json.out)
    assert report["num_examples"] == 80
    saved = TfidfClassifier.load(trained.model_dir / "baseline")
    assert report["baseline"]["description"] == saved.description()
    alone = evaluate_classifier(saved, read_examples(files.test))
    assert report["baseline"]["accuracy"] == pytest.approx(alone.accuracy)
    below = round(report["accuracy"] * 100, 1) < round(alone.accuracy * 100, 1)
    assert ("Warning: the model's accuracy" in out) == below
    assert report["accuracy"] == pytest.approx(accuracy, abs=5e-4)
    assert [c["label"] for c in report["per_class"]] == ["negative", "positive"]
    assert np.asarray(report["confusion_matrix"]).sum() == 80


def test_bfloat16_evaluate_predict_and_export(capsys, trained, files, tmp_path) -> None:
    """--precision bfloat16 scores, predicts and exports close to float32, with a smaller export."""
    reports = {}
    for precision in ("float32", "bfloat16"):
        result = run(
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
        result = run(capsys, "predict", "--model", trained.model_dir, "--json",
                     "--precision", precision, *NEW_REVIEWS)  # fmt: skip
        assert result.code == 0, result.err
        predicted[precision] = parse_json(result.out)
    for fast, plain in zip(predicted["bfloat16"], predicted["float32"], strict=True):
        for name, p in plain["probabilities"].items():
            assert fast["probabilities"][name] == pytest.approx(p, abs=0.02)

    export_dir = tmp_path / "export"
    for precision in ("float32", "bfloat16"):
        result = run(capsys, "export", "--model", trained.model_dir, "--export-dir", export_dir,
                     "--precision", precision)  # fmt: skip
        assert result.code == 0, result.err
    assert directory_size(export_dir / "2") < directory_size(export_dir / "1")
    served = run(capsys, "predict", "--model", export_dir / "2", "--json", *NEW_REVIEWS)
    assert served.code == 0, served.err
    for fast, mine in zip(parse_json(served.out), predicted["bfloat16"], strict=True):
        for name, p in mine["probabilities"].items():
            assert fast["probabilities"][name] == pytest.approx(p, abs=2e-3)


def test_model_and_input_mistakes_at_evaluate_predict_and_export(
    capsys, monkeypatch, tmp_path, trained
) -> None:
    unknown = write_csv(
        tmp_path / "test.csv",
        [("A fine film.", "positive"), ("Meh.", "neutral"), ("Bad.", "negative")],
    )
    assert_usage_error(
        run(capsys, "evaluate", "--model", trained.model_dir, "--test-file", unknown,
            "--report", tmp_path / "r"),
        "'neutral' (1 rows)", "not in the label vocabulary", "Known labels: negative, positive",
    )  # fmt: skip

    not_a_model = tmp_path / "not_a_model"
    not_a_model.mkdir()
    (not_a_model / "readme.txt").write_text("hello\n", encoding="utf-8")
    assert_usage_error(
        run(capsys, "evaluate", "--model", not_a_model, "--test-file", unknown),
        "not a tfbert model directory", "config.json is missing",
    )  # fmt: skip
    assert_usage_error(
        run(capsys, "export", "--model", not_a_model, "--export-dir", tmp_path / "e"),
        "not a tfbert model directory",
    )
    assert_usage_error(
        run(capsys, "predict", "--model", not_a_model, "some text"),
        "neither a tfbert model directory nor a SavedModel export",
    )

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert_usage_error(run(capsys, "predict", "--model", trained.model_dir), "no texts to classify")
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n  \n"))
    assert_usage_error(run(capsys, "predict", "--model", trained.model_dir), "no texts to classify")


@pytest.mark.parametrize("content", ["[1, 2, 3]", '{"bert": {"hidden_size": 8}}', "{not json"])
def test_a_config_json_that_is_not_tfbert_s_is_one_line(capsys, tmp_path, files, content) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(content, encoding="utf-8")
    for argv in (
        ["evaluate", "--model", model, "--test-file", files.test],
        ["predict", "--model", model, "some text"],
        ["export", "--model", model, "--export-dir", tmp_path / "export"],
    ):
        assert_usage_error(run(capsys, *argv), "config.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(p.name for p in model.iterdir()) == ["config.json"]


def test_output_paths_that_are_files_are_one_line(capsys, tmp_path, trained, files) -> None:
    taken = tmp_path / "taken"
    taken.write_text("mine\n", encoding="utf-8")
    assert_usage_error(
        run(capsys, "evaluate", "--model", trained.model_dir, "--test-file", files.test,
            "--report", taken),
        "--report", "is a file",
    )  # fmt: skip
    assert_usage_error(
        run(capsys, "export", "--model", trained.model_dir, "--export-dir", taken),
        "--export-dir", "is a file",
    )  # fmt: skip
    assert_usage_error(
        run(capsys, "evaluate", "--model", trained.model_dir, "--test-file", tmp_path,
            "--report", tmp_path / "r"),
        "--test-file", "is a directory",
    )  # fmt: skip
    assert taken.read_text(encoding="utf-8") == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_evaluate_scores_an_export_like_the_model_it_came_from(
    capsys, trained, files, tmp_path
) -> None:
    exports = tmp_path / "exports"
    assert run(capsys, "export", "--model", trained.model_dir, "--export-dir", exports).code == 0
    reports = {}
    for name, model in (("run", trained.model_dir), ("base", exports), ("version", exports / "1")):
        result = run(
            capsys, "evaluate", "--model", model, "--test-file", files.test,
            "--report", tmp_path / name, "--json",
        )  # fmt: skip
        assert result.code == 0, result.err
        reports[name] = json.loads(result.out)
    for name in ("base", "version"):
        assert reports[name]["confusion_matrix"] == reports["run"]["confusion_matrix"]
        assert abs(reports[name]["accuracy"] - reports["run"]["accuracy"]) < 1e-9
    assert reports["run"]["baseline"] is not None  # the model directory's saved baseline
    for name in ("base", "version"):  # an export keeps none, and a file gives no train split
        assert reports[name]["baseline"] is None
    default = run(capsys, "evaluate", "--model", exports / "1", "--test-file", files.test)
    assert default.code == 0 and (exports / "evaluation").is_dir()
    assert "No TF-IDF baseline: an export does not keep one" in default.err
    # With --dataset the train split is known: a baseline is fitted on it.
    fitted = run(capsys, "evaluate", "--model", exports, "--dataset", "imdb", "--max-examples",
                 "100", "--report", tmp_path / "imdb", "--json")  # fmt: skip
    assert fitted.code == 0, fitted.err
    assert "Fitting the TF-IDF baseline on 100 training texts..." in fitted.err
    assert json.loads(fitted.out)["baseline"]["description"].startswith("TF-IDF (word")
    skipped = run(capsys, "evaluate", "--model", trained.model_dir, "--test-file", files.test,
                  "--report", tmp_path / "skipped", "--json", "--no-baseline")  # fmt: skip
    assert skipped.code == 0 and "TF-IDF" not in skipped.err
    assert json.loads(skipped.out)["baseline"] is None
    assert sorted(p.name for p in exports.iterdir()) == ["1", "evaluation"]

    refused = run(
        capsys, "evaluate", "--model", exports, "--test-file", files.test,
        "--precision", "bfloat16",
    )  # fmt: skip
    assert refused.code != 0 and "exported with" in refused.err
    assert len(refused.err.strip().splitlines()) == 1
