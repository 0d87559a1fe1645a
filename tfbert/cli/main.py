"""The `tfbert` command line: the parser and `main`.

Every subcommand is a thin layer over the Python API, in a module of its own. User mistakes (a
bad option value, a missing file, an unknown label, an existing output directory, ...) print one
`error:` line and exit with status 2; set TFBERT_DEBUG=1 to see the traceback.

Parsing never imports TensorFlow: `tfbert --help`, `tfbert <command> --help`, `tfbert datasets`
and a mistyped option answer at once. The commands that need TensorFlow import it themselves.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from tfbert.cli.common import EXIT_USAGE, Parser

# Command name -> module (each has `add_parser(commands)`), in the order `--help` lists them.
COMMANDS = {
    "train": "tfbert.cli.train",
    "distill": "tfbert.cli.distill",
    "evaluate": "tfbert.cli.evaluate",
    "predict": "tfbert.cli.predict",
    "export": "tfbert.cli.export",
    "vocab": "tfbert.cli.vocab",
    "pretrain": "tfbert.cli.pretrain",
    "package": "tfbert.cli.package",
    "baseline": "tfbert.cli.baseline",
    "ensemble": "tfbert.cli.ensemble",
    "prune": "tfbert.cli.prune",
    "serve": "tfbert.cli.serve",
    "datasets": "tfbert.cli.datasets",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The `tfbert` parser. `serve`'s own options are added only when `argv` runs `serve`:
    its module loads TensorFlow."""
    parser = Parser(
        prog="tfbert",
        description="BERT text classifiers on TensorFlow: train, evaluate, export, predict.",
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(commands)
    return parser


def _command(argv: Sequence[str] | None) -> str | None:
    """The subcommand that `argv` names (its first word that is not an option), if any."""
    words = sys.argv[1:] if argv is None else argv
    return next((w for w in words if not w.startswith("-")), None)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"tfbert {version('tfbert-keras')}"
    except PackageNotFoundError:  # run from a checkout without installing it
        return "tfbert (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs `tfbert` with `argv` (default: the process's arguments); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if _command(argv) == "bench":  # the benchmarks left the package for the repository
        print(
            "error: `tfbert bench` moved to the repository's benchmarks: run "
            "`python benchmarks/run.py` from a tfbert checkout (same options).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    args = build_parser(argv).parse_args(argv)
    from tfbert.errors import TfbertError

    try:
        with warnings.catch_warnings():  # restored afterwards (main may run inside a notebook)
            warnings.showwarning = _show_warning  # library warnings: one "warning:" line each
            return args.handler(args)
    except (TfbertError, ValueError, TypeError, FileNotFoundError) as error:
        if os.environ.get("TFBERT_DEBUG"):
            raise
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _show_warning(message: Any, category: Any, filename: str, lineno: int, *args: Any) -> None:
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


def _one_line(error: Exception) -> Any:
    return " ".join(str(error).split()) or type(error).__name__
