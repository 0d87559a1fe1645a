"""Does TensorFlow's oneDNN int8 matmul speed up tfbert's encoder? (issue 8; not adopted)

Keras's int8 Dense (`layer.quantize("int8")`) multiplies on Eigen and ran 4x slower than float32
here. TensorFlow also has a oneDNN (VNNI) int8 matmul: `QuantizedMatMulWithBiasAndDequantize`
(uint8 activations x int8 weights -> float32), which TF's oneDNN graph rewrite turns into
`_MklQuantizedMatMulWithBiasAndDequantize` inside a tf.function. This probe measures it twice,
each variant interleaved over rounds in one run:

1. one Dense-shaped matmul, [rows, 384] x [384, 1536] (MiniLM's feed-forward): float32, bfloat16,
   int8 alone, and int8 with the per-call activation quantization (an XLA-fused min/max + round);
2. the MiniLM-L6-shaped encoder at batch x length, every Dense layer in int8 (weights scaled per
   tensor, activations per call and tensor, shifted to be non-negative so the kernel's SCALED mode
   applies: its MIN_FIRST bias compensation mixes float and integer units under oneDNN 3),
   against the bfloat16 `for_inference` policy.

    .venv/bin/python benchmarks/onednn_int8.py [--batch 32] [--length 128] [--rounds 5]

Measured on the 2-core AMD EPYC (AVX-512 BF16 + VNNI), 2026-11-29: the matmul alone runs 1.5x
bfloat16 (434 vs 279 GFLOP/s at 4,096 rows), but the encoder does not gain (int8 85-95 ex/s vs
bfloat16 88-94 at 32 x 128): the quantization pass, the separate GELU (bfloat16 fuses it into the
matmul; this int8 kernel fuses only ReLU) and the float32 round trips take back what the matmul
saves. Results in benchmarks/results/README.md.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfbert.config import BertConfig  # noqa: E402
from tfbert.modeling import bert  # noqa: E402
from tfbert.training.precision import dtype_policy  # noqa: E402


@tf.function(jit_compile=True, reduce_retracing=True)
def quantize_activations(rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """uint8 codes of rows - min(rows, 0), with the shift and the range they cover."""
    low = tf.minimum(tf.reduce_min(rows), 0.0)
    span = tf.maximum(tf.reduce_max(rows) - low, 1e-6)
    return tf.cast(tf.round((rows - low) * (255.0 / span)), tf.uint8), low, span


class Int8Weights:
    """A Dense kernel as int8 codes with one scale; bias folded for the kernel's SCALED mode."""

    def __init__(self, kernel: np.ndarray, bias: np.ndarray) -> None:
        self.scale = float(np.abs(kernel).max()) / 127.0 or 1.0
        codes = np.round(kernel / self.scale).astype(np.float32)
        self.codes = tf.quantization.quantize(
            tf.constant(codes), -127.0, 127.0, tf.qint8, mode="SCALED"
        ).output
        # rows @ W = (rows - low) @ W + low * column sums of W
        self.column_sums = tf.constant(codes.sum(axis=0) * self.scale)
        self.bias = tf.constant(bias.astype(np.float32))

    def matmul(self, rows: tf.Tensor) -> tf.Tensor:
        codes, low, span = quantize_activations(rows)
        out = tf.raw_ops.QuantizedMatMulWithBiasAndDequantize(
            a=tf.bitcast(codes, tf.quint8),
            b=self.codes,
            bias=(self.bias + low * self.column_sums) / self.scale,
            min_a=tf.constant(0.0),
            max_a=span,
            min_b=tf.constant(-127.0),
            max_b=tf.constant(127.0),
            min_freezed_output=tf.constant(0.0),
            max_freezed_output=tf.constant(0.0),
            Toutput=tf.float32,
            input_quant_mode="SCALED",
        )
        return out * self.scale


def int8_encoder(config: BertConfig, weights: list[np.ndarray]) -> bert.BertEncoder:
    """A bfloat16-policy encoder whose Dense layers multiply through Int8Weights."""
    with dtype_policy("bfloat16"):
        encoder = bert.BertEncoder(config)
        encoder.build()
    encoder.set_weights(weights)
    for layer in encoder._flatten_layers():
        if isinstance(layer, bert.Dense):
            int8 = Int8Weights(np.asarray(layer.kernel, np.float32), np.asarray(layer.bias))

            def call(inputs, training=None, layer=layer, int8=int8):
                rows = tf.cast(tf.reshape(inputs, (-1, tf.shape(inputs)[-1])), tf.float32)
                out = int8.matmul(rows)
                shape = tf.concat([tf.shape(inputs)[:-1], [layer.units]], 0)
                out = tf.cast(tf.reshape(out, shape), layer.compute_dtype)
                return out if layer.activation is None else layer.activation(out)

            layer.call = call
    return encoder


def interleaved(cases: dict[str, Callable[[], object]], rounds: int, calls: int) -> dict:
    for case in cases.values():
        case()
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            start = time.perf_counter()
            for _ in range(calls):
                case()
            seconds[name].append((time.perf_counter() - start) / calls)
    return {name: float(np.median(values)) for name, values in seconds.items()}


def matmul_probe(rows: int, rounds: int) -> None:
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((rows, 384)).astype(np.float32))
    kernel = rng.standard_normal((384, 1536)).astype(np.float32) * 0.05
    bias = rng.standard_normal(1536).astype(np.float32)
    int8 = Int8Weights(kernel, bias)
    w32, w16 = tf.constant(kernel), tf.constant(kernel, tf.bfloat16)
    x16, b16 = tf.cast(x, tf.bfloat16), tf.constant(bias, tf.bfloat16)
    codes, _, span = quantize_activations(x)
    only = tf.function(
        lambda: tf.raw_ops.QuantizedMatMulWithBiasAndDequantize(
            a=tf.bitcast(codes, tf.quint8), b=int8.codes, bias=int8.bias,
            min_a=tf.constant(0.0), max_a=span, min_b=tf.constant(-127.0),
            max_b=tf.constant(127.0), min_freezed_output=tf.constant(0.0),
            max_freezed_output=tf.constant(0.0), Toutput=tf.float32, input_quant_mode="SCALED",
        )
    )  # fmt: skip
    cases = {
        "float32": tf.function(lambda: tf.matmul(x, w32) + bias),
        "bfloat16": tf.function(lambda: tf.matmul(x16, w16) + b16),
        "int8 matmul alone": only,
        "int8 with quantization": tf.function(lambda: int8.matmul(x)),
    }
    reference = (x @ w32 + bias).numpy()
    error = np.abs(int8.matmul(x).numpy() - reference).max() / np.abs(reference).max()
    flops = 2 * rows * 384 * 1536
    print(f"\n[{rows}, 384] x [384, 1536]  (int8 max error {error:.3f} of the largest output)")
    for name, seconds in interleaved(cases, rounds, 5).items():
        print(f"  {name:24s} {seconds * 1e3:7.2f} ms  {flops / seconds / 1e9:6.0f} GFLOP/s")


def encoder_probe(batch: int, length: int, rounds: int) -> None:
    config = BertConfig.from_preset("minilm-l6")
    plain = bert.BertEncoder(config)
    plain.build()
    weights = plain.get_weights()
    with dtype_policy("bfloat16"):
        fast = bert.BertEncoder(config)
        fast.build()
    fast.set_weights(weights)
    int8 = int8_encoder(config, weights)
    rng = np.random.default_rng(0)
    inputs = {
        "token_ids": tf.constant(rng.integers(1000, config.vocab_size, (batch, length)), tf.int32),
        "segment_ids": tf.zeros((batch, length), tf.int32),
        "padding_mask": tf.ones((batch, length), tf.int32),
    }
    encoders = {"float32": plain, "bfloat16 (for_inference)": fast, "int8 Dense": int8}
    functions = {
        name: tf.function(lambda x, e=e: e(x, training=False)["sequence_output"])
        for name, e in encoders.items()
    }
    reference = functions["float32"](inputs).numpy()
    print(f"\nMiniLM-L6 encoder, {batch} x {length} tokens")
    calls = {name: (lambda f=f: f(inputs).numpy()) for name, f in functions.items()}
    times = interleaved(calls, rounds, 3)
    for name, seconds in times.items():
        error = np.abs(functions[name](inputs).numpy() - reference).mean()
        print(f"  {name:26s} {batch / seconds:7.1f} ex/s  mean |diff| vs float32 {error:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    matmul_probe(args.batch * args.length, args.rounds)
    encoder_probe(args.batch, args.length, args.rounds)


if __name__ == "__main__":
    main()
