"""Other CPU inference runtimes as peers, with a tfbert classifier's own weights.

A user who wants the fastest CPU inference for a BERT classifier may pick ONNX Runtime or
OpenVINO instead of TensorFlow. The benchmarks time them with exactly the weights tfbert runs:

    converted = convert_classifier(model, directory)   # tfbert -> transformers -> ONNX
    runtimes = load_runtimes(converted, threads=1)    # ONNX Runtime f32 / int8, OpenVINO
    probabilities = runtimes["onnxruntime int8"].predict(texts, batch=32)

The route: the classifier's encoder and head are written as a Hugging Face
`BertForSequenceClassification` directory (`save_encoder_directory`), loaded by transformers
and exported with `torch.onnx.export(dynamo=False)` (opset 17, batch and length dynamic).
ONNX Runtime runs that file in float32 and after `quantize_dynamic` (int8 weights, QInt8);
OpenVINO compiles it with bfloat16 inference where the CPU has bfloat16 instructions, else
float32. Each runtime tokenizes with Hugging Face's fast tokenizer on the same vocabulary (what
its users do) and pads each batch to its longest text.

Before timing, `numeric_check` feeds every runtime tfbert's own token ids for real texts and
compares its probabilities with tfbert's, so a conversion error cannot hide behind a tokenizer
difference. The packages are the `runtimes` extra; a missing one raises ImportError, which the
scenarios turn into a "not installed" row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import optional_import

ONNX_OPSET = 17
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
ORT_FLOAT32 = "onnxruntime float32"
ORT_INT8 = "onnxruntime int8 (quantize_dynamic QInt8)"
OPENVINO = "openvino"
LITERT = {"dynamic": "litert dynamic-range int8", "int8": "litert full-integer int8"}
# Largest |probability difference| from tfbert's float32 on the same token ids that still
# counts as the same model: float32 runtimes differ only in summation order; int8 weights and
# bfloat16 arithmetic round every layer.
TOLERANCE = {"float32": 1e-4, "bfloat16": 3e-2, "int8": 3e-2}
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
CHECK_TEXTS = 64  # real texts of each sample every runtime is checked on before timing


@dataclasses.dataclass(frozen=True)
class Converted:
    """A classifier converted for the other runtimes: its files and how it tokenizes."""

    directory: Path  # the Hugging Face BertForSequenceClassification directory
    onnx: Path  # float32 ONNX
    onnx_int8: Path  # quantize_dynamic's QInt8 version
    tokenizer_json: Path  # HF's fast tokenizer file (the `tokenizers` package reads it alone)
    num_labels: int


def classifier_heads(model: Any) -> dict[str, np.ndarray]:
    """tfbert's head as `BertForSequenceClassification`'s `classifier` tensors.

    A binary tfbert classifier has one logit z and p(positive) = sigmoid(z); a two-row
    softmax head with rows (0, z) gives the same [1 - p, p], so the runtimes' softmax
    probabilities equal tfbert's.
    """
    kernel, bias = (np.asarray(w, np.float32) for w in model.head.dense.get_weights())
    weight = kernel.T  # torch.nn.Linear layout: [outputs, inputs]
    if model.problem_type == "binary":
        weight = np.concatenate([np.zeros_like(weight), weight])
        bias = np.concatenate([np.zeros_like(bias), bias])
    elif model.problem_type != "multiclass":
        raise ValueError(
            f"only binary and multiclass classifiers convert, not {model.problem_type}"
        )
    return {"classifier.weight": weight, "classifier.bias": bias}


def convert_classifier(model: Any, directory: str | Path) -> Converted:
    """Writes `model` (a float32 tfbert BertClassifier with pooling="cls") as a Hugging Face
    directory, a float32 ONNX and its dynamic-int8 version, all under `directory`."""
    from tfbert.tasks.pretrainer import save_encoder_directory

    if model.pooling != "cls":
        raise ValueError(
            f"BertForSequenceClassification reads BERT's [CLS] pooler; this classifier pools "
            f"with {model.pooling!r}."
        )
    torch = optional_import("torch")
    transformers = optional_import("transformers")
    optional_import("onnx")  # torch.onnx.export needs it
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    directory = Path(directory)
    heads = classifier_heads(model)
    hf_dir = directory / "huggingface"
    save_encoder_directory(
        model.backbone,
        model.tokenizer,
        hf_dir,
        heads=heads,
        architecture="BertForSequenceClassification",
    )
    num_labels = heads["classifier.bias"].shape[0]
    hf_model = transformers.BertForSequenceClassification.from_pretrained(
        str(hf_dir), num_labels=num_labels, attn_implementation="eager"
    ).eval()
    sample = {name: torch.ones((2, 8), dtype=torch.int64) for name in ONNX_INPUTS}
    onnx_path = directory / ONNX_FILE
    dynamic = {name: {0: "batch", 1: "length"} for name in ONNX_INPUTS}
    # The exporter's and the quantizer's advice (TracerWarnings, "run pre-processing") is noise
    # between the tables.
    with torch.inference_mode(), warnings.catch_warnings(), _root_logging(logging.ERROR):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            hf_model,
            (),
            str(onnx_path),
            kwargs=sample,
            input_names=list(ONNX_INPUTS),
            output_names=["logits"],
            dynamic_axes={**dynamic, "logits": {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    quantization = optional_import("onnxruntime.quantization")
    int8_path = directory / INT8_FILE
    with _root_logging(logging.ERROR):
        quantization.quantize_dynamic(
            str(onnx_path), str(int8_path), weight_type=quantization.QuantType.QInt8
        )
    tokenizer = transformers.BertTokenizerFast.from_pretrained(str(hf_dir))
    tokenizer.save_pretrained(str(hf_dir))  # writes tokenizer.json beside vocab.txt
    return Converted(hf_dir, onnx_path, int8_path, hf_dir / "tokenizer.json", num_labels)


@contextlib.contextmanager
def _root_logging(level: int) -> Iterator[None]:
    root = logging.getLogger()
    before = root.level
    root.setLevel(level)
    try:
        yield
    finally:
        root.setLevel(before)


def openvino_name() -> str:
    """The OpenVINO row's name on this machine ("openvino bfloat16" or "openvino float32")."""
    return f"{OPENVINO} {openvino_precision()}"


def openvino_precision() -> str:
    """bfloat16 where the CPU has bfloat16 instructions (AVX-512 BF16 or AMX), else float32."""
    from benchmarks.harness import cpu_description

    _, flags = cpu_description()
    return "bfloat16" if {"avx512_bf16", "amx_bf16"} & set(flags) else "float32"


@dataclasses.dataclass
class Runtime:
    """One runtime's compiled model: token ids in, probabilities out."""

    name: str
    library: str
    precision: str
    run_ids: Callable[[Mapping[str, np.ndarray]], np.ndarray]  # ONNX inputs -> logits
    tokenizer: Any
    max_length: int
    size_bytes: int

    def probabilities(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Softmax probabilities for a batch of ONNX inputs (int64 arrays)."""
        logits = np.asarray(self.run_ids(features), np.float32)
        logits = logits - logits.max(axis=-1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=-1, keepdims=True)

    def predict(self, texts: Sequence[str], batch: int) -> np.ndarray:
        """Raw strings to probabilities, `batch` texts per call, each padded to its longest."""
        outputs = []
        for start in range(0, len(texts), batch):
            encoded = self.tokenizer(
                list(texts[start : start + batch]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            outputs.append(
                self.probabilities({name: encoded[name].astype(np.int64) for name in ONNX_INPUTS})
            )
        return np.concatenate(outputs)


def _onnxruntime(path: Path, threads: int | None) -> Callable[[Mapping[str, np.ndarray]], Any]:
    ort = optional_import("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda features: session.run(["logits"], dict(features))[0]


def _openvino(
    path: Path, precision: str, threads: int | None
) -> Callable[[Mapping[str, np.ndarray]], Any]:
    ov = optional_import("openvino")
    config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bfloat16" else "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    return lambda features: request.infer(dict(features))[0].copy()


def load_runtimes(
    converted: Converted, max_length: int, threads: int | None = None
) -> dict[str, Runtime | BaseException]:
    """ONNX Runtime float32 and int8, OpenVINO: each a Runtime, or the error that stopped it
    (ImportError: its package is not installed)."""
    transformers = optional_import("transformers")
    tokenizer = transformers.BertTokenizerFast.from_pretrained(str(converted.directory))
    ov_precision = openvino_precision()
    plans = {
        ORT_FLOAT32: ("onnxruntime", "float32", converted.onnx, lambda p: _onnxruntime(p, threads)),
        ORT_INT8: ("onnxruntime", "int8", converted.onnx_int8, lambda p: _onnxruntime(p, threads)),
        openvino_name(): (
            "openvino",
            ov_precision,
            converted.onnx,
            lambda p: _openvino(p, ov_precision, threads),
        ),
    }
    runtimes: dict[str, Runtime | BaseException] = {}
    for name, (library, precision, path, load) in plans.items():
        try:
            runtimes[name] = Runtime(
                name, library, precision, load(path), tokenizer, max_length, os.path.getsize(path)
            )
        except Exception as error:  # one runtime that cannot load must not stop the others
            runtimes[name] = error
    return runtimes


def load_litert(
    model: Any, directory: str | Path, calibration_texts: Sequence[str], threads: int | None
) -> dict[str, Runtime | BaseException]:
    """`model` exported by `tfbert export --format tflite` with dynamic-range and full-integer
    int8 (calibrated on `calibration_texts`), each loaded in LiteRT; or the error that stopped
    it. They tokenize with tfbert's own tokenizer (LiteRT cannot run it in the graph)."""
    from tfbert.export.tflite import TFLITE_FILE, TFLiteClassifier, export_tflite

    optional_import("ai_edge_litert")
    loaded: dict[str, Runtime | BaseException] = {}
    for quantize, name in LITERT.items():
        try:
            texts = calibration_texts if quantize == "int8" else None
            target = Path(directory) / quantize
            export_tflite(model, target, quantize=quantize, calibration_texts=texts)
            lite = TFLiteClassifier.load(target, num_threads=threads)
            loaded[name] = LiteRTRuntime(
                name, "litert", "int8", _litert_logits(lite, model.problem_type), lite.tokenizer,
                model.tokenizer.max_length, (target / TFLITE_FILE).stat().st_size, lite=lite,
            )  # fmt: skip
        except Exception as error:
            loaded[name] = error
    return loaded


def _litert_logits(lite: Any, problem_type: str) -> Callable[[Mapping[str, np.ndarray]], Any]:
    """ONNX-named inputs -> logits whose softmax is the classifier's probabilities (a binary
    model's one logit z becomes (0, z), as in `classifier_heads`)."""

    def run(features: Mapping[str, np.ndarray]) -> np.ndarray:
        logits = lite.logits(
            {
                "token_ids": features["input_ids"],
                "segment_ids": features["token_type_ids"],
                "padding_mask": features["attention_mask"],
            }
        )
        if problem_type == "binary":
            logits = np.concatenate([np.zeros_like(logits), logits], axis=-1)
        return logits

    return run


@dataclasses.dataclass
class LiteRTRuntime(Runtime):
    """A LiteRT export: tfbert's tokenizer and `TFLiteClassifier`'s length-sorted batches."""

    lite: Any = None

    def predict(self, texts: Sequence[str], batch: int) -> np.ndarray:
        return self.lite.predict_texts(list(texts), batch_size=batch)["probabilities"]


def onnx_inputs(features: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """tfbert's features (`token_ids`, `segment_ids`, `padding_mask`) as the ONNX inputs."""
    return {
        "input_ids": np.asarray(features["token_ids"], np.int64),
        "attention_mask": np.asarray(features["padding_mask"], np.int64),
        "token_type_ids": np.asarray(features["segment_ids"], np.int64),
    }


def numeric_check(
    runtime: Runtime, features: Mapping[str, np.ndarray], reference: np.ndarray
) -> dict[str, Any]:
    """How the runtime's probabilities on tfbert's token ids compare with tfbert's float32.

    `reference`: tfbert's probabilities for the same ids. Passes when the largest difference is
    within `TOLERANCE[precision]`; labels agreeing is reported, not required (an untrained
    head puts many texts near 0.5, where any rounding may flip the label).
    """
    output = runtime.probabilities(features)
    difference = float(np.max(np.abs(output - reference))) if output.size else 0.0
    tolerance = TOLERANCE[runtime.precision]
    return {
        "numeric_check_texts": int(reference.shape[0]),
        "numeric_max_abs_difference": difference,
        "numeric_same_labels": float(np.mean(output.argmax(-1) == reference.argmax(-1))),
        "numeric_tolerance": tolerance,
        "numeric_check_passed": difference <= tolerance,
    }
