"""LiteRT exports (tfbert.export.tflite): a classifier trained briefly on real IMDB reviews,
exported in float32, dynamic-range int8 and full-integer int8 (calibrated on real reviews),
reloads and agrees with the in-memory float32 model on held-out real reviews; bad options give
one-line errors and an existing export is not overwritten silently.

Tolerances: float32 within 1e-5 in probability; int8 (dynamic and full-integer) within 0.05,
with identical labels on every review whose float32 probability is at least 0.05 from the
decision boundary (quantization moves probabilities by a few hundredths at most).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from native import LITERT_CRASH

from tfbert.errors import ModelFileError
from tfbert.export.tflite import (
    TFLITE_FILE,
    TFLITE_INFO_FILE,
    TFLiteClassifier,
    check_quantize,
    export_tflite,
)
from tfbert.tasks.classifier import BertClassifier

INT8_TOLERANCE = 0.05
# LiteRT's native library runs beside TensorFlow's, in a process of its own (tests/native.py).
pytestmark = pytest.mark.isolated(crash_is_known=LITERT_CRASH)


@pytest.fixture(scope="module")
def trained(english_vocab, imdb_small_split) -> tuple[BertClassifier, list[str]]:
    """A tiny classifier fitted for one epoch on 384 real reviews, and 48 held-out reviews."""
    train, test = imdb_small_split
    keras.utils.set_random_seed(3)
    model = BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=["0", "1"], max_length=48
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    texts = [text for text, _ in train[:384]]
    features = model.tokenizer(np.array(texts))
    targets = model.encode_labels([label for _, label in train[:384]])
    model.fit(features, targets, batch_size=32, epochs=1, verbose=0)
    return model, [text for text, _ in test[:48]]


@pytest.fixture(scope="module")
def reference(trained) -> np.ndarray:
    model, held_out = trained
    return model.predict_texts(held_out)["probabilities"]


@pytest.fixture(scope="module")
def float32_export(trained, tmp_path_factory):
    directory = tmp_path_factory.mktemp("float32")
    return directory, export_tflite(trained[0], directory)


def test_float32_export_reloads_with_the_same_probabilities(trained, reference, float32_export):
    model, held_out = trained
    directory, path = float32_export
    assert path == directory / TFLITE_FILE and (directory / "vocab.txt").is_file()
    loaded = TFLiteClassifier.load(directory, num_threads=1)
    result = loaded.predict_texts(held_out, batch_size=8)
    np.testing.assert_allclose(result["probabilities"], reference, atol=1e-5)
    assert result["labels"] == [model.labels[i] for i in reference.argmax(-1)]
    # Features straight from the tokenizer, any batch and length.
    features = model.tokenizer.with_padding("longest")(np.array(held_out[:3]))
    np.testing.assert_allclose(
        loaded.probabilities(loaded.logits(features)), reference[:3], atol=1e-5
    )


@pytest.mark.parametrize("quantize", ["dynamic", "int8"])
def test_int8_exports_agree_with_float32_on_real_reviews(
    trained, reference, float32_export, tmp_path, imdb_small_split, quantize
):
    model, held_out = trained
    train, _ = imdb_small_split
    calibration = [text for text, _ in train[384:448]] if quantize == "int8" else None
    path = export_tflite(
        model, tmp_path / quantize, quantize=quantize, calibration_texts=calibration
    )
    # int8 weights: about a quarter of the float32 file.
    assert path.stat().st_size < 0.35 * float32_export[1].stat().st_size
    loaded = TFLiteClassifier.load(tmp_path / quantize, num_threads=1)
    assert loaded.info["quantize"] == quantize
    probabilities = loaded.predict_texts(held_out)["probabilities"]
    assert np.max(np.abs(probabilities - reference)) < INT8_TOLERANCE
    clear = np.abs(reference[:, 1] - 0.5) >= INT8_TOLERANCE
    assert clear.sum() >= len(held_out) // 2  # the check is about real decisions
    np.testing.assert_array_equal(probabilities[clear].argmax(-1), reference[clear].argmax(-1))


def test_bad_options_give_one_line_errors(english_vocab, tmp_path) -> None:
    model = BertClassifier.from_preset(  # refused before any conversion: weights do not matter
        "tiny", vocabulary=english_vocab, labels=["0", "1"], max_length=48
    )
    with pytest.raises(ValueError, match=r"quantize must be one of dynamic, int8") as error:
        check_quantize("int4", None)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="calibrates on real texts"):
        export_tflite(model, tmp_path, quantize="int8")
    with pytest.raises(ValueError, match="only with quantize='int8'"):
        check_quantize("dynamic", ["a text"])
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ModelFileError, match="is a file"):
        export_tflite(model, tmp_path / "file")
    assert (tmp_path / "file").read_text() == "mine"
    with pytest.raises(ModelFileError, match="not a tfbert LiteRT export"):
        TFLiteClassifier.load(tmp_path)


def test_an_existing_export_is_replaced_only_when_asked(trained, float32_export) -> None:
    model, _ = trained
    directory, path = float32_export
    before = path.read_bytes()
    with pytest.raises(ModelFileError, match="already exists"):
        export_tflite(model, directory)
    assert path.read_bytes() == before and (directory / TFLITE_INFO_FILE).is_file()
