"""The NER run's data and options (tfbert.training.ner_run): files in CoNLL columns or JSONL
spans, the held-out validation split, and the options a NER run refuses. Training end to end
is tested through the command line (tests/cli/test_cli_ner.py)."""

from __future__ import annotations

import json

import pytest

from tfbert.data.ner import load_ner_dataset
from tfbert.errors import DataError, TfbertError
from tfbert.training.ner_run import load_ner_run_data, read_tagged_file, tagged_fingerprint
from tfbert.training.run import RunConfig


@pytest.fixture(scope="module")
def msra():
    return load_ner_dataset("msra", max_sentences_per_split=50)["train"]


def _write(tmp_path, data):
    conll = tmp_path / "train.conll"
    conll.write_text(
        "\n\n".join(
            "\n".join(f"{w}\t{t}" for w, t in zip(words, tags, strict=True))
            for words, tags in zip(data.words, data.tags, strict=True)
        ),
        encoding="utf-8",
    )
    jsonl = tmp_path / "train.jsonl"
    rows = [
        {"text": text, "entities": [{"start": e.start, "end": e.end, "type": e.type} for e in ents]}
        for text, ents in zip(data.texts(), data.character_entities(), strict=True)
    ]
    jsonl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return conll, jsonl


def test_conll_and_jsonl_files_read_to_the_same_entities(msra, tmp_path) -> None:
    conll, jsonl = _write(tmp_path, msra)
    from_conll = read_tagged_file(conll)
    from_jsonl = read_tagged_file(jsonl, scheme="bioes")
    assert from_conll.scheme == "bioes"  # MSRA's E-/S- tags
    assert from_conll.texts() == from_jsonl.texts() == msra.texts()
    assert from_conll.character_entities() == from_jsonl.character_entities()
    assert tagged_fingerprint(from_conll) == tagged_fingerprint(read_tagged_file(conll))
    assert tagged_fingerprint(from_conll) != tagged_fingerprint(from_conll.with_scheme("bio"))
    # The suffix decides, unless the format is given.
    renamed = tmp_path / "spans.txt"
    renamed.write_text(jsonl.read_text(encoding="utf-8"), encoding="utf-8")
    assert read_tagged_file(renamed, file_format="jsonl").texts() == msra.texts()
    with pytest.raises(DataError, match="spans.txt line"):  # read as CoNLL columns
        read_tagged_file(renamed)


def test_a_train_file_alone_holds_out_a_seeded_tenth_for_validation(msra, tmp_path) -> None:
    conll, _ = _write(tmp_path, msra)
    config = RunConfig(tmp_path / "out", train_file=conll, task="ner", scheme="bio")
    train, validation, test = load_ner_run_data(config, say=lambda _: None)
    assert (len(train), len(validation), test) == (45, 5, None)
    assert train.scheme == validation.scheme == "bio"
    assert sorted(train.texts() + validation.texts()) == sorted(msra.texts())
    again = load_ner_run_data(config, say=lambda _: None)[1]
    assert again.texts() == validation.texts()


def test_options_a_ner_run_cannot_take_are_refused(tmp_path) -> None:
    def check(**options):
        RunConfig(tmp_path / "out", **options).validate()

    check(dataset="msra", task="ner", model="bilstm", crf=True, scheme="bioes")
    with pytest.raises(TfbertError, match="--model textcnn classifies whole texts"):
        check(dataset="msra", task="ner", model="textcnn")
    with pytest.raises(TfbertError, match="--multi-label, --pooling apply to classifiers"):
        check(dataset="msra", task="ner", multi_label=True, pooling="mean")
    with pytest.raises(DataError, match="imdb is not a named-entity recognition dataset"):
        check(dataset="imdb", task="ner")
    with pytest.raises(TfbertError, match="--crf, --scheme apply to named-entity"):
        check(dataset="imdb", crf=True, scheme="bio")
    with pytest.raises(TfbertError, match="add --task ner"):
        check(dataset="msra")


def test_a_classification_run_keeps_its_resume_settings(tmp_path) -> None:
    """The NER fields stay out of a classifier's settings, so an interrupted run of an earlier
    version still resumes."""
    classifier = RunConfig(tmp_path / "out", dataset="imdb").settings()
    assert not {"task", "crf", "scheme", "stride", "test_file"} & set(classifier)
    tagger = RunConfig(tmp_path / "out", dataset="msra", task="ner", crf=True).settings()
    assert tagger["task"] == "ner" and tagger["crf"] is True
