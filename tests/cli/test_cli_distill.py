"""`tfbert distill`: a student from the session's tiny model, end to end, and its refusals."""

from __future__ import annotations

import json

from .helpers import NEW_REVIEWS, assert_usage_error, run


def test_distill_then_predict_and_export_the_student(capsys, trained, files, tmp_path) -> None:
    out = tmp_path / "student"
    result = run(
        capsys, "distill", "--teacher", trained.model_dir, "--train-file", files.train,
        "--validation-file", files.test, "--student-layers", "1", "--epochs", "1",
        "--temperature", "3", "--alpha", "0.7", "--output-dir", out,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "Student: 1 of the teacher's 2 layers" in result.err
    assert "Saved the student to" in result.out
    lines = result.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model "))
    assert [line.split()[0] for line in lines[header + 1 : header + 4]] == [
        "student", "teacher", "tfidf",
    ]  # fmt: skip
    report = json.loads((out / "distill_report.json").read_text())
    assert report["examples"] == 80 and report["temperature"] == 3.0 and report["alpha"] == 0.7
    assert json.loads((out / "config.json").read_text())["bert"]["num_layers"] == 1
    # The student is an ordinary model directory: predict and export take it.
    predicted = run(capsys, "predict", "--model", out, *NEW_REVIEWS[:2])
    assert predicted.code == 0, predicted.err
    assert len(predicted.out.splitlines()) == 2
    exported = run(capsys, "export", "--model", out, "--export-dir", tmp_path / "export")
    assert exported.code == 0, exported.err
    assert (tmp_path / "export" / "1" / "saved_model.pb").is_file()
    # As a killed run leaves it: only the same command and data resume it.
    (out / "backup").mkdir()
    listing = sorted(p.name for p in out.iterdir())
    changed = run(
        capsys, "distill", "--teacher", trained.model_dir, "--train-file", files.train,
        "--validation-file", files.test, "--student-layers", "1", "--epochs", "1",
        "--alpha", "0.7", "--output-dir", out,
    )  # fmt: skip
    assert_usage_error(changed, "--temperature: 3.0 then, 2.0 now", only=False)
    assert sorted(p.name for p in out.iterdir()) == listing


def test_distill_refuses_mistakes_in_one_line(capsys, trained, files, tmp_path) -> None:
    out = tmp_path / "student"
    base = ("distill", "--teacher", trained.model_dir, "--train-file", files.train,
            "--output-dir", out)  # fmt: skip
    result = run(capsys, *base)
    assert_usage_error(result, "--student-layers", "--student-preset")
    result = run(capsys, *base, "--student-layers", "4")
    assert_usage_error(result, "--student-layers 4: the teacher has 2 layers", only=False)
    result = run(capsys, *base, "--student-preset", "tiny", "--alpha", "1.5")
    assert_usage_error(result, "--alpha")
    result = run(capsys, "distill", "--teacher", tmp_path, "--train-file", files.train,
                 "--student-layers", "1", "--output-dir", out)  # fmt: skip
    assert_usage_error(result, "not a model directory")
    assert not out.exists()
