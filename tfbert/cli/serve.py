"""`tfbert serve`: the embedded TF-Serving-compatible server (`tfbert.serving.server`) over one
model directory (`--model_base_path`) or several (`--model_config_file`).

Flags take TF Serving's names (underscores; dashes also work). Parsing imports no TensorFlow; the
command imports the server when it runs.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.contract import ASSETS_EXTRA, WARMUP_FILE
from tfbert.errors import TfbertError

log = logging.getLogger("tfbert.serving")

# oneDNN's own primitive cache (default 1,024 entries) keeps compiled kernels for every shape a
# served model has run; a server sees many (batch sizes times lengths), each one kept until
# evicted. 64 holds what a BERT model needs for its recent shapes at the same speed and bounds
# the memory; set ONEDNN_PRIMITIVE_CACHE_CAPACITY yourself to choose another size.
ONEDNN_PRIMITIVE_CACHE = 64
# A served model's weights never change, so TensorFlow's oneDNN matmuls may keep each weight in
# the layout they compute with instead of reordering it on every call (TensorFlow reads this
# once, when it builds its first matmul kernel; it must never be set in a process that trains).
# Exports keep their weights as variables, stored once; with this their matmuls cost what an
# export with the weights frozen in as constants costs (benchmarks/footprint.py measures both).
FROZEN_WEIGHTS_VARIABLE = "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"
# What a `tfbert serve` process sets in its environment unless the user already did.
SERVING_ENVIRONMENT = {
    "ONEDNN_PRIMITIVE_CACHE_CAPACITY": str(ONEDNN_PRIMITIVE_CACHE),
    FROZEN_WEIGHTS_VARIABLE: "1",
}


def add_parser(commands: Any) -> None:
    """Registers `tfbert serve`. Flags take TF Serving's names (underscores; dashes also work)."""
    serve = commands.add_parser(
        "serve",
        help="serve exports over TF Serving's gRPC and REST APIs",
        description="An embedded server speaking TF Serving's PredictionService/ModelService "
        "gRPC API and its REST API, for development, tests and small deployments. Serves one "
        "model (--model_base_path) or several (--model_config_file). Stops gracefully on "
        "SIGTERM/SIGINT.",
    )

    def flag(name: str, **kwargs: Any) -> None:
        names = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        serve.add_argument(*names, dest=name, **kwargs)

    flag("model_base_path", type=Path, help="a `tfbert export` base dir (<base>/<version>/)")
    flag("model_name", default="tfbert", help="the name clients ask for (default: tfbert)")
    flag("model_config_file", type=Path, help="a TF Serving models.config (several models)")
    flag("port", type=int, default=8500, help="gRPC port (default: 8500)")
    flag("rest_api_port", type=int, default=8501, help="REST port; 0 disables (default: 8501)")
    flag(
        "host",
        default="127.0.0.1",
        help="address to bind (default: 127.0.0.1, this machine only; 0.0.0.0 for all)",
    )
    flag("enable_batching", action="store_true", help="batch concurrent requests together")
    flag("batching_parameters_file", type=Path, help="TF Serving batching parameters")
    flag(
        "file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="how often to look for new versions; 0 loads once (default: 1)",
    )
    flag(
        "max_request_examples",
        type=int,
        default=1024,
        help="largest batch one request may send (default: 1024)",
    )
    flag("max_request_mb", type=int, default=16, help="largest request body (default: 16 MB)")
    flag(
        "monitoring_config_file",
        type=Path,
        help="a TF Serving MonitoringConfig (serving/monitoring.config): Prometheus metrics "
        "on the REST port at its path",
    )
    flag("grpc_max_threads", type=int, default=16, help="concurrent gRPC requests (default: 16)")
    flag(
        "rest_api_num_threads",
        type=int,
        help="concurrent REST requests (worker threads running the models; default: two per "
        "CPU core)",
    )
    flag(
        "rest_api_timeout_in_ms",
        type=int,
        default=30_000,
        help="how long a REST client may take to send a request body; slower ones get 408 "
        "(default: 30000)",
    )
    flag(
        "rest_api_idle_timeout_seconds",
        type=float,
        default=30.0,
        help="a REST connection that sends no complete request header for this long (idle "
        "keep-alive, or a stalled client) is closed (default: 30)",
    )
    flag(
        "rest_api_max_connections",
        type=int,
        default=1024,
        help="REST connections open at once; requests on more are answered 503 (default: 1024)",
    )
    flag(
        "shutdown_grace_seconds",
        type=float,
        default=20.0,
        help="on SIGTERM/SIGINT, how long requests in flight may take to finish before they "
        "are cut (default: 20)",
    )
    flag(
        "enable_model_warmup",
        type=lambda v: v.lower() in ("1", "true", "yes"),
        default=True,
        help=f"replay {ASSETS_EXTRA}/{WARMUP_FILE} on load (default: true)",
    )
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: Any) -> int:
    # Read when TensorFlow and oneDNN first build a kernel, so before any model loads. A
    # process that loaded TensorFlow before (`main(["serve", ...])` called from Python) may
    # train in it too: there the weights are not assumed frozen.
    for name, value in SERVING_ENVIRONMENT.items():
        if name != FROZEN_WEIGHTS_VARIABLE or "tensorflow" not in sys.modules:
            os.environ.setdefault(name, value)
    common.need_tensorflow()
    from tfbert.serving.models import read_model_config_file
    from tfbert.serving.server import (
        BatchingOptions,
        ModelServer,
        ServerOptions,
        single_model,
    )

    if (args.model_base_path is None) == (args.model_config_file is None):
        raise TfbertError("pass exactly one of --model_base_path or --model_config_file.")
    if args.model_config_file is not None:
        models = read_model_config_file(args.model_config_file)
    else:
        if not args.model_base_path.is_dir():
            raise TfbertError(
                f"--model_base_path {args.model_base_path} is not a directory; point it at the "
                "--export-dir of `tfbert export` (it holds <version>/saved_model.pb)."
            )
        models = single_model(args.model_name, args.model_base_path)
    batching = None
    if args.enable_batching:
        batching = (
            BatchingOptions.from_file(args.batching_parameters_file)
            if args.batching_parameters_file
            else BatchingOptions()
        )
    monitoring_path = None
    if args.monitoring_config_file is not None:
        from tfbert.serving.metrics import read_monitoring_config

        monitoring_path = read_monitoring_config(args.monitoring_config_file)
        if monitoring_path and not args.rest_api_port:
            raise TfbertError(
                "--monitoring_config_file serves metrics on the REST port, but REST is off "
                "(--rest_api_port 0); give a REST port."
            )
    options = ServerOptions(
        monitoring_path=monitoring_path,
        host=args.host,
        port=args.port,
        rest_api_port=args.rest_api_port or None,
        grpc_max_threads=args.grpc_max_threads,
        max_request_mb=args.max_request_mb,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        rest_api_num_threads=args.rest_api_num_threads,
        rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
        rest_api_idle_timeout_seconds=args.rest_api_idle_timeout_seconds,
        rest_api_max_connections=args.rest_api_max_connections,
        shutdown_grace_seconds=args.shutdown_grace_seconds,
    )
    options.check()
    if args.max_request_examples < 1:
        raise TfbertError(
            f"--max_request_examples {args.max_request_examples}: must be at least 1 (the "
            "largest batch one request may send)."
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    server = ModelServer(
        models,
        options,
        batching=batching,
        max_request_examples=args.max_request_examples,
        warmup=args.enable_model_warmup,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    for config in models:
        versions = [s.version for s in server.manager.status(config.name) if s.state == "AVAILABLE"]
        log.info(
            "model %s: versions %s from %s", config.name, versions or "none yet", config.base_path
        )
    rest = f", REST on {options.host}:{server.rest_port}" if server.rest_port else ""
    if monitoring_path:
        rest += f", metrics at {monitoring_path}"
    log.info("serving gRPC on %s:%d%s", options.host, server.port, rest)
    stop.wait()
    log.info(
        "stopping: no new requests; finishing those in flight (up to %g s)",
        options.shutdown_grace_seconds,
    )
    server.stop()
    log.info("stopped")
    return 0
