"""`tfbert.training.run`: one source of defaults, checks before writing, and a whole run from
Python on real reviews."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tfbert.errors import TfbertError
from tfbert.training import run
from tfbert.training.fine_tune import TrainingConfig


def test_run_defaults_equal_the_training_config_defaults() -> None:
    assert TrainingConfig().learning_rate == run.PRETRAINED_LEARNING_RATE
    training = TrainingConfig()
    config = run.RunConfig(output_dir="unused", dataset="imdb")
    pairs = {
        "epochs": "epochs",
        "batch_size": "batch_size",
        "warmup_fraction": "warmup_fraction",
        "weight_decay": "weight_decay",
        "seed": "seed",
        "class_weights": "class_weights",
        "bucket_by_length": "bucket_by_length",
        "backup_every": "backup_every_steps",
        "gradient_accumulation": "gradient_accumulation_steps",
        "early_stopping": "early_stopping_patience",
        "layer_decay": "layer_decay",
        "fgm_epsilon": "fgm_epsilon",
        "augment_copies": "augment_copies",
        "augment_rate": "augment_rate",
    }
    for mine, theirs in pairs.items():
        assert getattr(config, mine) == getattr(training, theirs), mine


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"max_length": 0}, "--max-length"),
        ({"learning_rate": -1.0}, "--learning-rate"),
        ({"preset": "huge"}, "--preset"),
        ({"label_column": "text"}, "--text-column and --label-column"),
        ({"weight_decay": -0.5}, "--weight-decay"),
        ({"train_file": "x.csv"}, "exactly one of --dataset or --train-file"),
        ({"layer_decay": 1.5}, "--layer-decay"),
        ({"fgm_epsilon": 0.0}, "--fgm-epsilon"),
        ({"augment_copies": -1}, "--augment-copies"),
        ({"augment_rate": 0.0}, "--augment-rate"),
        ({"pooling": "last4_max"}, "--pooling"),
        ({"model": "textcnn", "pooling": "last2_mean"}, "--pooling last2_mean"),
        ({"model": "textcnn", "layer_decay": 0.9}, "--layer-decay needs a BERT model"),
    ],
)
def test_validate_names_the_option(tmp_path, change, fragment) -> None:
    config = run.RunConfig(output_dir=tmp_path / "out", dataset="imdb", **change)
    with pytest.raises(TfbertError, match=fragment):
        run.train_classifier(config)
    assert not (tmp_path / "out").exists()


def test_last_layers_pooling_is_a_valid_option(tmp_path) -> None:
    run.RunConfig(output_dir=tmp_path / "out", dataset="imdb", pooling="last4_concat").validate()


def test_script_shares_tell_english_from_chinese() -> None:
    cjk, english = run.script_shares(["这家酒店的服务非常好", "房间也很干净"])
    assert cjk == 1.0 and english == 0.0
    cjk, english = run.script_shares(["A wonderful, moving film.", "Dull and too long."])
    assert cjk == 0.0 and english == 1.0


def test_train_classifier_from_python_matches_the_command(tmp_path, imdb_reviews) -> None:
    import csv

    path = tmp_path / "train.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for label in ("0", "1"):  # 20 reviews of each sentiment
            writer.writerows([(t, y) for t, y in imdb_reviews if y == label][:20])
    messages: list[str] = []
    config = run.RunConfig(
        output_dir=tmp_path / "model", train_file=path, preset="tiny", max_length=16,
        epochs=1, vocab_size=300,
    )  # fmt: skip
    result = run.train_classifier(config, say=messages.append, verbose=0)
    assert result.report.num_examples == result.validation_size == 4
    assert any(m.startswith("Data: 36 train / 4 validation examples") for m in messages)
    for name in ("config.json", "model.safetensors", "validation_report.json", run.MARKER):
        assert (tmp_path / "model" / name).is_file(), name
    history = json.loads((tmp_path / "model" / "history.json").read_text(encoding="utf-8"))
    assert history["config"]["learning_rate"] == run.FROM_SCRATCH_LEARNING_RATE
    assert not (tmp_path / "model" / "backup").exists()
    marker = run.read_marker(tmp_path / "model")
    assert marker["settings"] == config.settings()
    assert dataclasses.asdict(config)["max_length"] == 16
