"""Benchmarks of tfbert against its peers (`tfbert bench`, `python benchmarks/run.py`).

Peers (Hugging Face transformers/tokenizers on torch, keras-hub) are measured in the same
process as tfbert, interleaved round by round, and reported as medians with `tfbert / peer`
ratios: the machine is shared and noisy, so figures from different runs are never compared.

- `harness`: cases, interleaved timing, medians, ratio tables, machine information.
- `scenarios`: what is measured (tokenization, encoder inference; `classification`:
  classifier inference from raw strings and fine-tuning, on real reviews).
- `cli`: the command line (`main`, `add_bench_command`).
"""

from __future__ import annotations

from typing import Any


def main(argv: Any = None) -> int:
    """Runs `tfbert bench` with `argv` (default: sys.argv[1:]); see `tfbert.bench.cli`."""
    from tfbert.bench.cli import main as cli_main

    return cli_main(argv)
