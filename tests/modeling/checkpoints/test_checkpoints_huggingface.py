"""Hugging Face directories: the real MiniLM weights read exactly, match PyTorch, and round-trip."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from checkpoint_helpers import BATCHES, MAX_LENGTH, assert_same_outputs, copy_checkpoint

from tfbert.config import BertConfig
from tfbert.errors import ModelFileError
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import (
    PretrainedBert,
    encoder_weight_shapes,
    export_huggingface,
    load_encoder_weights,
    load_pretrained,
)


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
    # Readable by the user's other tools: the umask's modes (safetensors alone writes 0600).
    umask = os.umask(0)
    os.umask(umask)
    for path in directory.iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path.name
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
    assert_same_outputs(layer, features, baseline)


def test_prefixed_and_legacy_layer_norm_names(tmp_path, minilm, minilm_dir) -> None:
    from safetensors.numpy import load_file, save_file

    directory = copy_checkpoint(minilm_dir, tmp_path / "legacy")
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
    directory = copy_checkpoint(minilm_dir, tmp_path / "bf16")
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


def test_truncated_safetensors(tmp_path, minilm_dir) -> None:
    directory = copy_checkpoint(minilm_dir, tmp_path / "truncated")
    (directory / "model.safetensors").unlink()
    data = (minilm_dir / "model.safetensors").read_bytes()
    (directory / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="may be truncated or corrupt"):
        load_pretrained(directory)


def test_config_that_disagrees_with_the_tensors(tmp_path, minilm_dir) -> None:
    directory = copy_checkpoint(minilm_dir, tmp_path / "wrong_config")
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
    directory = copy_checkpoint(minilm_dir, tmp_path / "wrong_vocab")
    tokens = (minilm_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (directory / "vocab.txt").write_text("\n".join(tokens[:21128]) + "\n", encoding="utf-8")
    with pytest.raises(
        ModelFileError,
        match=r"vocab.txt has 21128 tokens but the word embeddings have 30522 rows: it belongs "
        "to another model",
    ):
        load_pretrained(directory)
