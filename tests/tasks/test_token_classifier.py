"""The token classifier (tfbert.tasks.token_classifier): word/piece alignment, windows of long
sentences, offsets into the original strings, saving, the BiLSTM-CRF, learning real NER."""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.data.ner import Entity, entities_from_tags, load_ner_dataset
from tfbert.errors import DataError
from tfbert.evaluation.entities import evaluate_entities, evaluate_tagger
from tfbert.modeling.bilstm import BiLSTM
from tfbert.tasks.task import default_optimizer
from tfbert.tasks.token_classifier import TokenClassifier, merge_windows, window_bounds
from tfbert.text.packers import IGNORE_LABEL
from tfbert.text.tokenizer import BertTokenizer
from tfbert.text.vocab import learn_vocabulary

# Written for these tests: English with multi-piece words, accents, mixed scripts.
ENGLISH = [
    "Margaret Thatcher flew from Heathrow to Washington on Tuesday.",
    "The Bundesbank said inflation in Nordrhein-Westfalen slowed to 1.8 percent.",
    "Zoë Baptiste-Okonkwo joined Médecins Sans Frontières in Côte d'Ivoire.",
    "O'Brien met 王小明 at the Café Zürich in 上海 last week, then flew to São Paulo.",
]


TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


@pytest.fixture(scope="module")
def chinese() -> list[dict]:
    """Real MSRA NER sentences (train split), BIO tags over PER/LOC/ORG, one word per
    character: {"text", "words", "tags"}."""
    data = load_ner_dataset("msra", scheme="bio", max_sentences_per_split=700)["train"]
    return [
        {"text": text, "words": words, "tags": tags}
        for text, words, tags in zip(data.texts(), data.words, data.tags, strict=True)
    ]


@pytest.fixture(scope="module")
def tagger(english_vocab) -> TokenClassifier:
    """An untrained tiny BERT tagger with short windows (16 positions) and a CRF."""
    keras.utils.set_random_seed(1)
    return TokenClassifier.from_preset(
        "tiny", vocabulary=english_vocab, tags=TAGS, max_length=16, crf=True, stride=4
    )


# ----- alignment and offsets -------------------------------------------------------------------
def test_words_and_offsets_round_trip_to_the_original_characters(tagger, chinese) -> None:
    texts = ENGLISH + [s["text"] for s in chinese[:8]]
    for text, result in zip(texts, tagger.predict_texts(texts), strict=True):
        assert len(result["words"]) == len(result["tags"]) > 0
        # Every word is the text's own spelling, in order, and nothing but spaces is left out.
        assert "".join(result["words"]) == "".join(text.split())
        for entity in result["entities"]:
            assert entity["text"] == text[entity["start"] : entity["end"]]
            assert entity["type"] in {"PER", "LOC", "ORG"}
            assert 0.0 <= entity["score"] <= 1.0
    mixed = tagger.predict_texts([ENGLISH[3]])[0]["words"]
    assert mixed[:6] == ["O", "'", "Brien", "met", "王", "小"]
    assert "Café" in mixed and "Zürich" in mixed and "São" in mixed


def test_chinese_text_has_one_word_per_character(tagger, chinese) -> None:
    text = next(
        s["text"]
        for s in chinese
        if len(s["text"]) > 40
        and all("\u4e00" <= c <= "\u9fff" or not c.isalnum() for c in s["text"])
    )
    result = tagger.predict_texts([text])[0]  # longer than a window: merged from several
    assert result["words"] == list(text)
    assert len(result["tags"]) == len(text)


def test_encode_puts_each_tag_on_the_first_piece_of_its_word(english_vocab, chinese) -> None:
    model = TokenClassifier.from_preset("tiny", vocabulary=english_vocab, tags=TAGS, max_length=128)
    words = [ENGLISH[2].replace(".", " .").split(), chinese[1]["words"]]
    tags = [["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "I-ORG", "O", "B-LOC", "I-LOC", "O"]]
    tags.append(chinese[1]["tags"])
    encoded = model.encode(words, model.encode_labels(tags))
    assert encoded["sentence"].tolist() == [0, 1]  # short enough: one window each
    for row, sentence_tags in enumerate(tags):
        labels = encoded["labels"][row]
        assert labels[0] == IGNORE_LABEL  # [CLS]
        assert [TAGS[i] for i in labels[labels != IGNORE_LABEL]] == sentence_tags
    # "Baptiste-Okonkwo" is several pieces: only its first carries I-PER.
    pieces = model.preprocessor.wordpiece.tokenize(tf.constant(["Baptiste-Okonkwo"]))
    assert pieces.row_lengths()[0] > 1


def test_dataset_labels_every_served_word_of_a_conll_word(english_vocab) -> None:
    """CoNLL's one word "U.S." is four words to the served model: training labels the first
    piece of each (B-LOC I-LOC I-LOC I-LOC), for TaggedSentences and plain lists alike."""
    train = load_ner_dataset("conll2003")["train"]
    rows = [i for i, w in enumerate(train.words) if "U.S." in w and len(w) < 30][:8]
    gold = train.subset(rows)
    model = TokenClassifier.from_preset(
        "tiny", vocabulary=english_vocab, tags=gold.tag_names(), max_length=64
    )
    served = model.served_sentences(gold.words, gold.tags)
    assert served.character_entities() == gold.character_entities()
    assert (served.words, served.tags) == (
        model.served_sentences(gold).words,
        model.served_sentences(gold).tags,
    )
    # The words `predict_texts` tags are the served words, one for one.
    assert [r["words"] for r in model.predict_texts(gold.texts())] == served.words
    encoded = model.encode(served.words, model.encode_labels(served.tags))
    assert encoded["sentence"].tolist() == list(range(len(rows)))
    for labels, tags in zip(encoded["labels"], served.tags, strict=True):
        assert [model.tags[i] for i in labels[labels != IGNORE_LABEL]] == tags
    first = served.tags[0][served.words[0].index("U") :][:4]
    assert first[1:] == ["I-" + first[0][2:]] * 3
    # Words the model has no tag for are refused before any conversion, naming the tag.
    with pytest.raises(DataError, match="'B-DATE', which is not among"):
        model.dataset([["Monday"]], [["B-DATE"]])


def _split_word_entities(model: TokenClassifier, data) -> tuple[int, int]:
    """(entities found whole, entities) among the test entities whose gold words the served
    model reads as several words ("U.S.", "St.-Petersburg"), from the raw text."""
    served = data.to_served_words()
    targets = [
        {c for c, g, s in zip(chars, gold, cut, strict=True) if s.end - s.start > g.end - g.start}
        for chars, gold, cut in zip(
            data.character_entities(), data.entities(), served.entities(), strict=True
        )
    ]
    results = model.predict_texts(data.texts())
    found = sum(
        Entity(e["type"], e["start"], e["end"]) in wanted
        for wanted, r in zip(targets, results, strict=True)
        for e in r["entities"]
    )
    return found, sum(map(len, targets))


@pytest.mark.slow  # a training run; the served-word labels are checked by the fast test above
def test_a_tagger_trained_on_served_words_tags_every_part_of_a_word(english_vocab) -> None:
    """CoNLL-2003 sentences with words such as "U.S.": a tiny BERT trained a few steps on the
    served words finds those entities whole from the raw text; trained on the gold words (only
    the first part of "U.S." labelled) it cuts them."""
    data = load_ner_dataset("conll2003")
    train = data["train"].subset(
        [i for i, w in enumerate(data["train"].words) if "U.S." in w and len(w) < 30][:96]
    )
    test = data["test"].subset(
        [i for i, w in enumerate(data["test"].words) if "U.S." in w and len(w) < 30]
    )
    found = {}
    for name in ("served", "gold"):
        keras.utils.set_random_seed(0)
        model = TokenClassifier.from_preset(
            "tiny", vocabulary=english_vocab, tags=train.tag_names(), max_length=40
        )
        model.compile(optimizer=default_optimizer(2e-3))
        if name == "served":
            batches = model.dataset(train, batch_size=16)
        else:
            encoded = model.encode(train.words, model.encode_labels(train.tags))
            features = {k: encoded[k] for k in ("token_ids", "segment_ids", "padding_mask")}
            batches = tf.data.Dataset.from_tensor_slices((features, encoded["labels"])).batch(16)
        model.fit(batches, epochs=6, verbose=0)
        found[name] = _split_word_entities(model, test)
    (served, total), (gold, _) = found["served"], found["gold"]
    assert total >= 20
    # When written: 24 of 36 found whole trained on served words, none trained on gold words.
    assert served >= total / 2 and gold < total / 5, found


def test_long_sentences_become_overlapping_windows_that_keep_every_label(english_vocab) -> None:
    model = TokenClassifier.from_preset(
        "tiny", vocabulary=english_vocab, tags=TAGS, max_length=12, stride=3
    )
    words = " ".join(ENGLISH).split()
    tags = [TAGS[i % len(TAGS)] for i in range(len(words))]
    encoded = model.encode([words], model.encode_labels([tags]))
    windows = len(encoded["sentence"])
    assert windows > 3 and (encoded["sentence"] == 0).all()
    labelled = encoded["labels"] != IGNORE_LABEL
    assert (labelled.sum(axis=1) <= 10).all()
    # Every word is labelled in some window; together the windows cover them in order.
    seen = [TAGS[i] for i in encoded["labels"][labelled]]
    assert len(seen) > len(words)  # the overlaps label some words twice
    assert set(seen) == set(tags)


def test_window_bounds_overlap_by_the_stride_and_end_with_the_text() -> None:
    rows, starts, ends = window_bounds(tf.constant([0, 5, 14, 30]), budget=14, stride=4)
    assert rows.numpy().tolist() == [0, 1, 2, 3, 3, 3]
    assert starts.numpy().tolist() == [0, 0, 0, 0, 10, 16]
    assert ends.numpy().tolist() == [0, 5, 14, 14, 24, 30]


def test_each_piece_takes_the_window_where_it_is_most_central() -> None:
    counts = tf.constant([30, 7], tf.int64)
    rows, starts, ends = window_bounds(counts, budget=14, stride=6)
    splits = tf.concat([[0], tf.cumsum(counts)], axis=0)
    positions = tf.ragged.range(starts, ends) + tf.gather(splits, rows)[:, None]
    windows = int(rows.shape[0])
    # Window w's output at packed position p is (w, p): the merge shows where each came from.
    emissions = np.stack(
        [np.stack([np.full(16, w), np.arange(16)], axis=-1) for w in range(windows)]
    ).astype("float32")
    merged = merge_windows(tf.constant(emissions), positions, int(tf.reduce_sum(counts))).numpy()
    for piece in range(int(tf.reduce_sum(counts))):
        candidates = [
            (abs(2 * (piece - s) - (e - s - 1)), w)
            for w, (s, e) in enumerate(
                zip(splits.numpy()[rows] + starts, splits.numpy()[rows] + ends, strict=True)
            )
            if s <= piece < e
        ]
        _, best = min(candidates)
        start = int(splits.numpy()[rows[best]] + starts[best])
        assert merged[piece].tolist() == [best, piece - start + 1]


# ----- bad input ---------------------------------------------------------------------------------
def test_bad_input_is_answered_clearly(english_vocab) -> None:
    with pytest.raises(DataError, match="does not fit the BIO scheme"):
        TokenClassifier.from_preset("tiny", vocabulary=english_vocab, tags=["O", "E-PER"])
    with pytest.raises(DataError, match="does not fit"):
        TokenClassifier.from_preset("tiny", vocabulary=english_vocab, tags=["O", "PER"])
    with pytest.raises(ValueError, match="stride"):
        TokenClassifier.from_preset(
            "tiny", vocabulary=english_vocab, tags=TAGS, max_length=8, stride=6
        )
    model = TokenClassifier.from_preset(
        "tiny", vocabulary=english_vocab, tags=["O", "B-X", "E-X", "S-X"], scheme="bioes"
    )
    with pytest.raises(DataError, match="'I-X', which is not among"):
        model.encode_labels([["O"], ["B-X", "I-X"]])
    with pytest.raises(DataError, match="2 words but 1 tags"):
        model.encode([["New", "York"]], [[0]])
    with pytest.raises(TypeError, match="texts must be strings"):
        model.predict_texts(["fine", None])
    assert model.predict_texts(["", "   "]) == [{"entities": [], "words": [], "tags": []}] * 2
    assert model.predict_texts([]) == []


def test_bioes_tags_spell_entities_as_conlleval_reads_them(english_vocab) -> None:
    tags = ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "I-Y", "E-Y", "S-Y"]
    model = TokenClassifier.from_preset("tiny", vocabulary=english_vocab, tags=tags, scheme="bioes")
    text = tf.constant(["a b c d e f g h i j"])
    sequences = {
        # B I E | S | I after O begins one | a type change splits | E then I begins anew
        "B-X I-X E-X S-Y O I-X E-X B-X I-Y E-X": [
            ("X", 0, 3),
            ("Y", 3, 4),
            ("X", 5, 7),
            ("X", 7, 8),
            ("Y", 8, 9),
            ("X", 9, 10),
        ],
        "S-X S-X O O O O O O B-Y E-Y": [("X", 0, 1), ("X", 1, 2), ("Y", 8, 10)],
    }
    for spelled, expected in sequences.items():
        ids = tf.constant([[tags.index(t) for t in spelled.split()]], tf.int32)
        starts = tf.constant([list(range(0, 20, 2))], tf.int64)
        outputs = model._tagger_outputs(text, ids, tf.ones([1, 10]), starts, starts + 1)
        count = int(outputs["entity_count"][0])
        found = [
            (
                outputs["entity_type"][0, k].numpy().decode(),
                int(outputs["entity_start"][0, k]) // 2,
                int(outputs["entity_end"][0, k]) // 2 + 1,
            )
            for k in range(count)
        ]
        assert found == expected, spelled


def _graph_entities(model: TokenClassifier, sequences: list[list[str]]) -> list[list[Entity]]:
    """The entities the model's in-graph reading finds in tag sequences, in word units."""
    width = max(len(tags) for tags in sequences)
    ids = [[model.tags.index(t) for t in tags] + [-1] * (width - len(tags)) for tags in sequences]
    starts = tf.tile(tf.range(width, dtype=tf.int64)[None], [len(sequences), 1])
    outputs = model._tagger_outputs(
        tf.constant(["x" * width] * len(sequences)),  # entity_text cuts it
        tf.constant(ids, tf.int32),
        tf.ones([len(sequences), width]),
        starts,
        starts + 1,
    )
    return [
        [
            Entity(
                outputs["entity_type"][row, k].numpy().decode(),
                int(outputs["entity_start"][row, k]),
                int(outputs["entity_end"][row, k]),
            )
            for k in range(int(outputs["entity_count"][row]))
        ]
        for row in range(len(sequences))
    ]


@pytest.mark.parametrize("name", ["conll2003", "msra"])
def test_the_graph_reads_entities_as_entities_from_tags_does(english_vocab, name) -> None:
    """Real CoNLL-2003 (bio) and MSRA (bioes) tag sequences, as written and with tags replaced
    at random (I- after O, E- without B-, type changes inside an entity): the exported model's
    entity reading and `tfbert.data.ner.entities_from_tags` find the same entities."""
    data = load_ner_dataset(name, max_sentences_per_split=200)["test"]
    tags = data.tag_names()
    model = TokenClassifier.from_preset(
        "tiny", vocabulary=english_vocab, tags=tags, scheme=data.scheme, max_length=16
    )
    rng = np.random.default_rng(0)
    broken = []
    for sentence in data.tags:
        noisy = list(sentence)
        for position in rng.choice(len(noisy), size=max(1, len(noisy) // 4)):
            noisy[position] = tags[rng.integers(len(tags))]
        broken.append(noisy)
    ill_formed = 0
    for sequences in (data.tags, broken):
        expected = [entities_from_tags(t, data.scheme) for t in sequences]
        assert _graph_entities(model, sequences) == expected
        assert sum(map(len, expected)) > 100
    for sequence in broken:
        try:
            entities_from_tags(sequence, data.scheme, strict=True)
        except DataError:
            ill_formed += 1
    assert ill_formed > 100  # most noisy sequences break the scheme's rules


# ----- saving, precision, the BiLSTM-CRF ---------------------------------------------------------
def test_it_saves_and_loads_with_the_same_predictions(tagger, chinese, tmp_path) -> None:
    texts = ENGLISH + [chinese[2]["text"]]
    before = tagger.predict_texts(texts)
    tagger.save_pretrained(tmp_path / "ner")
    loaded = TokenClassifier.load(tmp_path / "ner")
    assert (loaded.tags, loaded.crf, loaded.stride) == (TAGS, True, 4)
    after = loaded.predict_texts(texts)
    assert [r["tags"] for r in after] == [r["tags"] for r in before]
    assert [[e["text"] for e in r["entities"]] for r in after] == [
        [e["text"] for e in r["entities"]] for r in before
    ]
    copy = tagger.for_inference("float32")
    assert [r["tags"] for r in copy.predict_texts(texts)] == [r["tags"] for r in before]


def test_a_bilstm_crf_trains_saves_and_reloads(chinese, tmp_path) -> None:
    sentences = chinese[:64]
    preprocessor = BertTokenizer(learn_vocabulary([s["text"] for s in sentences], 600), 24)
    # Mean pooling (as `tfbert train --task ner --model bilstm` builds it): tags read only the
    # states, and no weight is left without a gradient (Keras would warn at every step).
    backbone = BiLSTM.from_vocabulary(preprocessor, embedding_size=32, units=32, pooling="mean")
    model = TokenClassifier(backbone, preprocessor, TAGS, crf=True)
    model.compile(optimizer=default_optimizer(5e-3))
    data = model.dataset([s["words"] for s in sentences], [s["tags"] for s in sentences], 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(data, epochs=2, verbose=0)
    assert not [w for w in caught if "Gradients do not exist" in str(w.message)]
    assert history.history["loss"][1] < history.history["loss"][0]
    texts = [s["text"] for s in sentences[:4]]
    model.save_pretrained(tmp_path / "bilstm")
    loaded = TokenClassifier.load(tmp_path / "bilstm")
    assert isinstance(loaded.backbone, BiLSTM)
    assert [r["tags"] for r in loaded.predict_texts(texts)] == [
        r["tags"] for r in model.predict_texts(texts)
    ]


# ----- learning ----------------------------------------------------------------------------------
def _majority_f1(train, test) -> float:
    """Entity F1 of tagging every word with its most frequent training tag (unseen words O)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for words, tags in zip(train.words, train.tags, strict=True):
        for word, tag in zip(words, tags, strict=True):
            counts[word][tag] += 1
    predicted = [
        [counts[w].most_common(1)[0][0] if w in counts else "O" for w in words]
        for words in test.words
    ]
    return evaluate_entities(test, predicted).micro_f1


@pytest.mark.parametrize(
    "crf", [True, pytest.param(False, marks=pytest.mark.slow)], ids=["crf", "softmax"]
)
def test_a_tiny_bert_learns_real_chinese_entities(crf: bool) -> None:
    """MSRA NER (official train and test parts), characters tagged PER/LOC/ORG: a tiny BERT
    from scratch finds far more of the test entities (exact span and type, from the raw text)
    than tagging each character with its most frequent training tag."""
    data = load_ner_dataset("msra", scheme="bio", max_sentences_per_split=800)
    train, test = data["train"], data["test"].sample(300, 1)
    keras.utils.set_random_seed(0)
    vocabulary = learn_vocabulary(train.texts(), vocab_size=2000)
    model = TokenClassifier.from_preset(
        "tiny", vocabulary=vocabulary, tags=train.tag_names(), max_length=64, crf=crf
    )
    model.compile(optimizer=default_optimizer(1e-3))
    model.fit(model.dataset(train.words, train.tags, 16), epochs=10, verbose=0)
    f1 = evaluate_tagger(model, test).micro_f1
    majority = _majority_f1(train, test)
    # Majority F1 is about 0.11 on this sample; the model reached about 0.25 when written.
    assert f1 > majority + 0.08, (f1, majority)


@pytest.mark.slow
def test_minilm_learns_real_english_entities() -> None:
    """CoNLL-2003: pretrained MiniLM fine-tuned on 400 training sentences for 3 epochs finds
    far more test entities than the per-word majority tag."""
    data = load_ner_dataset("conll2003", max_sentences_per_split=400)
    train, test = data["train"], data["test"].sample(300, 1)
    keras.utils.set_random_seed(0)
    model = TokenClassifier.from_pretrained("minilm-l6", train.tag_names(), max_length=48, crf=True)
    model.compile(optimizer=default_optimizer(1e-4))
    model.fit(model.dataset(train.words, train.tags, 16), epochs=3, verbose=0)
    f1 = evaluate_tagger(model, test).micro_f1
    majority = _majority_f1(train, test)
    # Majority F1 is about 0.28 on this sample; MiniLM reached about 0.51 when written.
    assert f1 > majority + 0.15, (f1, majority)
