"""The `tfbert` command line (`tfbert = "tfbert.cli:main"`): one module per command.

`main.py` builds the parser and runs a command; `common.py` holds the shared flags, option
validators and helpers; `train.py`, `evaluate.py`, `predict.py`, `export.py`, `vocab.py`,
`pretrain.py`, `baseline.py`, `ensemble.py`, `serve.py` and `datasets.py` each add one
subcommand.
"""

from tfbert.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
