"""BertClassifier: the two faces agree, it learns real data, it saves and reloads exactly."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.errors import ModelFileError
from tfbert.tasks.classifier import BertClassifier
from tfbert.text.tokenizer import BertTokenizer
from tfbert.training.optimization import create_optimizer

TEXTS = [
    "A wonderful, moving film.",
    "Dull and far too long.",
    "Café au lait, naïve plot.",
    "这部电影很好看",
    "",
]


@pytest.fixture(scope="module")
def classifier(english_vocab) -> BertClassifier:
    keras.utils.set_random_seed(3)
    return BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=["neg", "pos"], max_length=32
    )


def test_text_and_numeric_faces_give_identical_outputs(classifier: BertClassifier) -> None:
    from_text = classifier.text_model()(tf.constant(TEXTS)).numpy()
    logits = classifier(classifier.tokenizer(TEXTS))
    from_numbers = classifier.probabilities(logits).numpy()
    np.testing.assert_array_equal(from_text, from_numbers)
    np.testing.assert_allclose(from_text.sum(-1), 1.0, atol=1e-6)
    predicted = classifier.predict_texts(TEXTS)
    np.testing.assert_allclose(predicted["probabilities"], from_text, atol=1e-6)
    assert predicted["labels"] == [classifier.labels[i] for i in from_text.argmax(-1)]


def test_cls_classifier_runs_the_last_layer_on_cls_alone_and_agrees_with_the_full_encoder(
    classifier: BertClassifier,
) -> None:
    features = classifier.tokenizer(TEXTS)
    last = classifier.encoder.blocks[-1].intermediate
    rows_seen = []
    forward = last.call
    last.call = lambda x, **kwargs: rows_seen.append(x.shape[0]) or forward(x, **kwargs)
    try:
        full = classifier.encoder(features)  # every position through every layer
        logits = classifier(features)
    finally:
        del last.call
    tokens = int(np.prod(features["token_ids"].shape))
    assert rows_seen == [tokens, len(TEXTS)]  # the classifier: one row per text
    np.testing.assert_allclose(logits, classifier.head(full["pooled_output"]), atol=1e-5)


def test_padding_to_longest_or_to_max_length_gives_the_same_predictions(english_vocab) -> None:
    keras.utils.set_random_seed(4)
    model = BertClassifier.from_preset(
        "tiny",
        vocabulary=english_vocab,
        labels=["a", "b", "c"],
        max_length=48,
        tokenizer_options={"pad_to": "longest"},
    )
    fixed = BertTokenizer(english_vocab, max_length=48, pad_to="max_length")
    short = model.probabilities(model(model.tokenizer(TEXTS)))
    full = model.probabilities(model(fixed(TEXTS)))
    np.testing.assert_allclose(short, full, atol=1e-5)


def test_problem_types_have_matching_outputs_and_losses(english_vocab) -> None:
    multilabel = BertClassifier.from_preset(
        "tiny",
        vocabulary=english_vocab,
        labels=["action", "comedy", "drama"],
        problem_type="multilabel",
        max_length=16,
    )
    targets = multilabel.encode_labels([["action", "drama"], [], ["comedy"]])
    np.testing.assert_array_equal(targets, [[1, 0, 1], [0, 0, 0], [0, 1, 0]])
    probabilities = multilabel.predict_texts(["a", "b", "c"])["probabilities"]
    assert probabilities.shape == (3, 3) and not np.allclose(probabilities.sum(-1), 1.0)
    multilabel.compile(optimizer=create_optimizer(1e-3))
    history = multilabel.fit(multilabel.tokenizer(["x y", "z", "w"]), targets, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()

    multiclass = BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=["a", "b", "c"], max_length=16
    )
    assert multiclass.problem_type == "multiclass" and multiclass.output_shape == (None, 3)
    np.testing.assert_array_equal(multiclass.encode_labels(["c", "a"]), [2, 0])
    with pytest.raises(ValueError, match="not in the label vocabulary: 'd'"):
        multiclass.encode_labels(["d"])


@pytest.fixture(scope="module")
def learned(english_vocab, imdb_small_split) -> tuple[BertClassifier, list[tuple[str, str]]]:
    """A tiny model trained on 2,000 real IMDB reviews, and its held-out reviews."""
    keras.utils.set_random_seed(11)
    train, test = imdb_small_split
    model = BertClassifier.from_preset(
        "tiny",
        vocabulary=english_vocab,
        labels=["0", "1"],
        max_length=64,
        tokenizer_options={"pad_to": "longest", "truncation": "head_tail"},
    )

    def dataset(rows, shuffle):
        data = tf.data.Dataset.from_tensor_slices(
            ([t for t, _ in rows], model.encode_labels([label for _, label in rows]))
        )
        if shuffle:
            data = data.shuffle(len(rows), seed=11)
        return data.batch(32).map(lambda x, y: (model.tokenizer(x), y)).prefetch(2)

    epochs = 4
    model.compile(optimizer=create_optimizer(1e-3, total_steps=epochs * len(train) // 32))
    model.fit(dataset(train, True), epochs=epochs, verbose=0, shuffle=False)
    return model, test


def test_a_tiny_model_learns_real_reviews_well_beyond_chance(learned) -> None:
    model, test = learned
    predicted = model.predict_texts([t for t, _ in test])["labels"]
    accuracy = np.mean([p == label for p, (_, label) in zip(predicted, test, strict=True)])
    # Chance is 50% (balanced labels); bag-of-words signal alone takes a tiny model well past it.
    print(f"tiny model, 2,000 IMDB reviews: held-out accuracy {accuracy:.3f}")
    assert accuracy >= 0.65, f"test accuracy {accuracy:.3f}"


def test_bfloat16_inference_copy_agrees_with_float32(learned) -> None:
    model, test = learned
    fast = model.for_inference("bfloat16")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    block = fast.encoder.blocks[0]
    assert block.intermediate.kernel.dtype == "bfloat16"
    assert block.intermediate.compute_dtype == "bfloat16"
    assert block.output_layer_norm.gamma.dtype == "float32"
    # The word table is stored in bfloat16 too (half the export); its rows are summed in float32.
    assert fast.encoder.embeddings.token_embedding.embeddings.dtype == "bfloat16"
    assert fast.encoder.embeddings.position_embedding.dtype == "float32"
    assert model.encoder.embeddings.token_embedding.embeddings.dtype == "float32"
    assert model.encoder.blocks[0].intermediate.kernel.dtype == "float32"  # original untouched
    np.testing.assert_allclose(  # the same weights, rounded to bfloat16
        np.asarray(block.intermediate.kernel, np.float32),
        np.asarray(model.encoder.blocks[0].intermediate.kernel),
        rtol=2**-8,
    )
    texts = [t for t, _ in test]
    reference = model.predict_texts(texts)
    result = fast.predict_texts(texts)
    difference = np.abs(result["probabilities"] - reference["probabilities"]).max()
    agreement = np.mean(result["label_ids"] == reference["label_ids"])
    print(f"bfloat16 vs float32 on {len(texts)} reviews: max |dp| {difference:.4f}, "
          f"labels agree {agreement:.3f}")  # fmt: skip
    assert 0 < difference < 0.03  # it really ran in bfloat16, and stayed close
    assert agreement >= 0.98
    with pytest.raises(ValueError, match="Unknown precision 'int4'"):
        model.for_inference("int4")


def test_bfloat16_copy_predicts_from_its_stored_weights_and_follows_set_weights(
    learned,
) -> None:
    model, test = learned
    texts = [t for t, _ in test[:64]]
    fast = model.for_inference("bfloat16")
    assert fast.stores_low_precision_weights and not model.stores_low_precision_weights
    spec = tf.TensorSpec([None], tf.string)
    # Both predict_texts graphs read the model's variables (stored once, no frozen copy), so
    # they follow training and set_weights.
    for task in (fast, model):
        assert len(task._logits_function(False).get_concrete_function(spec).variables) == len(
            task.weights
        )
    before = fast.predict_texts(texts)["probabilities"]
    through_variables = fast.text_model()(tf.constant(texts)).numpy()
    # Two bfloat16 computations (padded to the batch's longest vs to max_length: other matmul
    # shapes, so other kernels and summation orders) agree within a couple of bfloat16 steps
    # (2**-8 relative each), not bit for bit.
    np.testing.assert_allclose(before, through_variables, atol=2**-7)
    # Negating the head's kernel and bias negates the logit: set_weights must take effect.
    head = {id(v) for v in fast.head.weights}
    flipped = [-np.asarray(v) if id(v) in head else np.asarray(v) for v in fast.weights]
    fast.set_weights(flipped)
    after = fast.predict_texts(texts)["probabilities"]
    np.testing.assert_allclose(after, before[:, ::-1], atol=1e-6)


def test_save_pretrained_and_keras_format_round_trip(classifier: BertClassifier, tmp_path) -> None:
    expected = classifier.predict_texts(TEXTS)["probabilities"]
    directory = classifier.save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in directory.iterdir()) == [
        "config.json",
        "model.safetensors",
        "vocab.txt",
    ]
    reloaded = BertClassifier.from_pretrained(directory)
    np.testing.assert_array_equal(reloaded.predict_texts(TEXTS)["probabilities"], expected)
    assert reloaded.labels == classifier.labels and reloaded.tokenizer.max_length == 32

    classifier.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(restored, BertClassifier)
    np.testing.assert_array_equal(restored.predict_texts(TEXTS)["probabilities"], expected)
    assert restored.tokenizer.get_config() == classifier.tokenizer.get_config()


def test_corrupt_or_mismatched_model_directories_fail_clearly(
    classifier, english_vocab, tmp_path
) -> None:
    directory = classifier.save_pretrained(tmp_path / "model")
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        BertClassifier.from_pretrained(directory)
    with pytest.raises(ModelFileError, match="config.json is missing"):
        BertClassifier.from_pretrained(tmp_path)

    bigger = BertClassifier.from_preset("mini", vocabulary=english_vocab, labels=["neg", "pos"])
    bigger.save_pretrained(tmp_path / "mini")
    from tfbert.weights import assign_weights, read_safetensors

    with pytest.raises(ModelFileError, match="mis-shaped"):
        assign_weights(classifier, read_safetensors(tmp_path / "mini" / "model.safetensors"))


def test_bad_construction_arguments(english_vocab) -> None:
    with pytest.raises(ValueError, match="exceeds the model's 512 position embeddings"):
        BertClassifier.from_preset(
            "tiny", vocabulary=english_vocab, labels=["a", "b"], max_length=600
        )
    with pytest.raises(ValueError, match="Unknown preset"):
        BertClassifier.from_preset("gigantic", vocabulary=english_vocab, labels=["a", "b"])
    with pytest.raises(ValueError, match="embeds only 100"):
        BertClassifier.from_preset(
            "tiny", vocabulary=english_vocab, labels=["a", "b"], vocab_size=100
        )
    with pytest.raises(ValueError, match="at least 2 labels"):
        BertClassifier.from_preset("tiny", vocabulary=english_vocab, labels=["only"])
    with pytest.raises(ValueError, match="unique"):
        BertClassifier.from_preset("tiny", vocabulary=english_vocab, labels=["a", "b", "a"])


def test_from_pretrained_with_labels_starts_from_the_pretrained_encoder(minilm_dir) -> None:
    from tfbert.modeling.checkpoints import load_pretrained

    model = BertClassifier.from_pretrained("minilm-l6", num_classes=3, max_length=32)
    assert model.labels == ["0", "1", "2"] and model.problem_type == "multiclass"
    assert model.tokenizer.lowercase and model.bert_config.num_layers == 6
    pretrained = load_pretrained(minilm_dir)
    word_embeddings = pretrained.encoder_weights["embeddings/token_embedding/embeddings"]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.encoder.embeddings.token_embedding.embeddings),
        word_embeddings,
    )


def test_mean_pooling_averages_the_real_tokens_and_survives_saving(english_vocab, tmp_path) -> None:
    keras.utils.set_random_seed(5)
    model = BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=["a", "b", "c"], max_length=24, pooling="mean"
    )
    features = model.tokenizer(TEXTS)
    # Reference: the head applied to the average of the encoder's vectors at real tokens only.
    sequence = model.encoder(features)["sequence_output"].numpy()
    mask = features["padding_mask"].numpy()[..., None].astype(np.float32)
    mean = (sequence * mask).sum(axis=1) / mask.sum(axis=1)
    np.testing.assert_allclose(model(features).numpy(), model.head(mean).numpy(), atol=1e-5)
    assert not model.encoder.pooler.trainable  # it gets no gradient, so it is not trained

    expected = model.predict_texts(TEXTS)["probabilities"]
    reloaded = BertClassifier.from_pretrained(model.save_pretrained(tmp_path / "mean"))
    assert reloaded.pooling == "mean"
    np.testing.assert_array_equal(reloaded.predict_texts(TEXTS)["probabilities"], expected)
    with pytest.raises(ValueError, match="pooling must be one of"):
        BertClassifier.from_preset(
            "tiny", vocabulary=english_vocab, labels=["a", "b"], pooling="max"
        )


@pytest.mark.parametrize("mode", ["mean", "concat"])
def test_last_layers_pooling_reads_each_layers_cls_vector(english_vocab, tmp_path, mode) -> None:
    """pooling="last2_<mode>": the head reads the [CLS] vectors of the last two layers,
    averaged or concatenated, computed here directly from the encoder's hidden states."""
    keras.utils.set_random_seed(5)
    model = BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=["a", "b", "c"], max_length=24,
        pooling=f"last2_{mode}",
    )  # fmt: skip
    features = model.tokenizer(TEXTS)
    hidden = model.encoder(features, return_all_layers=True)["hidden_states"]
    assert len(hidden) == 3  # the embeddings and two blocks
    firsts = [h.numpy()[:, 0] for h in hidden[-2:]]
    pooled = np.mean(firsts, axis=0) if mode == "mean" else np.concatenate(firsts, axis=-1)
    np.testing.assert_allclose(model(features).numpy(), model.head(pooled).numpy(), atol=1e-5)
    assert model.head.dense.kernel.shape[0] == pooled.shape[-1]
    assert not model.encoder.pooler.trainable  # it gets no gradient, so it is not trained
    expected = model.predict_texts(TEXTS)["probabilities"]
    reloaded = BertClassifier.from_pretrained(model.save_pretrained(tmp_path / mode))
    assert reloaded.pooling == f"last2_{mode}"
    np.testing.assert_array_equal(reloaded.predict_texts(TEXTS)["probabilities"], expected)


def test_last_layers_pooling_refuses_what_it_cannot_read(english_vocab) -> None:
    from tfbert.modeling.textcnn import TextCNN
    from tfbert.tasks.classifier import TextClassifier

    with pytest.raises(ValueError, match="pool over fewer"):
        BertClassifier.from_preset(
            "tiny", vocabulary=english_vocab, labels=["a", "b"], pooling="last4_mean"
        )  # 2 blocks + embeddings: 3 layers
    tokenizer = BertTokenizer(english_vocab, max_length=16)
    with pytest.raises(ValueError, match="does not return"):
        TextClassifier(
            TextCNN.from_vocabulary(tokenizer), tokenizer, ["a", "b"], pooling="last2_mean"
        )
    with pytest.raises(ValueError, match="lastN_mean"):
        BertClassifier.from_preset(
            "tiny", vocabulary=english_vocab, labels=["a", "b"], pooling="last2_max"
        )


def test_auto_pooling_follows_the_checkpoint(minilm_dir, tmp_path) -> None:
    # all-MiniLM-L6-v2 was trained by sentence-transformers with mean pooling (1_Pooling/).
    assert BertClassifier.from_pretrained("minilm-l6", num_classes=2).pooling == "mean"
    plain = tmp_path / "plain"  # the same weights without the sentence-transformers config
    plain.mkdir()
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        (plain / name).symlink_to(minilm_dir / name)
    assert BertClassifier.from_pretrained(plain, num_classes=2).pooling == "cls"
    assert BertClassifier.from_pretrained(plain, num_classes=2, pooling="mean").pooling == "mean"
