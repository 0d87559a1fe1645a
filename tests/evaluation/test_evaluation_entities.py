"""Entity-level NER scores: hand-computed cases, the report's face, and seqeval on real data."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tfbert.data.ner import Entity, TaggedSentences, load_ner_dataset
from tfbert.errors import DataError
from tfbert.evaluation.entities import EntityReport, evaluate_entities, evaluate_entity_spans
from tfbert.evaluation.report import load_report

TRUE = [
    ["B-PER", "I-PER", "O", "B-LOC", "O"],
    ["B-ORG", "I-ORG", "I-ORG", "O", "B-PER"],
    ["O", "O", "B-LOC", "O"],
]
PREDICTED = [
    ["B-PER", "I-PER", "O", "B-ORG", "O"],  # PER right; LOC span labelled ORG (wrong type)
    ["B-ORG", "I-ORG", "O", "O", "B-PER"],  # ORG span too short (wrong span); PER right
    [
        "I-LOC",
        "O",
        "B-LOC",
        "O",
    ],  # spurious LOC (I- after O starts one, as in conlleval); LOC right
]


def test_hand_computed_scores_confusion_and_examples():
    report = evaluate_entities(TRUE, PREDICTED)
    # True: PER x2, LOC x2, ORG x1 (5). Predicted: PER x2, ORG x2, LOC x2 (6). Hits: PER 2, LOC 1.
    rows = {row.label: row for row in report.per_type}
    assert (rows["PER"].precision, rows["PER"].recall, rows["PER"].support) == (1.0, 1.0, 2)
    assert (rows["LOC"].precision, rows["LOC"].recall, rows["LOC"].f1) == (0.5, 0.5, 0.5)
    assert (rows["ORG"].precision, rows["ORG"].recall, rows["ORG"].f1) == (0.0, 0.0, 0.0)
    assert (report.num_true, report.num_predicted) == (5, 6)
    assert report.micro_precision == pytest.approx(3 / 6)
    assert report.micro_recall == pytest.approx(3 / 5)
    assert report.micro_f1 == pytest.approx(2 * 0.5 * 0.6 / 1.1)
    assert report.macro_f1 == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert report.weighted_f1 == pytest.approx((2 * 0.5 + 1 * 0.0 + 2 * 1.0) / 5)
    assert report.token_accuracy == pytest.approx(11 / 14)
    # Types LOC, ORG, PER; last column "missed", last row "spurious".
    assert report.entity_types == ["LOC", "ORG", "PER"]
    assert report.confusion == [
        [1, 1, 0, 0],  # LOC: one found, one predicted as ORG at the exact span
        [0, 0, 0, 1],  # ORG: its span was not predicted (a shorter one was)
        [0, 0, 2, 0],
        [1, 1, 0, 0],  # spurious: the LOC at 0:1 of sentence 3, the short ORG of sentence 2
    ]
    kinds = [(e.sentence, e.kind, e.gold, e.predicted) for e in report.examples]
    assert kinds == [
        (0, "wrong type", "LOC [3, 4)", "ORG [3, 4)"),
        (1, "wrong span", "ORG [0, 3)", "ORG [0, 2)"),
        (2, "spurious", "", "LOC [0, 1)"),
    ]
    assert report.num_errors == 3


def test_perfect_empty_and_mismatched_inputs():
    perfect = evaluate_entities(TRUE, TRUE)
    assert perfect.micro_f1 == perfect.macro_f1 == perfect.token_accuracy == 1.0
    assert perfect.examples == [] and perfect.num_errors == 0
    nothing = evaluate_entities(TRUE, [["O"] * len(t) for t in TRUE])
    assert nothing.micro_precision == nothing.micro_f1 == 0.0 and nothing.num_predicted == 0
    assert [e.kind for e in nothing.examples] == ["missed"] * 5
    with pytest.raises(DataError, match="sentence 1 has 5 true tags but 4 predicted"):
        evaluate_entities(TRUE, [TRUE[0], TRUE[1][:4], TRUE[2]])
    with pytest.raises(DataError, match="3 true sentences but 2 predicted"):
        evaluate_entities(TRUE, TRUE[:2])
    with pytest.raises(DataError, match="not an entity tag"):
        evaluate_entities(TRUE, [TRUE[0], TRUE[1], ["O", "O", "LOC", "O"]])


def test_schemes_mix_and_character_spans_quote_the_text():
    gold = TaggedSentences([list("张三在北京")], [["B-PER", "E-PER", "O", "B-LOC", "E-LOC"]],
                           "bioes", "")  # fmt: skip
    predicted = [["B-PER", "I-PER", "O", "B-LOC", "O"]]  # bio, LOC one character short
    report = evaluate_entities(gold, predicted)
    assert report.micro_precision == report.micro_recall == 0.5
    assert report.token_accuracy == pytest.approx(3 / 5)  # compared in bioes: B-LOC -> S-LOC
    assert [(e.kind, e.gold, e.predicted, e.text) for e in report.examples] == [
        ("wrong span", "LOC '北京'", "LOC '北'", "张三在北京")
    ]
    spans = evaluate_entity_spans(
        [[Entity("PER", 0, 2), Entity("LOC", 3, 5)]],
        [[Entity("PER", 0, 2)]],
        texts=["张三在北京"],
        types=["ORG"],
    )
    assert spans.entity_types == ["LOC", "ORG", "PER"] and spans.micro_recall == 0.5
    assert spans.examples[0].gold == "LOC '北京'" and spans.token_accuracy is None


def test_report_table_and_json_round_trip(tmp_path: Path):
    report = evaluate_entities(TRUE, PREDICTED)
    table = report.format_table()
    assert "micro avg" in table and "macro avg" in table and "token accuracy" in table
    assert "Entity confusion" in table and "spurious" in table and "missed" in table
    assert "sentence 1, wrong span: true ORG [0, 3); predicted ORG [0, 2)" in table
    path = report.to_json(tmp_path / "ner.json")
    loaded = load_report(path)
    assert isinstance(loaded, EntityReport) and loaded == report
    assert loaded.format_table() == table


@pytest.fixture(scope="module")
def conll_test():
    return load_ner_dataset("conll2003")["test"]


def perturbed(tags: list[list[str]], names: list[str], share: float, seed: int):
    """Tags with `share` of them replaced at random (ill-formed sequences included)."""
    rng = random.Random(seed)
    return [[rng.choice(names) if rng.random() < share else t for t in s] for s in tags]


def test_scores_equal_seqeval_on_real_conll_test(conll_test):
    try:
        from seqeval.metrics import classification_report
    except ImportError:
        pytest.fail("seqeval is not installed; run `bash scripts/setup.sh` (it installs seqeval)")
    names = conll_test.tag_names()
    for share, seed in ((0.03, 1), (0.15, 2)):
        predicted = perturbed(conll_test.tags, names, share, seed)
        report = evaluate_entities(conll_test, predicted)
        reference = classification_report(conll_test.tags, predicted, output_dict=True)
        for row in report.per_type:
            theirs = reference[row.label]
            assert (row.precision, row.recall, row.f1) == pytest.approx(
                (theirs["precision"], theirs["recall"], theirs["f1-score"]), abs=1e-12
            )
            assert row.support == theirs["support"]
        for mine, average in (("micro", "micro avg"), ("macro", "macro avg")):
            theirs = reference[average]
            assert (
                getattr(report, f"{mine}_precision"),
                getattr(report, f"{mine}_recall"),
                getattr(report, f"{mine}_f1"),
            ) == pytest.approx((theirs["precision"], theirs["recall"], theirs["f1-score"]))
        assert report.weighted_f1 == pytest.approx(reference["weighted avg"]["f1-score"])
        assert report.num_true == 5_648
