"""`tfbert package` on the real all-MiniLM-L6-v2 checkpoint (a built-in name)."""

from __future__ import annotations

import json

import numpy as np

from tfbert.modeling.checkpoints import load_pretrained

from .helpers import assert_usage_error, run


def test_package_a_named_checkpoint_with_card_sections(capsys, tmp_path) -> None:
    section = tmp_path / "origin.md"
    section.write_text("sentence-transformers' all-MiniLM-L6-v2, repackaged.\n", encoding="utf-8")
    out = tmp_path / "minilm-half"
    arguments = ["package", "--checkpoint", "minilm-l6", "--output-dir", out]
    result = run(capsys, *arguments, "--no-mlm-head", "--card-section", "Origin", section)
    assert result.code == 0, result.err
    assert f"Wrote {out} (float16 weights, 45.4 MB" in result.out
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("A 6-layer BERT encoder (hidden size 384, 22.7M parameters, 30,522-")
    assert card.endswith("## Origin\n\nsentence-transformers' all-MiniLM-L6-v2, repackaged.\n")
    # Everything that shapes the model's outputs comes along: the mean pooling too.
    source, packaged = load_pretrained("minilm-l6"), load_pretrained(out)
    assert packaged.pooling == source.pooling == "mean"
    assert packaged.tokenizer_options() == source.tokenizer_options()
    name = "layer_5/output/kernel"
    expected = source.encoder_weights[name].astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(packaged.encoder_weights[name], expected)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["torch_dtype"] == "float16"

    again = run(capsys, *arguments)
    assert_usage_error(again, f"{out} already exists; pass overwrite=True (--overwrite)")
    missing = run(capsys, *arguments, "--card-section", "Scores", tmp_path / "none.md")
    assert_usage_error(missing, "no such file", "--card-section")
    bad = run(capsys, *arguments, "--dtype", "int8")
    assert bad.code == 2 and "invalid choice: 'int8'" in bad.err
