"""`tfbert export`: write a trained model as a versioned TF Serving SavedModel, or as a LiteRT
(TensorFlow Lite) model, optionally quantized to int8."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.cli.common import positive_int
from tfbert.errors import TfbertError

FORMATS = ("saved_model", "tflite")


def add_parser(commands: Any) -> None:
    export = commands.add_parser(
        "export", help="write a TF Serving SavedModel (<base>/<version>/) or a LiteRT model"
    )
    export.add_argument(
        "--model", type=Path, required=True, help="a `tfbert train` output directory"
    )
    export.add_argument(
        "--export-dir",
        type=Path,
        required=True,
        help="the model base path (saved_model), or the directory of the LiteRT files (tflite)",
    )
    export.add_argument(
        "--format",
        choices=FORMATS,
        default="saved_model",
        help="saved_model: strings in, for TF Serving and `tfbert serve`; tflite: the numeric "
        "model for LiteRT, token ids in (vocab.txt and the tokenizer settings are written "
        "beside it: LiteRT cannot run the tokenizer's ops) (default: saved_model)",
    )
    export.add_argument(
        "--quantize",
        choices=["dynamic", "int8"],
        default=None,
        help="tflite only: dynamic = int8 weights, activations quantized on the fly; int8 = "
        "full-integer, activation ranges calibrated on real texts (needs --calibration-file "
        "or --calibration-dataset) (default: float32)",
    )
    export.add_argument(
        "--calibration-file",
        type=Path,
        default=None,
        help="--quantize int8: a UTF-8 text file, one text per line, of the kind the model "
        "will see (the first 200 non-blank lines are used)",
    )
    export.add_argument(
        "--calibration-dataset",
        default=None,
        metavar="DATASET",
        help="--quantize int8: a built-in dataset (`tfbert datasets`) whose training texts "
        "calibrate instead",
    )
    export.add_argument(
        "--version",
        type=positive_int,
        default=None,
        help="saved_model: version number (default: one above the highest)",
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace an existing version (default: off)"
    )
    common.add_inference_precision(export)
    export.set_defaults(handler=cmd_export)


def check_format_options(args: argparse.Namespace) -> None:
    """Refuses options that do not apply to the chosen --format, before any work."""
    tflite = args.format == "tflite"
    calibration = args.calibration_file is not None or args.calibration_dataset is not None
    if not tflite:
        given = [
            flag
            for flag, value in (
                ("--quantize", args.quantize),
                ("--calibration-file", args.calibration_file),
                ("--calibration-dataset", args.calibration_dataset),
            )
            if value is not None
        ]
        if given:
            raise TfbertError(f"{given[0]} applies to --format tflite; add it or drop {given[0]}.")
        return
    if args.version is not None:
        raise TfbertError("--version applies to --format saved_model; drop it for tflite.")
    if args.precision != "float32":
        raise TfbertError(
            f"--format tflite converts the float32 model (use --quantize for int8); drop "
            f"--precision {args.precision}."
        )
    if args.calibration_file is not None and args.calibration_dataset is not None:
        raise TfbertError("Give --calibration-file or --calibration-dataset, not both.")
    if args.quantize == "int8" and not calibration:
        raise TfbertError(
            "--quantize int8 calibrates on real texts: add --calibration-file FILE (one text "
            "per line) or --calibration-dataset NAME, or use --quantize dynamic."
        )
    if calibration and args.quantize != "int8":
        raise TfbertError("--calibration-file/--calibration-dataset apply to --quantize int8 only.")
    if args.calibration_file is not None and not args.calibration_file.is_file():
        raise TfbertError(f"--calibration-file {args.calibration_file} does not exist.")


def calibration_texts(args: argparse.Namespace) -> list[str] | None:
    """The real texts that calibrate a full-integer export (None without --quantize int8)."""
    from tfbert.export.tflite import CALIBRATION_LIMIT

    if args.quantize != "int8":
        return None
    if args.calibration_file is not None:
        try:
            lines = args.calibration_file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise TfbertError(
                f"--calibration-file {args.calibration_file} is not UTF-8 text; save it as UTF-8."
            ) from None
        texts = [line for line in lines if line.strip()][:CALIBRATION_LIMIT]
        if not texts:
            raise TfbertError(f"--calibration-file {args.calibration_file} has no text lines.")
        return texts
    from tfbert.data import load_dataset

    data = load_dataset(args.calibration_dataset, max_examples_per_split=CALIBRATION_LIMIT)
    return list(data.train.texts)


def cmd_export(args: argparse.Namespace) -> int:
    check_format_options(args)
    common.output_dir(args.export_dir, "--export-dir")
    common.check_model_dir(args.model)
    common.need_tensorflow()
    import numpy as np

    from tfbert.export import directory_size

    if args.format == "tflite":
        return _export_tflite(args)
    classifier = common.load_for_inference(args.model, args.precision)
    path = classifier.export(args.export_dir, version=args.version, overwrite=args.overwrite)
    size = directory_size(path) / 1e6
    params = sum(np.asarray(w).nbytes for w in classifier.weights) / 1e6
    print(
        f"Exported {path} ({size:.1f} MB; weights {params:.1f} MB). Serve it with TF Serving "
        f"(--model_base_path={args.export_dir.resolve()}): see serving/README.md"
    )
    return 0


def _export_tflite(args: argparse.Namespace) -> int:
    from tfbert.export.tflite import export_tflite

    texts = calibration_texts(args)
    classifier = common.load_for_inference(args.model, "float32")
    if not hasattr(classifier, "problem_type") or not hasattr(classifier, "head"):
        raise TfbertError(
            f"{args.model} is not a text classifier; --format tflite exports classifiers only."
        )
    path = export_tflite(
        classifier,
        args.export_dir,
        quantize=args.quantize,
        calibration_texts=texts,
        overwrite=args.overwrite,
    )
    kind = {None: "float32", "dynamic": "dynamic-range int8", "int8": "full-integer int8"}
    print(
        f"Exported {path} ({path.stat().st_size / 1e6:.1f} MB, {kind[args.quantize]}). Token "
        "ids in: tokenize with vocab.txt and tfbert_tflite.json beside it, or load it with "
        "tfbert.export.tflite.TFLiteClassifier."
    )
    return 0
