"""`tfbert export`: a versioned SavedModel and nothing else in the base directory; a LiteRT
model (`--format tflite`), int8 calibrated on real reviews; options of the other format refused."""

from __future__ import annotations

import csv

import pytest
from native import LITERT_CRASH

from .helpers import NEW_REVIEWS, assert_usage_error, run


def test_export_writes_a_versioned_saved_model(exported) -> None:
    assert (exported.export_dir / "1" / "saved_model.pb").is_file()
    assert sorted(p.name for p in exported.export_dir.iterdir()) == ["1"]  # no leftovers
    assert f"Exported {exported.export_dir / '1'}" in exported.result.out


@pytest.mark.isolated(crash_is_known=LITERT_CRASH)  # LiteRT beside TensorFlow, its own process
def test_export_tflite_int8_calibrated_on_a_text_file(capsys, trained, files, tmp_path) -> None:
    import numpy as np

    from tfbert.export.tflite import TFLiteClassifier
    from tfbert.tasks.classifier import BertClassifier

    calibration = tmp_path / "calibration.txt"
    with open(files.test, encoding="utf-8", newline="") as handle:  # real reviews, one a line
        reviews = [row["text"].replace("\n", " ") for row in csv.DictReader(handle)][:40]
    calibration.write_text("\n".join(reviews) + "\n", encoding="utf-8")
    export_dir = tmp_path / "lite"
    result = run(capsys, "export", "--model", trained.model_dir, "--export-dir", export_dir,
                 "--format", "tflite", "--quantize", "int8",
                 "--calibration-file", calibration)  # fmt: skip
    assert result.code == 0, result.err
    assert "full-integer int8" in result.out
    lite = TFLiteClassifier.load(export_dir)
    lines = [line for line in calibration.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lite.info["quantize"] == "int8" and lite.info["calibration_texts"] == len(lines)
    model = BertClassifier.from_pretrained(trained.model_dir)
    texts = NEW_REVIEWS
    expected = model.predict_texts(texts)["probabilities"]
    assert np.max(np.abs(lite.predict_texts(texts)["probabilities"] - expected)) < 0.05


def test_export_refuses_options_of_the_other_format(capsys, trained, tmp_path) -> None:
    base = ["export", "--model", trained.model_dir, "--export-dir", tmp_path / "x"]
    assert_usage_error(run(capsys, *base, "--quantize", "dynamic"), "--quantize", "tflite")
    assert_usage_error(
        run(capsys, *base, "--format", "tflite", "--quantize", "int8"), "--calibration-file"
    )
    assert_usage_error(
        run(capsys, *base, "--format", "tflite", "--precision", "bfloat16"), "--precision"
    )
    assert_usage_error(run(capsys, *base, "--format", "tflite", "--version", "2"), "--version")
    assert not (tmp_path / "x").exists()
