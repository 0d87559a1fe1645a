"""Shared pieces of the checkpoint tests: real texts and output comparisons.

Imported by the test modules of this directory (pytest puts it on the path).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tfbert.modeling.bert import BertEncoder

BATCHES = {
    "english": ["The movie was wonderful, I loved every minute of it.", "Dull and far too long."],
    "accented": ["Café au lait, a naïve résumé.", "Über-cool CRÈME BRÛLÉE at the Ångström bar"],
    # MiniLM's uncased English vocabulary has 244 CJK characters: one text in it, one mostly not.
    "chinese": ["日本東京大学的学生", "这部电影很好看，我很喜欢。"],
    "padded": [
        "ok",
        "A much longer review that goes on and on, and fills most of the available length "
        "with words, commas, and the occasional exclamation mark!",
        "",
    ],
}
MAX_LENGTH = 40


def encoder_outputs(encoder: BertEncoder, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = encoder(batch)
    return {key: np.asarray(out[key]) for key in ("sequence_output", "pooled_output")}


def assert_same_outputs(encoder: BertEncoder, features, baseline) -> None:
    for name, batch in features.items():
        out = encoder_outputs(encoder, batch)
        for key in out:
            np.testing.assert_array_equal(out[key], baseline[name][key], err_msg=f"{name}/{key}")


def copy_checkpoint(source: Path, target: Path, link_weights: bool = True) -> Path:
    """A writable copy of a checkpoint directory; the big weight file is only symlinked."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file():
            if link_weights and path.suffix == ".safetensors":
                (target / path.name).symlink_to(path)
            else:
                shutil.copy(path, target / path.name)
    return target
