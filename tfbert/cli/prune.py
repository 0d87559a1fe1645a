"""`tfbert prune`: the options of `tfbert.training.prune.PruneConfig`, then one call to
`prune_model`: score, remove, fine-tune, save the smaller model and its report (a classifier
or a NER model)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.training.prune import PruneConfig

DEFAULTS = {f.name: f.default for f in dataclasses.fields(PruneConfig)}


def add_parser(commands: Any) -> None:
    prune = commands.add_parser(
        "prune",
        help="make a trained BERT classifier or NER model smaller: remove heads, neurons and "
        "layers",
        description="Structured pruning of a `tfbert train` BERT classifier or NER model "
        "(`--task ner`, CRF or not): scores every "
        "attention head and feed-forward neuron (the gradient of the validation loss with "
        "respect to a mask on it, Michel et al. 2019) and every layer (the loss increase "
        "without it) on the validation split, removes the least important ones, fine-tunes the "
        "smaller model on the training split and writes it as a normal model directory (a "
        "smaller dense BERT: its config.json states the new sizes), with its validation report "
        "and pruning.json (the plan, the scores, the sizes and the accuracy, or a NER model's "
        "entity-level F1, before and after). It then evaluates, predicts, exports and serves "
        "like any model. A NER model is scored on its token-level loss and reads NER data (a "
        "built-in NER dataset, or CoNLL / JSONL files as `tfbert train --task ner` does).",
    )
    prune.add_argument(
        "--model",
        type=Path,
        required=True,
        help="a `tfbert train` BERT classifier or NER model directory",
    )
    common.add_data_sources(prune, "the importance is scored on")
    prune.add_argument(
        "--heads",
        type=common.fraction,
        default=DEFAULTS["heads"],
        help=common.help_default("fraction of the attention heads to remove", DEFAULTS["heads"]),
    )
    prune.add_argument(
        "--ffn",
        type=common.fraction,
        default=DEFAULTS["ffn"],
        help=common.help_default("fraction of the feed-forward neurons to remove", DEFAULTS["ffn"]),
    )
    prune.add_argument(
        "--ffn-multiple",
        type=common.positive_int,
        default=DEFAULTS["ffn_multiple"],
        metavar="N",
        help=common.help_default(
            "round the feed-forward neurons each layer keeps to a multiple of N (the most "
            "important kept), for matmul shapes the CPU's kernels run fastest; 1: no rounding",
            DEFAULTS["ffn_multiple"],
        ),
    )
    prune.add_argument(
        "--layers",
        type=common.non_negative_int,
        default=DEFAULTS["layers"],
        metavar="N",
        help=common.help_default(
            "remove the N least important layers, before the heads and neurons", DEFAULTS["layers"]
        ),
    )
    prune.add_argument(
        "--epochs",
        type=common.non_negative_int,
        default=DEFAULTS["epochs"],
        help=common.help_default(
            "fine-tuning epochs after pruning (the best validation epoch is kept; 0: none)",
            DEFAULTS["epochs"],
        ),
    )
    for flag, kind in (("--learning-rate", common.positive_float), ("--batch-size", None)):
        name = flag[2:].replace("-", "_")
        prune.add_argument(
            flag,
            type=kind or common.positive_int,
            default=DEFAULTS[name],
            help=f"(default: {DEFAULTS[name]:g})",
        )
    prune.add_argument(
        "--score-examples",
        type=common.positive_int,
        default=DEFAULTS["score_examples"],
        metavar="N",
        help=common.help_default(
            "validation examples (a NER model: sentences) the importance is measured on (a "
            "seeded sample)",
            DEFAULTS["score_examples"],
        ),
    )
    prune.add_argument(
        "--seed",
        type=int,
        default=DEFAULTS["seed"],
        help=common.help_default(
            "the seed of training, of the held-out validation split and of sampling",
            DEFAULTS["seed"],
        ),
    )
    prune.add_argument(
        "--output-dir", type=Path, required=True, help="where to write the pruned model (new)"
    )
    prune.add_argument(
        "--json", action="store_true", help="print the result as JSON (default: a table)"
    )
    prune.set_defaults(handler=cmd_prune)


def cmd_prune(args: argparse.Namespace) -> int:
    common.check_columns(args)
    common.trained_model_dir(args.model)
    common.check_data_sources(args)
    common.new_model_dir(args.output_dir, "--output-dir")
    from tfbert.training.prune import prune_model

    names = {f.name for f in dataclasses.fields(PruneConfig)}
    settings = {k: v for k, v in vars(args).items() if k in names and v is not None}
    common.need_tensorflow()
    run = prune_model(PruneConfig(**settings), say=common.say)
    if args.json:
        payload = {
            "output_dir": str(run.output_dir),
            "plan": run.plan.to_dict(),
            "parameters": {"before": run.parameters_before, "after": run.parameters},
            "validation": {"unpruned": run.report_before.to_dict(), "pruned": run.report.to_dict()},
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    print(run.report.format_table())
    before, after = run.score(run.report_before), run.score(run.report)
    print(
        f"\nParameters: {run.parameters_before:,} -> {run.parameters:,} "
        f"({run.parameters / run.parameters_before:.0%}); validation {run.metric} "
        f"{before:.4f} unpruned, {after:.4f} pruned."
    )
    print(f"Saved the pruned model to {args.output_dir}.")
    return 0
