"""`tfbert export`: write a trained model as a versioned TF Serving SavedModel."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.cli.common import positive_int


def add_parser(commands: Any) -> None:
    export = commands.add_parser("export", help="write a TF Serving SavedModel (<base>/<version>/)")
    export.add_argument(
        "--model", type=Path, required=True, help="a `tfbert train` output directory"
    )
    export.add_argument("--export-dir", type=Path, required=True, help="the model base path")
    export.add_argument(
        "--version",
        type=positive_int,
        default=None,
        help="version number (default: one above the highest)",
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace an existing version (default: off)"
    )
    common.add_inference_precision(export)
    export.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    common.output_dir(args.export_dir, "--export-dir")
    common.check_model_dir(args.model)
    common.need_tensorflow()
    import numpy as np

    from tfbert.export import directory_size

    classifier = common.load_for_inference(args.model, args.precision)
    path = classifier.export(args.export_dir, version=args.version, overwrite=args.overwrite)
    size = directory_size(path) / 1e6
    params = sum(np.asarray(w).nbytes for w in classifier.weights) / 1e6
    print(
        f"Exported {path} ({size:.1f} MB; weights {params:.1f} MB). Serve it with TF Serving "
        f"(--model_base_path={args.export_dir.resolve()}): see serving/README.md"
    )
    return 0
