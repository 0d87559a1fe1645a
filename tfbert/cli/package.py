"""`tfbert package`: a half-precision copy of a pretrained BERT with its model card, ready to hand
on (or to ship in `tfbert/pretrained/<name>/`); `tfbert.modeling.checkpoints.package_checkpoint`
does the work."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.cli.common import dropout_rate
from tfbert.config import PACKAGE_DTYPES
from tfbert.contract import WEIGHTS_FILE
from tfbert.errors import DataError


def add_parser(commands: Any) -> None:
    package = commands.add_parser(
        "package",
        help="write a pretrained BERT in half precision with a model card",
        description="Copy a pretrained BERT (a `tfbert pretrain` output, one of its step-N "
        "snapshots, or a Hugging Face BERT directory) with its weights in half precision and a "
        "model card (README.md) of facts read from the run; the result loads wherever a "
        "checkpoint does (`--init-from DIR`).",
    )
    package.add_argument(
        "--checkpoint", required=True, help="the directory (or built-in name) to package"
    )
    package.add_argument("--output-dir", type=Path, required=True, help="where the copy goes")
    package.add_argument(
        "--dtype",
        choices=PACKAGE_DTYPES,
        default="float16",
        help="how the weights are stored: float16 (10 mantissa bits, read by every framework) or "
        "bfloat16 (float32's range, 7 mantissa bits; compresses better in a git repository or "
        "a wheel) (default: float16)",
    )
    package.add_argument(
        "--no-mlm-head",
        action="store_true",
        help="leave out the pretraining heads: fine-tuning does not use them, continued "
        "pretraining does (default: keep them)",
    )
    package.add_argument(
        "--dropout",
        type=dropout_rate,
        default=None,
        help="the hidden and attention dropout the copy's config states, which fine-tuning "
        "uses by default: a model pretrained without dropout is best handed on with 0.1 "
        "(default: the checkpoint's)",
    )
    package.add_argument(
        "--description",
        default=None,
        help="the model card's first line, its one-line description (default: made from the facts)",
    )
    package.add_argument(
        "--card-section",
        nargs=2,
        action="append",
        default=None,
        metavar=("TITLE", "FILE"),
        help="add a section to the model card: its title and a Markdown file with its text "
        "(the corpus and its sources, scores, ...); repeatable",
    )
    package.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier package in --output-dir (never a directory with other files) "
        "(default: off)",
    )
    package.set_defaults(handler=cmd_package)


def cmd_package(args: argparse.Namespace) -> int:
    sections = {}
    for title, file in args.card_section or []:
        path = common.input_file(Path(file), "--card-section")
        try:
            sections[title] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{path} is not UTF-8; re-save it as UTF-8.") from None
    common.need_tensorflow()
    from tfbert.modeling.checkpoints import package_checkpoint

    destination = package_checkpoint(
        args.checkpoint,
        args.output_dir,
        dtype=args.dtype,
        keep_mlm_head=not args.no_mlm_head,
        dropout=args.dropout,
        card=sections,
        description=args.description,
        overwrite=args.overwrite,
    )
    size = (destination / WEIGHTS_FILE).stat().st_size / 1e6
    print(
        f"Wrote {destination} ({args.dtype} weights, {size:.1f} MB, model card README.md); "
        f"fine-tune it with `tfbert train --init-from {destination}`."
    )
    return 0
