"""One tiny model, trained once per session on real reviews, for every command-line test."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from .helpers import NEW_REVIEWS, balanced, run_captured, write_csv


@pytest.fixture(scope="session")
def files(tmp_path_factory, imdb_reviews) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("cli_data")
    train = write_csv(root / "train.csv", balanced(imdb_reviews, 0, 150))  # 300 reviews
    test = write_csv(root / "test.csv", balanced(imdb_reviews, 1000, 40))  # 80 others
    texts = root / "texts.txt"
    texts.write_text("\n".join(NEW_REVIEWS[:2]) + "\n\n", encoding="utf-8")  # a blank line too
    return SimpleNamespace(root=root, train=train, test=test, texts=texts)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, files) -> SimpleNamespace:
    model_dir = tmp_path_factory.mktemp("cli_model") / "model"
    result = run_captured(
        "train", "--train-file", files.train, "--preset", "tiny", "--max-length", 32,
        "--epochs", 1, "--vocab-size", 2000, "--output-dir", model_dir,
    )  # fmt: skip
    assert result.code == 0, result.err
    return SimpleNamespace(model_dir=model_dir, result=result)


@pytest.fixture(scope="session")
def exported(tmp_path_factory, trained) -> SimpleNamespace:
    export_dir = tmp_path_factory.mktemp("cli_export") / "export"
    result = run_captured("export", "--model", trained.model_dir, "--export-dir", export_dir)
    assert result.code == 0, result.err
    return SimpleNamespace(export_dir=export_dir, result=result)
