"""tfbert.evaluation.report: the report's JSON round trip, text table and baselines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from evaluation_cases import MULTI_P, MULTI_Y, NAMES, multiclass_case, one_hot_probs

from tfbert.evaluation import ClassReport, EvaluationReport, evaluate_predictions
from tfbert.evaluation.report import _width


@pytest.fixture(scope="module")
def multiclass_report() -> EvaluationReport:
    return multiclass_case()


def test_json_round_trip(tmp_path: Path, multiclass_report: EvaluationReport) -> None:
    path = multiclass_report.to_json(tmp_path / "nested" / "eval.json")
    assert path.is_file()
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["accuracy"] == pytest.approx(5 / 8)
    assert data["per_class"][0] == {
        "label": "cat",
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(2 / 3),
        "support": 3,
    }
    loaded = EvaluationReport.from_json(path)
    assert loaded == multiclass_report
    assert isinstance(loaded.per_class[0], ClassReport)


def test_json_round_trip_multilabel_and_unicode(tmp_path: Path) -> None:
    report = evaluate_predictions(MULTI_Y, MULTI_P, ["体育", "财经", "科技"], "multilabel")
    loaded = EvaluationReport.from_json(report.to_json(tmp_path / "ml.json"))
    assert loaded == report
    assert "体育" in (tmp_path / "ml.json").read_text(encoding="utf-8")


def test_from_dict_names_missing_keys(multiclass_report: EvaluationReport) -> None:
    data = multiclass_report.to_dict()
    del data["macro_f1"], data["per_class"]
    with pytest.raises(ValueError, match="missing macro_f1, per_class"):
        EvaluationReport.from_dict(data)


def test_format_table_multiclass(multiclass_report: EvaluationReport) -> None:
    table = multiclass_report.format_table()
    for name in NAMES:
        assert name in table
    assert re.search(r"^accuracy\s+0\.625\s+8$", table, re.M)
    assert re.search(r"^macro avg\s+0\.722\s+0\.611\s+0\.635\s+8$", table, re.M)  # 13/18 11/18
    assert re.search(r"^weighted avg\s+.*0\.631\s+8$", table, re.M)  # 53/84
    assert re.search(r"^dog\s+0\.500\s+0\.667\s+0\.571\s+3$", table, re.M)
    # Confusion matrix rows are labelled with the true class and hold its counts.
    assert re.search(r"^bird\s+0\s+1\s+1$", table, re.M)
    header = next(line for line in table.splitlines() if line.startswith("true \\ pred"))
    assert header.split()[-3:] == NAMES


def test_format_table_truncates_long_and_aligns_wide_names() -> None:
    names = ["a label name that is far too long for any table column", "体育新闻", "x"]
    report = evaluate_predictions([0, 1, 2], one_hot_probs([0, 1, 2], 3), names, "multiclass")
    lines = report.format_table().splitlines()
    assert any("…" in line for line in lines)
    assert all(_width(line) <= 100 for line in lines)
    start = next(i for i, line in enumerate(lines) if line.startswith("label"))
    block = lines[start : start + 2 + len(names)]  # header, rule, one row per label
    assert len({_width(line) for line in block}) == 1  # CJK counted as two columns


def test_format_table_multilabel() -> None:
    report = evaluate_predictions(MULTI_Y, MULTI_P, ["toxic", "insult", "threat"], "multilabel")
    table = report.format_table()
    assert re.search(r"^subset accuracy\s+0\.750\s+4$", table, re.M)
    assert re.search(r"^micro avg\s+1\.000\s+0\.833\s+0\.909\s+6$", table, re.M)
    assert re.search(r"^hamming_loss\s+0\.083$", table, re.M)
    assert re.search(r"^insult\s+2\s+0\s+1\s+1$", table, re.M)  # tn fp fn tp


# ----- report kinds and files --------------------------------------------------------------------
def test_load_report_reads_the_kind_it_was_written_with(
    tmp_path: Path, multiclass_report: EvaluationReport
) -> None:
    from dataclasses import dataclass

    from tfbert.errors import DataError
    from tfbert.evaluation import Report, load_report

    path = multiclass_report.to_json(tmp_path / "eval.json")
    assert json.loads(path.read_text(encoding="utf-8"))["kind"] == "classification"
    assert load_report(path) == multiclass_report
    data = multiclass_report.to_dict()
    del data["kind"]  # written before report kinds existed
    assert Report.from_dict(data) == multiclass_report

    @dataclass
    class PerplexityReport(Report, kind="test_masked_lm"):
        perplexity: float

        def format_table(self, digits: int = 3) -> str:
            return f"perplexity {self.perplexity:.{digits}f}"

    other = load_report(PerplexityReport(12.5).to_json(tmp_path / "mlm.json"))
    assert other == PerplexityReport(12.5) and str(other) == "perplexity 12.500"
    with pytest.raises(DataError, match="'test_masked_lm' report, not a 'classification' one"):
        EvaluationReport.from_json(tmp_path / "mlm.json")
    with pytest.raises(DataError, match="Unknown evaluation report kind 'speech'"):
        Report.from_dict({"kind": "speech"})


def test_to_json_refuses_a_directory(tmp_path: Path, multiclass_report: EvaluationReport) -> None:
    from tfbert.errors import DataError

    (tmp_path / "taken").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        multiclass_report.to_json(tmp_path / "taken")
    (tmp_path / "file").write_text("mine", encoding="utf-8")
    with pytest.raises(DataError, match="a file stands where a directory"):
        multiclass_report.to_json(tmp_path / "file" / "eval.json")
    assert (tmp_path / "file").read_text(encoding="utf-8") == "mine"


# ----- majority baseline -------------------------------------------------------------------------
def test_majority_baseline_equals_scoring_a_constant_prediction(
    multiclass_report: EvaluationReport,
) -> None:
    baseline = multiclass_report.majority_baseline()
    assert baseline.label == "cat"  # cat and dog both have 3 examples: the first one wins
    y_true = [0, 0, 0, 1, 1, 1, 2, 2]
    constant = evaluate_predictions(y_true, one_hot_probs([0] * 8, 3), NAMES, "multiclass")
    assert baseline.accuracy == pytest.approx(constant.accuracy) == pytest.approx(3 / 8)
    assert baseline.macro_f1 == pytest.approx(constant.macro_f1) == pytest.approx(2 / 11)
    assert baseline.weighted_f1 == pytest.approx(constant.weighted_f1)


def test_majority_baseline_multilabel() -> None:
    y = [[1, 0, 1], [1, 1, 0], [1, 0, 0], [0, 0, 1]]  # a: mostly yes, b: mostly no, c: a tie
    report = evaluate_predictions(y, MULTI_P, ["a", "b", "c"], "multilabel")
    baseline = report.majority_baseline()
    constant = evaluate_predictions(y, [[0.9, 0.1, 0.1]] * 4, ["a", "b", "c"], "multilabel")
    assert baseline.label is None
    assert baseline.accuracy == pytest.approx(1 - constant.extra["hamming_loss"])
    assert baseline.macro_f1 == pytest.approx(constant.macro_f1) == pytest.approx(6 / 7 / 3)
    assert baseline.weighted_f1 == pytest.approx(constant.weighted_f1)


# ----- the TF-IDF baseline beside the model ------------------------------------------------------
def _with_baseline(report: EvaluationReport, accuracy: float, macro_f1: float) -> EvaluationReport:
    from dataclasses import replace

    from tfbert.evaluation import BaselineScores

    baseline = BaselineScores(
        description="TF-IDF (word 1-2-grams, 120 terms, sublinear tf) + linear_svc C=1",
        accuracy=accuracy,
        macro_f1=macro_f1,
        per_class_f1={"cat": 0.9, "dog": 0.8, "bird": 0.7},
        fit_seconds=1.25,
    )
    return replace(report, baseline=baseline)


def test_baseline_round_trips_through_json_and_old_reports_still_load(
    tmp_path: Path, multiclass_report: EvaluationReport
) -> None:
    from tfbert.evaluation import BaselineScores, load_report

    report = _with_baseline(multiclass_report, 0.875, 0.8)
    path = report.to_json(tmp_path / "eval.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["baseline"]["per_class_f1"] == {"cat": 0.9, "dog": 0.8, "bird": 0.7}
    assert data["baseline"]["name"] == "TF-IDF baseline"
    loaded = load_report(path)
    assert loaded == report and isinstance(loaded.baseline, BaselineScores)

    del data["baseline"]  # a report written before baselines were recorded
    old = EvaluationReport.from_dict(data)
    assert old.baseline is None and old == multiclass_report
    data["baseline"] = {"accuracy": 0.9}
    with pytest.raises(ValueError, match="baseline entry is incomplete"):
        EvaluationReport.from_dict(data)


def test_table_shows_the_baseline_beside_the_model_and_warns_when_below(
    multiclass_report: EvaluationReport,
) -> None:
    below = _with_baseline(multiclass_report, 0.875, 0.8)  # model: 0.625 accuracy, 0.635 F1
    assert below.below_baseline() == ["accuracy", "macro-F1"]
    table = below.format_table()
    assert "TF-IDF baseline: TF-IDF (word 1-2-grams, 120 terms" in table
    assert "(fitted in 1.2 s)" in table
    assert re.search(r"^\s+model\s+TF-IDF baseline$", table, re.M)
    assert re.search(r"^accuracy\s+0\.625\s+0\.875$", table, re.M)
    assert re.search(r"^macro-F1\s+0\.635\s+0\.800$", table, re.M)
    assert re.search(r"^F1 dog\s+0\.571\s+0\.800$", table, re.M)
    warning = below.baseline_warning()
    assert warning == (
        "Warning: the model's accuracy (62.5%) and macro-F1 (63.5%) are below the TF-IDF "
        "baseline's (87.5%, 80.0%) on these 8 examples: try a pretrained starting point "
        "(--init-from) if it started from scratch, more epochs, or use the baseline itself "
        "(`tfbert baseline`)."
    )
    assert warning in table.splitlines()

    only_f1 = _with_baseline(multiclass_report, 0.5, 0.7)
    assert only_f1.below_baseline() == ["macro-F1"]
    assert "model's macro-F1 (63.5%) is below the TF-IDF baseline's (70.0%)" in str(only_f1)

    above = _with_baseline(multiclass_report, 0.5, 0.6354)  # equal as shown: no warning
    assert above.below_baseline() == [] and above.baseline_warning() is None
    assert "Warning" not in above.format_table()
    assert "TF-IDF baseline" not in multiclass_report.format_table()
    assert multiclass_report.baseline_warning() is None
