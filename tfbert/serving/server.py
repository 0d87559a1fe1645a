"""An embedded model server that speaks TF Serving's gRPC and REST APIs.

For development, tests and small deployments where `tensorflow_model_server` is not at hand:
clients written against TF Serving (its `PredictionServiceStub`/`ModelServiceStub`, or its REST
routes) work unchanged against it, and vice versa. It serves what `tfbert export` writes (any
SavedModel with string or numeric signatures, in fact).

    tfbert serve --model_base_path exports/imdb --model_name imdb --port 8500 --rest_api_port 8501

What it does not do: TF Serving's C++ speed, GPU placement, Regress/MultiInference, config
reloads over RPC. Flag names follow TF Serving's where a flag exists there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import socket
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from tfbert.contract import CLASSIFY_METHOD
from tfbert.errors import MissingDependencyError, TfbertError
from tfbert.serving.metrics import ServerMetrics
from tfbert.serving.models import (
    BatchingOptions,
    ModelConfig,
    ModelManager,
    check_base_path,
    check_warmup_sizes,
)
from tfbert.serving.protocol import (
    RequestError,
    classification_result,
    classify_inputs,
    invalid,
    predict_inputs,
    predict_response,
    signature_def_map,
)
from tfbert.serving.rest import RestLimits, default_rest_threads

log = logging.getLogger("tfbert.serving")


@dataclasses.dataclass
class ServerOptions:
    """Network, limits and timeouts. `port=0` picks a free port; `rest_api_port=None` disables
    REST. Each field is the `tfbert serve` flag of the same name; `check()` names the flag of a
    value that cannot work. `rest_api_num_threads=None` (the default) sizes the REST worker
    pool from the CPU cores (`tfbert.serving.rest.default_rest_threads`)."""

    host: str = "127.0.0.1"
    port: int = 8500
    rest_api_port: int | None = 8501
    grpc_max_threads: int = 16
    max_request_mb: int = 16
    file_system_poll_wait_seconds: float = 1.0
    monitoring_path: str | None = None  # Prometheus metrics on the REST port when set
    rest_api_num_threads: int | None = None
    rest_api_timeout_in_ms: int = 30_000
    rest_api_idle_timeout_seconds: float = 30.0
    rest_api_max_connections: int = 1024
    shutdown_grace_seconds: float = 20.0

    def __post_init__(self) -> None:
        if self.rest_api_num_threads is None:
            self.rest_api_num_threads = default_rest_threads()

    def check(self) -> None:
        """A one-line TfbertError naming the flag of the first value that cannot work."""
        at_least_one = {
            "grpc_max_threads": "concurrent gRPC requests",
            "rest_api_num_threads": "concurrent REST requests",
            "max_request_mb": "the largest request body, in MB",
            "rest_api_max_connections": "REST connections open at once",
        }
        for name, meaning in at_least_one.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TfbertError(
                    f"--{name} {value}: must be a whole number of at least 1 ({meaning})."
                )
        positive = {
            "rest_api_timeout_in_ms": "how long a client may take to send a request body",
            "rest_api_idle_timeout_seconds": "how long a connection may wait for its next request",
        }
        for name, meaning in positive.items():
            value = getattr(self, name)
            if not value > 0:
                raise TfbertError(f"--{name} {value}: must be more than 0 ({meaning}).")
        for name in ("shutdown_grace_seconds", "file_system_poll_wait_seconds"):
            value = getattr(self, name)
            if not value >= 0:
                raise TfbertError(f"--{name} {value}: must be 0 or more.")
        for name in ("port", "rest_api_port"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 65535:
                raise TfbertError(f"--{name} {value}: a TCP port is between 1 and 65535.")
        if self.rest_api_port and self.rest_api_port == self.port:
            raise TfbertError(
                f"--port and --rest_api_port are both {self.port}; give REST a port of its own."
            )

    def rest_limits(self) -> RestLimits:
        return RestLimits(
            max_body_bytes=self.max_request_mb * 1024 * 1024,
            idle_timeout=self.rest_api_idle_timeout_seconds,
            body_timeout=self.rest_api_timeout_in_ms / 1000,
            max_connections=self.rest_api_max_connections,
            threads=self.rest_api_num_threads,
        )


def check_port_free(host: str, port: int | None, flag: str) -> None:
    """A one-line TfbertError when `host:port` cannot be bound (in use, or not this machine's)."""
    if not port:
        return
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        reason = (
            "is already in use (another server running?); stop it or pick another port"
            if error.errno == errno.EADDRINUSE
            else f"cannot be bound ({error.strerror})"
        )
        raise TfbertError(f"{flag} {port}: {host}:{port} {reason}.") from None


class CallCounter:
    """How many calls are running now (for a graceful stop: what finished, what was cut)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    @contextlib.contextmanager
    def running(self):
        with self._lock:
            self.value += 1
        try:
            yield
        finally:
            with self._lock:
                self.value -= 1


def _servable_for(manager: ModelManager, model_spec: Any):
    choice = model_spec.WhichOneof("version_choice")
    version = model_spec.version.value if choice == "version" else None
    label = model_spec.version_label if choice == "version_label" else None
    if not model_spec.name:
        raise invalid("model_spec.name is empty; name the model to use.")
    return manager.get(model_spec.name, version, label)


def _answer(
    context: grpc.ServicerContext,
    method: str,
    handler,
    metrics: ServerMetrics | None = None,
    model: str = "",
    calls: CallCounter | None = None,
):
    """Runs one RPC; a refused request aborts with its status, the server keeps serving."""
    counted = metrics.request(model, method, "grpc") if metrics else contextlib.nullcontext({})
    running = calls.running() if calls is not None else contextlib.nullcontext()
    with running, counted as outcome:
        try:
            return handler()
        except RequestError as error:
            outcome["status"] = error.code.name
            context.abort(error.code, error.message)
        except Exception as error:  # a bug must cost one request, not the server
            log.exception("%s failed", method)
            outcome["status"] = grpc.StatusCode.INTERNAL.name
            context.abort(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(
        self,
        manager: ModelManager,
        metrics: ServerMetrics | None = None,
        calls: CallCounter | None = None,
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        self.calls = calls

    def Predict(self, request, context):  # noqa: N802 (gRPC method names)
        def handle():
            servable = _servable_for(self.manager, request.model_spec)
            key, signature = servable.signature(request.model_spec.signature_name)
            inputs = predict_inputs(
                request,
                signature,
                max_examples=servable.max_request_examples,
                example_features=servable.example_features,
            )
            outputs = servable.run(key, inputs)
            response = predict_response(outputs, list(request.output_filter), request)
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = key
            return response

        return _answer(
            context, "Predict", handle, self.metrics, request.model_spec.name, self.calls
        )

    def Classify(self, request, context):  # noqa: N802
        def handle():
            servable = _servable_for(self.manager, request.model_spec)
            key, signature = servable.signature(request.model_spec.signature_name, CLASSIFY_METHOD)
            inputs = classify_inputs(
                request.input,
                signature,
                max_examples=servable.max_request_examples,
                example_features=servable.example_features,
            )
            outputs = servable.run(key, inputs)
            response = classification_pb2.ClassificationResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = key
            response.result.CopyFrom(classification_result(outputs))
            return response

        return _answer(
            context, "Classify", handle, self.metrics, request.model_spec.name, self.calls
        )

    def GetModelMetadata(self, request, context):  # noqa: N802
        def handle():
            unsupported = [f for f in request.metadata_field if f != "signature_def"]
            if unsupported or not request.metadata_field:
                raise invalid(
                    f"Metadata field(s) {unsupported or '[]'} not supported; ask for "
                    "metadata_field ['signature_def']."
                )
            servable = _servable_for(self.manager, request.model_spec)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.metadata["signature_def"].Pack(signature_def_map(servable))
            return response

        return _answer(
            context, "GetModelMetadata", handle, self.metrics, request.model_spec.name, self.calls
        )

    def Regress(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "tfbert models do not regress.")

    def MultiInference(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not supported.")


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(
        self,
        manager: ModelManager,
        metrics: ServerMetrics | None = None,
        calls: CallCounter | None = None,
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        self.calls = calls

    def GetModelStatus(self, request, context):  # noqa: N802
        def handle():
            spec = request.model_spec
            choice = spec.WhichOneof("version_choice")
            version = spec.version.value if choice == "version" else None
            if choice == "version_label":
                version = self.manager.get(spec.name, label=spec.version_label).version
            response = get_model_status_pb2.GetModelStatusResponse()
            states = get_model_status_pb2.ModelVersionStatus.State
            for status in self.manager.status(spec.name, version):
                entry = response.model_version_status.add()
                entry.version = status.version
                entry.state = states.Value(status.state)
                if status.error:
                    entry.status.error_code = grpc.StatusCode.UNKNOWN.value[0]
                    entry.status.error_message = status.error
            return response

        return _answer(
            context, "GetModelStatus", handle, self.metrics, request.model_spec.name, self.calls
        )

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "config reloads over RPC are not supported; restart with the new --model_config_file.",
        )


class ModelServer:
    """The manager, the gRPC server, the REST gateway and the polling thread, as one unit.

    Use as a context manager, or `start()` then `stop()`. `port`/`rest_port` hold the bound
    ports after `start()` (useful with port 0). `start()` checks the options and the models
    before it binds (a one-line TfbertError for what cannot work); `stop()` stops accepting on
    both protocols and lets requests in flight finish for `shutdown_grace_seconds`.
    """

    def __init__(
        self,
        models: list[ModelConfig],
        options: ServerOptions | None = None,
        *,
        batching: BatchingOptions | None = None,
        max_request_examples: int = 1024,
        warmup: bool = True,
    ) -> None:
        self.options = options or ServerOptions()
        self.manager = ModelManager(
            models, batching=batching, max_request_examples=max_request_examples, warmup=warmup
        )
        self.port: int | None = None
        self.rest_port: int | None = None
        self._grpc: grpc.Server | None = None
        self._rest: Any = None  # gateway.RestGateway
        self._grpc_calls = CallCounter()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.metrics: ServerMetrics | None = None
        if self.options.monitoring_path:
            if self.options.rest_api_port is None:
                raise ValueError(
                    "monitoring serves its metrics on the REST port; set rest_api_port (or "
                    "drop the monitoring config)."
                )
            self.metrics = ServerMetrics(self.manager.loaded_versions)
            self.manager.observe_batch = lambda name, size: self.metrics.batch_size.labels(
                name
            ).observe(size)

    @property
    def rest_connections(self) -> int:
        """REST connections open now (0 without REST)."""
        return self._rest.open_connections if self._rest is not None else 0

    def check(self) -> None:
        """What `start()` checks before binding: options, free ports, base paths, warm-up sizes."""
        options = self.options
        options.check()
        for config in self.manager.configs.values():
            check_base_path(config)
        if self.manager.warmup:
            check_warmup_sizes(self.manager.configs.values(), self.manager.max_request_examples)
        check_port_free(options.host, options.port, "--port")
        check_port_free(options.host, options.rest_api_port, "--rest_api_port")

    def start(self) -> ModelServer:
        options = self.options
        self.check()
        gateway = _gateway_module() if options.rest_api_port is not None else None
        self.manager.poll()  # the first versions load before the ports open
        max_bytes = options.max_request_mb * 1024 * 1024
        self._grpc = grpc.server(
            futures.ThreadPoolExecutor(max_workers=options.grpc_max_threads),
            options=[
                ("grpc.max_receive_message_length", max_bytes),
                ("grpc.max_send_message_length", 2**31 - 1),
                ("grpc.so_reuseport", 0),
            ],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(self.manager, self.metrics, self._grpc_calls), self._grpc
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelService(self.manager, self.metrics, self._grpc_calls), self._grpc
        )
        try:
            self.port = self._grpc.add_insecure_port(f"{options.host}:{options.port}")
        except RuntimeError:  # newer gRPC raises where older ones returned 0
            self.port = 0
        if self.port == 0:
            self.manager.close()
            raise TfbertError(
                f"--port {options.port}: cannot bind gRPC to {options.host}:{options.port} "
                "(in use?); pick another port."
            )
        if gateway is not None:
            self._rest = gateway.RestGateway(
                (options.host, options.rest_api_port),
                self.manager,
                options.rest_limits(),
                metrics=self.metrics,
                metrics_path=options.monitoring_path,
            )
            try:
                self.rest_port = self._rest.start()
            except OSError as error:
                self._rest = None
                self.manager.close()
                raise TfbertError(
                    f"--rest_api_port {options.rest_api_port}: cannot bind REST to "
                    f"{options.host}:{options.rest_api_port} ({error.strerror or error}); pick "
                    "another port."
                ) from None
        self._grpc.start()
        if options.file_system_poll_wait_seconds > 0:
            self._spawn("tfbert-poll", self._poll_loop)
        return self

    def _spawn(self, name: str, target) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll_loop(self) -> None:
        while not self._stopping.wait(self.options.file_system_poll_wait_seconds):
            try:
                self.manager.poll()
            except Exception:  # a bad poll (disk hiccup) must not end polling
                log.exception("polling the model base paths failed")

    def stop(self, grace: float | None = None) -> dict[str, int]:
        """Stops accepting on both protocols, lets running requests finish for up to `grace`
        seconds (default: `shutdown_grace_seconds`), then unloads the models.

        Returns how many requests were cut because the grace ran out ({"grpc": n, "rest": m}),
        and logs them.
        """
        grace = self.options.shutdown_grace_seconds if grace is None else grace
        deadline = time.monotonic() + grace
        self._stopping.set()
        cut = {"grpc": 0, "rest": 0}
        stopped = self._grpc.stop(grace) if self._grpc is not None else None  # stops accepting
        if self._rest is not None:
            cut["rest"] = self._rest.stop(grace)
            self._rest = None
        if stopped is not None:
            if not stopped.wait(max(0.0, deadline - time.monotonic()) + 0.05):
                cut["grpc"] = self._grpc_calls.value
            stopped.wait()
            self._grpc = None
        for thread in self._threads:
            thread.join(timeout=max(grace, 1.0))
        self.manager.close()
        if any(cut.values()):
            log.warning(
                "the grace period (%g s, --shutdown_grace_seconds) ran out: cut %d gRPC and "
                "%d REST requests still running",
                grace,
                cut["grpc"],
                cut["rest"],
            )
        return cut

    def wait(self) -> None:
        self._stopping.wait()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _gateway_module() -> Any:
    """The REST server's module, imported when a REST port is served (aiohttp, a core
    dependency, may still be missing from an install made with --no-deps)."""
    try:
        from tfbert.serving import gateway
    except ImportError as error:
        if getattr(error, "name", "") and error.name.split(".")[0] == "aiohttp":
            raise MissingDependencyError(
                "the REST API of `tfbert serve` needs aiohttp: pip install 'aiohttp>=3.11,<4' "
                "(or pass --rest_api_port 0 for gRPC only)."
            ) from None
        raise
    return gateway


def single_model(name: str, base_path: str | Path) -> list[ModelConfig]:
    """The `--model_name`/`--model_base_path` form: one model, latest version."""
    return [ModelConfig(name=name, base_path=Path(base_path).resolve())]
