"""WordPiece vocabularies: read, validate, write.

A vocabulary is a list of tokens whose position is the token id, as in BERT's `vocab.txt`.
Validation happens up front so that a bad file fails with a sentence, not deep in graph building.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, CLS, SEP, MASK)


def load_vocabulary(path: str | Path) -> list[str]:
    """Reads a `vocab.txt` (one token per line, UTF-8) and validates it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No vocabulary file at {path}.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(
            f"Vocabulary {path} is not UTF-8 (bad byte at line {line}); re-save it as UTF-8."
        ) from None
    tokens = text.splitlines()
    # A trailing empty line is a common artefact of writers; anything else empty is an error.
    while tokens and tokens[-1] == "":
        tokens.pop()
    validate_vocabulary(tokens, source=str(path))
    return tokens


def validate_vocabulary(tokens: Sequence[str], source: str = "vocabulary") -> None:
    """Raises ValueError naming the problem if `tokens` cannot serve as a BERT vocabulary."""
    if not tokens:
        raise ValueError(f"{source} is empty; a BERT vocabulary needs {', '.join(SPECIAL_TOKENS)}.")
    for index, token in enumerate(tokens):
        if not isinstance(token, str):
            raise TypeError(f"{source}: token {index} is {type(token).__name__}, not str.")
        if token == "" or token != token.strip():
            raise ValueError(
                f"{source}: token at line {index + 1} is empty or has surrounding whitespace "
                f"({token!r}); every line must hold exactly one token."
            )
    missing = [special for special in SPECIAL_TOKENS if special not in tokens]
    if missing:
        raise ValueError(
            f"{source} lacks the special token(s) {', '.join(missing)}; BERT needs "
            f"{', '.join(SPECIAL_TOKENS)} (add them, usually at the top of the file)."
        )
    seen: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token in seen:
            raise ValueError(
                f"{source}: token {token!r} appears twice (lines {seen[token] + 1} and "
                f"{index + 1}); token ids must be unique."
            )
        seen[token] = index


def save_vocabulary(tokens: Iterable[str], path: str | Path) -> Path:
    tokens = list(tokens)
    validate_vocabulary(tokens)
    path = Path(path)
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path
