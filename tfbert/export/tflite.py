"""LiteRT (TensorFlow Lite) exports of a text classifier, in float32 or int8.

    from tfbert.export.tflite import export_tflite, TFLiteClassifier
    export_tflite(model, "exports/imdb-int8", quantize="int8", calibration_texts=texts)
    TFLiteClassifier.load("exports/imdb-int8").predict_texts(["A wonderful film."])

What the file holds: the classifier's numeric part, token ids in and logits out. LiteRT runs
neither TensorFlow's string ops that tfbert's tokenizer uses to normalise text (e.g.
`StaticRegexReplace`) nor tensorflow-text's tokenizer kernels, so the tokenizer stays outside
the `.tflite` file. The export directory holds what it needs beside the model: `vocab.txt` and
`tfbert_tflite.json` (tokenizer settings, labels, problem type, input and output names).

Feeding it: three int32 inputs `token_ids`, `segment_ids` and `padding_mask` of shape
[batch, length] (any batch and length up to the tokenizer's max length; resize the inputs
before each call), exactly what tfbert's tokenizer returns; the output `logits` is
[batch, outputs] float32 (binary classifiers: one logit, p(positive) = sigmoid). Any WordPiece
tokenizer on `vocab.txt` with the recorded settings gives the same ids; `TFLiteClassifier`
does all of it with tfbert's own tokenizer.

Quantization (`quantize`): None keeps float32; "dynamic" stores the weights in int8 and
quantizes activations on the fly; "int8" is full-integer: weights and activations in int8,
activation ranges calibrated on real texts (`calibration_texts`), inputs and outputs stay as
above.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

# TensorFlow's freezing pass (as tasks.inference.weights_as_constants); not under tf.* in 2.21.
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from tfbert._quiet import _stderr_to_devnull
from tfbert.contract import FEATURE_NAMES, VOCAB_FILE
from tfbert.errors import ModelFileError
from tfbert.files import atomic_write_bytes, atomic_write_text
from tfbert.text.tokenizer import saved_settings
from tfbert.text.vocab import save_vocabulary

QUANTIZATIONS = ("dynamic", "int8")
TFLITE_FILE = "model.tflite"
TFLITE_INFO_FILE = "tfbert_tflite.json"
OUTPUT_NAME = "logits"
CALIBRATION_LIMIT = 200  # texts used to calibrate full-integer quantization, at most


def check_quantize(quantize: str | None, calibration_texts: Sequence[str] | None) -> None:
    """A one-line error for a quantization that cannot be done as asked."""
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(
            f"quantize must be one of {', '.join(QUANTIZATIONS)} (or None for float32), "
            f"got {quantize!r}."
        )
    if quantize == "int8" and not calibration_texts:
        raise ValueError(
            "Full-integer quantization (int8) calibrates on real texts: pass calibration_texts "
            "(--calibration-file or --calibration-dataset), or use quantize='dynamic'."
        )
    if calibration_texts is not None and quantize != "int8":
        raise ValueError("calibration texts are used only with quantize='int8'.")


def export_tflite(
    model: Any,
    directory: str | Path,
    *,
    quantize: str | None = None,
    calibration_texts: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Writes `model` (a float32 tfbert classifier) as a LiteRT model in `directory`.

    Returns the path of `model.tflite`; `vocab.txt` and `tfbert_tflite.json` are written beside
    it (see the module doc for how to feed it). `quantize`: None, "dynamic" or "int8" (then
    `calibration_texts`, real texts of the kind the model will see; the first
    `CALIBRATION_LIMIT` are used). An existing export is replaced only with `overwrite`.
    """
    check_quantize(quantize, calibration_texts)
    directory = Path(directory)
    target = directory / TFLITE_FILE
    if directory.exists() and not directory.is_dir():
        raise ModelFileError(f"{directory} is a file; pass a directory for the LiteRT export.")
    if target.exists() and not overwrite:
        raise ModelFileError(
            f"{target} already exists; pass another directory or overwrite=True / --overwrite."
        )

    def logits(token_ids: tf.Tensor, segment_ids: tf.Tensor, padding_mask: tf.Tensor):
        features = {"token_ids": token_ids, "segment_ids": segment_ids}
        features["padding_mask"] = padding_mask
        return {OUTPUT_NAME: tf.cast(model(features, training=False), tf.float32)}

    specs = [tf.TensorSpec([None, None], tf.int32, name=name) for name in FEATURE_NAMES]
    # Weights as constants: the converter quantizes constants, and the file holds them once.
    function = convert_variables_to_constants_v2(tf.function(logits).get_concrete_function(*specs))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "int8":
        texts = list(calibration_texts or ())[:CALIBRATION_LIMIT]
        tokenizer = model.tokenizer.with_padding("longest")

        def representative() -> Iterator[list[tf.Tensor]]:
            for text in texts:  # one text at a time: its own length, as batch-1 requests
                features = tokenizer(tf.constant([text]))
                yield [features[name] for name in FEATURE_NAMES]

        converter.representative_dataset = representative
        # Integer kernels wherever LiteRT has them; float only where it has none.
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
    content = _convert_quietly(converter)
    directory.mkdir(parents=True, exist_ok=True)
    save_vocabulary(list(model.tokenizer.vocabulary), directory / VOCAB_FILE)
    info = {
        "task": "classifier",
        "labels": list(model.labels),
        "problem_type": model.problem_type,
        "threshold": getattr(model, "threshold", 0.5),
        "tokenizer": saved_settings(model.tokenizer),
        "inputs": list(FEATURE_NAMES),
        "output": OUTPUT_NAME,
        "quantize": quantize or "float32",
        "calibration_texts": min(len(calibration_texts or ()), CALIBRATION_LIMIT),
        "tokenizer_outside": "LiteRT runs neither TensorFlow's string ops nor "
        "tensorflow-text's kernels: tokenize with vocab.txt and these settings",
    }
    atomic_write_text(directory / TFLITE_INFO_FILE, json.dumps(info, ensure_ascii=False, indent=1))
    return atomic_write_bytes(target, content)


def _convert_quietly(converter: Any) -> bytes:
    """`converter.convert()` without the converter's notes on stderr (MLIR, statistics)."""
    with warnings.catch_warnings(), _stderr_to_devnull():
        warnings.simplefilter("ignore")
        return converter.convert()


def _interpreter(path: Path, num_threads: int | None) -> Any:
    """LiteRT's interpreter (the `ai-edge-litert` package), else TensorFlow's own copy."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the `runtimes` extra is not installed
        Interpreter = tf.lite.Interpreter  # noqa: N806
    return Interpreter(model_path=str(path), num_threads=num_threads)


class TFLiteClassifier:
    """A LiteRT classifier export, loaded: tfbert's tokenizer outside, the model in LiteRT.

    `logits(features)` runs a batch of token ids (numpy or tensors, as the tokenizer returns
    them); `predict_texts(texts)` goes from strings to probabilities and labels.
    """

    def __init__(self, directory: str | Path, num_threads: int | None = None) -> None:
        from tfbert.text.tokenizer import BertTokenizer, legacy_defaults
        from tfbert.text.vocab import load_vocabulary

        directory = Path(directory)
        info_path = directory / TFLITE_INFO_FILE
        if not (directory / TFLITE_FILE).is_file() or not info_path.is_file():
            raise ModelFileError(
                f"{directory} is not a tfbert LiteRT export (no {TFLITE_FILE} and "
                f"{TFLITE_INFO_FILE}); write one with `tfbert export --format tflite`."
            )
        self.info = json.loads(info_path.read_text(encoding="utf-8"))
        self.labels = list(self.info["labels"])
        self.problem_type = self.info["problem_type"]
        self.tokenizer = BertTokenizer(
            load_vocabulary(directory / VOCAB_FILE), **legacy_defaults(self.info["tokenizer"])
        ).with_padding("longest")
        self._interpreter = _interpreter(directory / TFLITE_FILE, num_threads)
        details = self._interpreter.get_input_details()
        self._inputs = {name: _by_name(details, name)["index"] for name in FEATURE_NAMES}
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape: tuple[int, ...] | None = None

    @classmethod
    def load(cls, directory: str | Path, num_threads: int | None = None) -> TFLiteClassifier:
        return cls(directory, num_threads)

    def logits(self, features: dict[str, Any]) -> np.ndarray:
        """float32 logits [batch, outputs] for a batch of features."""
        arrays = {name: np.asarray(features[name], np.int32) for name in FEATURE_NAMES}
        shape = arrays["token_ids"].shape
        if shape != self._shape:  # resizing re-plans the graph: only when the shape changes
            for index in self._inputs.values():
                self._interpreter.resize_tensor_input(index, shape)
            self._interpreter.allocate_tensors()
            self._shape = shape
        for name, index in self._inputs.items():
            self._interpreter.set_tensor(index, arrays[name])
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output), np.float32)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """One probability per label, as the classifier's own `probabilities`."""
        if self.problem_type == "multiclass":
            shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
            return shifted / shifted.sum(axis=-1, keepdims=True)
        positive = 1.0 / (1.0 + np.exp(-logits))
        if self.problem_type == "binary":
            return np.concatenate([1.0 - positive, positive], axis=-1)
        return positive

    def predict_texts(self, texts: Sequence[str], batch_size: int = 32) -> dict[str, Any]:
        """Probabilities [texts, labels] and, for single-label models, label ids and names;
        texts run in batches of similar length, results in the order of `texts`."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        order = np.argsort([len(text) for text in texts], kind="stable")
        rows = np.zeros((len(texts), len(self.labels)), np.float32)
        for start in range(0, len(texts), batch_size):
            chosen = order[start : start + batch_size]
            features = self.tokenizer(tf.constant([texts[i] for i in chosen]))
            rows[chosen] = self.probabilities(self.logits(features))
        result: dict[str, Any] = {"probabilities": rows}
        if self.problem_type != "multilabel":
            ids = rows.argmax(axis=-1)
            result.update(label_ids=ids, labels=[self.labels[i] for i in ids])
        return result


def _by_name(details: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    """The input whose name holds `name` (the converter prefixes it, e.g. serving_default_)."""
    for detail in details:
        if detail["name"] == name or detail["name"].endswith(f"_{name}:0"):
            return detail
    raise ModelFileError(f"The LiteRT model has no input {name!r}; export it again.")
