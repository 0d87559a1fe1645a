"""`tfbert vocab`: learn a WordPiece vocabulary from a dataset's or your own texts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.cli.common import positive_int
from tfbert.errors import DataError, TfbertError


def add_parser(commands: Any) -> None:
    vocab = commands.add_parser("vocab", help="learn a WordPiece vocabulary from text")
    vocab_source = vocab.add_mutually_exclusive_group(required=True)
    vocab_source.add_argument("--dataset", help="learn from a built-in dataset's training texts")
    vocab_source.add_argument(
        "--text-file", type=Path, nargs="+", help="plain text files, one text per line"
    )
    vocab.add_argument(
        "--vocab-size",
        type=positive_int,
        default=8000,
        help="largest vocabulary size (default: 8000)",
    )
    vocab.add_argument(
        "--cased", action="store_true", help="keep case and accents (default: lowercase)"
    )
    vocab.add_argument("--output", type=Path, required=True, help="the vocab.txt to write")
    vocab.set_defaults(handler=cmd_vocab)


def cmd_vocab(args: argparse.Namespace) -> int:
    from tfbert.text.vocab import learn_vocabulary, save_vocabulary
    from tfbert.text.wordpiece import unknown_token_rate
    from tfbert.training.run import explain_vocabulary_size

    if args.output.is_dir():
        raise TfbertError(f"--output {args.output} is a directory; give the vocab.txt to write.")
    common.output_dir(args.output.parent, "--output")
    if args.dataset:
        from tfbert.data import load_dataset

        splits = load_dataset(args.dataset)
        texts, held_out = splits.train.texts, splits.validation.texts
    else:
        texts = []
        for path in args.text_file:
            common.input_file(path, "--text-file")
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError:
                raise DataError(f"{path} is not UTF-8; re-save it as UTF-8.") from None
            texts += [line for line in lines if line.strip()]
        if not texts:
            raise DataError("--text-file holds no text: every line is blank.")
        cut = max(1, len(texts) // 20)
        texts, held_out = texts[cut:], texts[:cut]
    vocabulary = learn_vocabulary(
        texts, args.vocab_size, lowercase=not args.cased, show_progress=True
    )
    explain_vocabulary_size(len(vocabulary), args.vocab_size, common.say)
    save_vocabulary(vocabulary, args.output)
    rate = unknown_token_rate(vocabulary, held_out, lowercase=not args.cased)
    print(
        f"Wrote {len(vocabulary):,} tokens to {args.output}; unknown-token rate on "
        f"{len(held_out):,} held-out texts: {rate:.3%}"
    )
    return 0
