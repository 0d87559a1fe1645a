"""BertConfig: presets, validation and JSON round trips."""

from __future__ import annotations

import pytest

from tfbert.config import PRESETS, BertConfig


@pytest.mark.parametrize(
    ("name", "layers", "hidden", "heads", "ffn"),
    [
        ("tiny", 2, 128, 2, 512),
        ("mini", 4, 256, 4, 1024),
        ("small", 4, 512, 8, 2048),
        ("medium", 8, 512, 8, 2048),
        ("base", 12, 768, 12, 3072),
        ("large", 24, 1024, 16, 4096),
        ("minilm-l6", 6, 384, 12, 1536),
    ],
)
def test_presets_have_the_published_sizes(name, layers, hidden, heads, ffn) -> None:
    config = BertConfig.from_preset(name)
    assert (config.num_layers, config.hidden_size, config.num_heads, config.intermediate_size) == (
        layers,
        hidden,
        heads,
        ffn,
    )
    assert config.head_size * config.num_heads == hidden


def test_overrides_and_json_round_trip(tmp_path) -> None:
    config = BertConfig.from_preset("tiny", vocab_size=8000, hidden_dropout=0.2)
    assert config.vocab_size == 8000 and config.hidden_dropout == 0.2
    path = tmp_path / "config.json"
    config.to_json(path)
    assert BertConfig.from_json(path) == config
    assert BertConfig.from_json(config.to_json()) == config
    assert PRESETS["tiny"].vocab_size == 30522  # presets themselves are not mutated
    quiet = config.with_dropout(0.0)
    assert (quiet.hidden_dropout, quiet.attention_dropout) == (0.0, 0.0)
    assert quiet.replace(hidden_dropout=0.2, attention_dropout=0.1) == config


def test_invalid_configs_are_rejected_with_the_reason(tmp_path) -> None:
    with pytest.raises(ValueError, match="Unknown preset 'huge'.*tiny"):
        BertConfig.from_preset("huge")
    with pytest.raises(ValueError, match="divisible by num_heads"):
        BertConfig(hidden_size=100, num_heads=3)
    with pytest.raises(ValueError, match="positive integer"):
        BertConfig(num_layers=0)
    with pytest.raises(ValueError, match="hidden_dropout"):
        BertConfig(hidden_dropout=1.5)
    with pytest.raises(ValueError, match=r"hidden_dropout must be in \[0, 1\), got 1.0"):
        PRESETS["tiny"].with_dropout(1.0)
    with pytest.raises(ValueError, match="Unknown BertConfig field"):
        BertConfig.from_dict({"hidden_size": 128, "n_layer": 2})
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        BertConfig.from_json(tmp_path / "bad.json")
