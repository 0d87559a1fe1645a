"""`tfbert predict`: classify texts with a model directory, an export, or a running server.

One output line per input text, in order: a blank text gets an explicit `(blank)` line (JSON:
`"label": null` and an `error`), and newlines or tabs inside a text are shown as `\\n`/`\\t` in
the plain output, so that line i of the output always belongs to input i.

A NER model (directory, export or served at --server) prints each text's entities instead,
with their character offsets into the text: `PER[0:13]=Angela Merkel (0.981)`, `(none)` when
it finds none; with `--json`, `{"text", "entities": [{"type", "start", "end", "text", "score"}],
"words", "tags"}`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.cli.common import positive_float, positive_int
from tfbert.contract import PREDICT_SIGNATURE, TEXT_INPUT
from tfbert.errors import DataError

BLANK = "(blank)"
_ESCAPES = {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


def add_parser(commands: Any) -> None:
    predict = commands.add_parser(
        "predict",
        help="classify texts (arguments, --file, or stdin)",
        description="Prints the label and the probabilities of each text, one line per text "
        "in input order (a blank text gets a `(blank)` line). Texts come from the arguments, "
        "from --file (one per line), or from standard input. A NER model (`tfbert train --task "
        "ner`) prints each text's entities with their character offsets instead.",
    )
    where = predict.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--model",
        type=Path,
        help="a `tfbert train` output directory, or an export (base or version dir)",
    )
    where.add_argument(
        "--server",
        metavar="HOST:PORT",
        help="a TF Serving (or `tfbert serve`) endpoint: gRPC, usually port 8500; with --rest "
        "or an http:// URL, the REST API, usually port 8501",
    )
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    predict.add_argument("--file", type=Path, help="read texts from this file, one per line")
    predict.add_argument(
        "--model-name", default="tfbert", help="model name on --server (default: tfbert)"
    )
    predict.add_argument(
        "--rest",
        action="store_true",
        help="talk to --server over REST instead of gRPC (default: gRPC)",
    )
    predict.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="seconds per request to --server (default: 10.0)",
    )
    predict.add_argument("--batch-size", type=positive_int, default=64, help="(default: 64)")
    predict.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per text (default: label, probabilities and text, "
        "tab-separated)",
    )
    common.add_inference_precision(predict)
    predict.set_defaults(handler=cmd_predict)


def read_texts(args: argparse.Namespace) -> list[str]:
    """The texts in input order: arguments, then --file's lines, else standard input's lines."""
    texts = list(args.texts)
    if args.file:
        common.input_file(args.file, "--file")
        try:
            texts += args.file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise DataError(f"{args.file} is not UTF-8; re-save it as UTF-8.") from None
    if not texts and not args.file:
        if sys.stdin.isatty():
            common.say("Reading texts from standard input, one per line (Ctrl-D to end)...")
        texts = sys.stdin.read().splitlines()
    if not any(t.strip() for t in texts):
        raise DataError("no texts to classify: pass them as arguments, with --file, or on stdin.")
    return texts


def plain_text(text: str, limit: int = 80) -> str:
    """The start of `text` on one line: newlines and tabs shown as `\\n`, `\\r`, `\\t`."""
    return text[:limit].translate(_ESCAPES)


def cmd_predict(args: argparse.Namespace) -> int:
    texts = read_texts(args)
    if args.model is not None:
        common.check_model_dir(args.model)
    filled = [i for i, t in enumerate(texts) if t.strip()]
    wanted = [texts[i] for i in filled]
    if args.model is not None and common.is_tagger(args.model):
        return _print_entities(args, texts, filled, _tag_local(args, wanted))
    if args.server:
        from tfbert.serving.client import PredictionClient, ServingError

        with PredictionClient(
            args.server,
            model_name=args.model_name,
            protocol="rest" if args.rest else None,
            timeout=args.timeout,
            batch_size=args.batch_size,
        ) as client:
            try:
                result = client.predict(wanted)
            except ServingError as error:
                # A served NER model answers without probabilities (code None: not a failure
                # of the server); its `entities` signature says so, and it tags instead.
                if error.code is not None or not client.is_tagger():
                    raise
                return _print_entities(args, texts, filled, client.tag(wanted))
        labels, probabilities, names = result.labels, result.probabilities, result.label_names
    else:
        labels, probabilities, names = _predict_local(
            args.model, wanted, args.batch_size, args.precision
        )
    predictions: list[tuple[str, dict[str, float]] | None] = [None] * len(texts)
    for i, label, row in zip(filled, labels, probabilities, strict=True):
        predictions[i] = (label, {n: round(float(p), 4) for n, p in zip(names, row, strict=True)})
    for text, prediction in zip(texts, predictions, strict=True):
        if args.json:
            if prediction is None:
                record = {"text": text, "label": None, "probabilities": None,
                          "error": "blank text: nothing to classify"}  # fmt: skip
            else:
                record = {"text": text, "label": prediction[0], "probabilities": prediction[1]}
            print(json.dumps(record, ensure_ascii=False))
        elif prediction is None:
            print(f"{BLANK}\t-\t{plain_text(text)}")
        else:
            label, scores = prediction
            shown = " ".join(f"{name}={p:.3f}" for name, p in scores.items())
            print(f"{label}\t{shown}\t{plain_text(text)}")
    return 0


def _tag_local(args: argparse.Namespace, wanted: list[str]) -> list[dict[str, Any]]:
    """`wanted` tagged by the NER model directory or export at --model."""
    common.need_tensorflow()
    if (args.model / "config.json").is_file():
        tagger = common.load_for_inference(args.model, args.precision)
    else:
        from tfbert.evaluation.entities import ExportedTagger

        tagger = ExportedTagger(args.model)
    return tagger.predict_texts(wanted, batch_size=args.batch_size)


def _print_entities(
    args: argparse.Namespace, texts: list[str], filled: list[int], tagged: list[dict[str, Any]]
) -> int:
    """Prints one line per text: the entities `tagged` found in the non-blank `texts` (at
    `filled`), or the blank-text mark."""
    results: list[dict[str, Any] | None] = [None] * len(texts)
    for i, result in zip(filled, tagged, strict=True):
        results[i] = result
    for text, result in zip(texts, results, strict=True):
        if args.json:
            if result is None:
                record = {"text": text, "entities": None, "error": "blank text: nothing to tag"}
            else:
                entities = [{**e, "score": round(e["score"], 4)} for e in result["entities"]]
                record = {"text": text, "entities": entities, "words": result["words"],
                          "tags": result["tags"]}  # fmt: skip
            print(json.dumps(record, ensure_ascii=False))
        elif result is None:
            print(f"{BLANK}\t{plain_text(text)}")
        else:
            found = "  ".join(
                f"{e['type']}[{e['start']}:{e['end']}]={plain_text(e['text'])} ({e['score']:.3f})"
                for e in result["entities"]
            )
            print(f"{found or '(none)'}\t{plain_text(text)}")
    return 0


def _predict_local(path: Path, texts: list[str], batch_size: int, precision: str):
    common.need_tensorflow()
    from tfbert.export import find_version_dir, load_exported, signature_labels

    if (path / "config.json").is_file():
        classifier = common.load_for_inference(path, precision)
        result = classifier.predict_texts(texts, batch_size=batch_size)
        return result["labels"], result["probabilities"], classifier.labels
    import tensorflow as tf

    version_dir = find_version_dir(path)
    predict = load_exported(version_dir).signatures[PREDICT_SIGNATURE]
    labels, probabilities = [], []
    for start in range(0, len(texts), batch_size):
        out = predict(**{TEXT_INPUT: tf.constant(texts[start : start + batch_size])})
        labels += [s.decode("utf-8") for s in out["label"].numpy()]
        probabilities += out["probabilities"].numpy().tolist()
    return labels, probabilities, signature_labels(version_dir)
