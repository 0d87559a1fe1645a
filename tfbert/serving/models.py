"""What the embedded server serves: model configs, loaded versions, dynamic batching.

This mirrors TF Serving's model management closely enough that one deployment description
works for both: the same `models.config` (ModelServerConfig text proto, version policies and
labels), the same `<base>/<version>/` discovery by polling, the same availability-preserving
swap (a new version is loaded and warmed up before the old one is unloaded; requests already
running on the old one finish on it), and the same batching parameters file.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import tensorflow as tf

from tfbert.contract import (
    ASSETS_EXTRA,
    CLASSIFY_METHOD,
    CLASSIFY_SIGNATURE,
    MAX_WARMUP_RECORDS,
    PREDICT_SIGNATURE,
    WARMUP_FILE,
)
from tfbert.errors import TfbertError

# RequestError and invalid are defined in protocol (the wire layer) and re-exported here for
# code that imported them from this module.
from tfbert.serving.protocol import (  # noqa: F401
    RequestError,
    check_batch_size,
    classify_features,
    classify_inputs,
    invalid,
    op_message,
    predict_inputs,
)

log = logging.getLogger("tfbert.serving")


# ----- configuration -----------------------------------------------------------------------------
@dataclasses.dataclass
class ModelConfig:
    """One served model: where its versions live and which of them to serve.

    policy: "latest" (the newest `num_versions`), "all", or "specific" (`versions`).
    labels: version labels such as {"stable": 1, "canary": 2}.
    """

    name: str
    base_path: Path
    policy: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()
    labels: dict[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base_path = Path(self.base_path)
        if self.policy not in ("latest", "all", "specific"):
            raise ValueError(f"unknown version policy {self.policy!r}.")
        if self.policy == "latest" and self.num_versions < 1:
            raise ValueError("latest policy: num_versions must be at least 1.")
        if self.policy == "specific" and not self.versions:
            raise ValueError("specific policy: list at least one version.")

    def wanted(self, on_disk: list[int]) -> list[int]:
        """The versions to serve, given the versions present on disk."""
        if self.policy == "all":
            return sorted(on_disk)
        if self.policy == "specific":
            return sorted(v for v in on_disk if v in self.versions)
        return sorted(on_disk)[-self.num_versions :]


def read_model_config_file(path: str | Path) -> list[ModelConfig]:
    """Parses TF Serving's `--model_config_file` (a ModelServerConfig text proto)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    path = Path(path)
    if not path.is_file():
        raise TfbertError(f"model config file {path} does not exist.")
    message = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(path.read_text(encoding="utf-8"), message)
    except text_format.ParseError as error:
        raise TfbertError(f"{path} is not a valid ModelServerConfig text proto: {error}") from None
    configs = []
    for entry in message.model_config_list.config:
        if entry.model_platform not in ("", "tensorflow"):
            raise TfbertError(f"{path}: model {entry.name!r}: only platform tensorflow is served.")
        policy = entry.model_version_policy
        kind = policy.WhichOneof("policy_choice") or "latest"
        base = Path(entry.base_path)
        if not base.is_absolute():
            base = (path.parent / base).resolve()
        configs.append(
            ModelConfig(
                name=entry.name,
                base_path=base,
                policy=kind,
                num_versions=(policy.latest.num_versions or 1) if kind == "latest" else 1,
                versions=tuple(policy.specific.versions) if kind == "specific" else (),
                labels=dict(entry.version_labels),
            )
        )
    if not configs:
        raise TfbertError(f"{path} lists no models (model_config_list {{ config {{ ... }} }}).")
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise TfbertError(f"{path}: model names must be unique, got {names}.")
    return configs


@dataclasses.dataclass
class BatchingOptions:
    """Server-side batching, as in TF Serving's `--batching_parameters_file`.

    Requests for the same model version and signature that arrive within `batch_timeout_micros`
    of each other run as one batch of up to `max_batch_size` examples.
    """

    max_batch_size: int = 32
    batch_timeout_micros: int = 1000
    max_enqueued_batches: int = 64

    @classmethod
    def from_file(cls, path: str | Path) -> BatchingOptions:
        """Reads the fields tfbert uses; other BatchingParameters fields are ignored."""
        path = Path(path)
        if not path.is_file():
            raise TfbertError(f"batching parameters file {path} does not exist.")
        values: dict[str, int] = {}
        text = re.sub(r"#.*", "", path.read_text(encoding="utf-8"))
        for name, value in re.findall(r"(\w+)\s*\{\s*value\s*:\s*(\d+)\s*\}", text):
            values[name] = int(value)
        options = cls(**{k: v for k, v in values.items() if k in _BATCHING_FIELDS})
        if options.max_batch_size < 1:
            raise TfbertError(f"{path}: max_batch_size must be at least 1.")
        return options


_BATCHING_FIELDS = {f.name for f in dataclasses.fields(BatchingOptions)}


# ----- dynamic batching --------------------------------------------------------------------------
@dataclasses.dataclass
class _Task:
    inputs: dict[str, np.ndarray]
    size: int
    future: Future


class DynamicBatcher:
    """Merges concurrent requests into batches for one function (one version's signature).

    A single thread takes the first waiting request, then gathers more until the batch is full
    or `batch_timeout_micros` has passed, runs them together and hands each caller its rows.
    A request larger than `max_batch_size` runs on its own.
    """

    def __init__(
        self,
        run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
        options: BatchingOptions,
        name: str = "batcher",
    ) -> None:
        self._run = run
        self._options = options
        self._queue: queue.Queue[_Task | None] = queue.Queue()
        self._carry: _Task | None = None
        self._closed = False
        self._lock = threading.Lock()
        self.batches_run = 0  # counters, for monitoring and tests
        self.requests_run = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def __call__(self, inputs: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
        limit = self._options.max_enqueued_batches * self._options.max_batch_size
        with self._lock:
            if self._closed:
                raise RequestError(grpc.StatusCode.UNAVAILABLE, "this model version is unloading.")
            if self._queue.qsize() >= limit:
                raise RequestError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"the batching queue is full ({limit} requests waiting); retry later.",
                )
            task = _Task(inputs, size, Future())
            self._queue.put(task)
        return task.future.result()

    def close(self) -> None:
        """Finishes every queued request, then stops the thread."""
        with self._lock:
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    def _next(self, timeout: float | None) -> _Task | None:
        if self._carry is not None:
            task, self._carry = self._carry, None
            return task
        return self._queue.get(timeout=timeout) if timeout is not None else self._queue.get()

    def _loop(self) -> None:
        options = self._options
        stopping = False
        while not stopping or self._carry is not None:
            first = self._next(None)
            if first is None:
                break
            tasks, total = [first], first.size
            deadline = time.monotonic() + options.batch_timeout_micros / 1e6
            while total < options.max_batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    task = self._next(remaining)
                except queue.Empty:
                    break
                if task is None:
                    stopping = True
                    break
                if total + task.size > options.max_batch_size:
                    self._carry = task  # it opens the next batch
                    break
                tasks.append(task)
                total += task.size
            self._execute(tasks)

    def _execute(self, tasks: list[_Task]) -> None:
        self.batches_run += 1
        self.requests_run += len(tasks)
        try:
            if len(tasks) == 1:
                outputs = self._run(tasks[0].inputs)
                tasks[0].future.set_result(outputs)
                return
            merged = {
                name: np.concatenate([t.inputs[name] for t in tasks]) for name in tasks[0].inputs
            }
            outputs = self._run(merged)
        except BaseException as error:  # each caller gets the error; the thread lives on
            for task in tasks:
                if not task.future.done():
                    task.future.set_exception(error)
            return
        start = 0
        for task in tasks:
            task.future.set_result(
                {name: value[start : start + task.size] for name, value in outputs.items()}
            )
            start += task.size


# ----- one loaded version ------------------------------------------------------------------------
def read_signature_defs(version_dir: Path) -> dict[str, Any]:
    """The SignatureDefs of a SavedModel, as stored in its saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel.FromString(
        (version_dir / "saved_model.pb").read_bytes()
    )
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise TfbertError(f"{version_dir} has no MetaGraph tagged 'serve'.")


class Servable:
    """One loaded version of one model: its signatures and how to run them."""

    def __init__(
        self,
        name: str,
        version: int,
        path: Path,
        batching: BatchingOptions | None = None,
        max_request_examples: int = 1024,
        observe_batch: Callable[[str, int], None] | None = None,
    ) -> None:
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops the graph uses)

        self.name, self.version, self.path = name, version, path
        self.signature_defs = read_signature_defs(path)
        self.max_request_examples = max_request_examples
        # The tf.Example features the Classify signature reads (tfbert exports: text[, pair]).
        self.example_features = classify_features(self.signature_defs)
        self.warmup_requests = 0  # replayed from assets.extra/ when loaded
        self.files: tuple = ()  # version_files() of what was loaded
        self._observe_batch = observe_batch  # (model name, examples) of every model run
        self._module = tf.saved_model.load(str(path))
        self._functions = dict(self._module.signatures)
        self._batchers: dict[str, DynamicBatcher] = {}
        if batching is not None:
            for key in self._functions:
                self._batchers[key] = DynamicBatcher(
                    lambda inputs, key=key: self._call(key, inputs),
                    batching,
                    name=f"batcher-{name}-{version}-{key}",
                )

    def close(self) -> None:
        for batcher in self._batchers.values():
            batcher.close()

    def signature(self, key: str, method: str | None = None):
        key = key or PREDICT_SIGNATURE
        if key not in self.signature_defs or key not in self._functions:
            raise invalid(
                f'Serving signature key "{key}" not found; this model has '
                f"{sorted(self.signature_defs)}."
            )
        signature = self.signature_defs[key]
        if method is not None and signature.method_name != method:
            raise invalid(
                f"Expected {key!r} to be a signature of method {method}, but its method is "
                f"{signature.method_name}; pick a signature of that method (tfbert exports "
                f"name their Classify signature '{CLASSIFY_SIGNATURE}')."
            )
        return key, signature

    def run(self, key: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs a signature on validated numpy inputs whose first dimension is the batch."""
        sizes = {name: value.shape[0] if value.ndim else None for name, value in inputs.items()}
        if any(size is None for size in sizes.values()):
            raise invalid("inputs must have a batch dimension (rank >= 1).")
        if len(set(sizes.values())) != 1:
            raise invalid(f"inputs disagree on the batch size: {sizes}.")
        size = next(iter(sizes.values()))
        if size == 0:
            raise invalid("the request is an empty batch; send at least one example.")
        check_batch_size(size, self.max_request_examples)
        batcher = self._batchers.get(key)
        return batcher(inputs, size) if batcher is not None else self._call(key, inputs)

    def _call(self, key: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._observe_batch is not None:
            self._observe_batch(self.name, len(next(iter(inputs.values()))))
        try:
            outputs = self._functions[key](**{k: tf.constant(v) for k, v in inputs.items()})
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
            raise invalid(f"the model rejected the input: {op_message(error)}") from None
        except tf.errors.OpError as error:  # a fault inside the model, not the request's
            raise RequestError(
                grpc.StatusCode.INTERNAL,
                f"the model failed on this input ({type(error).__name__}): {op_message(error)}",
            ) from None
        return {name: value.numpy() for name, value in outputs.items()}


# ----- the manager --------------------------------------------------------------------------------
STATES = ("START", "LOADING", "AVAILABLE", "UNLOADING", "END")


@dataclasses.dataclass
class VersionStatus:
    version: int
    state: str
    error: str = ""  # why loading failed, if it did
    attempts: int = 0
    files: tuple = dataclasses.field(default=(), repr=False, compare=False)  # when it was tried


def versions_on_disk(base_path: Path) -> list[int]:
    """Numeric subdirectories holding a saved_model.pb (hidden staging dirs are not numeric)."""
    if not base_path.is_dir():
        return []
    return sorted(
        int(p.name)
        for p in base_path.iterdir()
        if p.name.isdigit() and (p / "saved_model.pb").is_file()
    )


def version_files(version_dir: Path) -> tuple:
    """What identifies a version's files on disk: each file's name, size, inode and mtime.

    It changes when the version is overwritten (`tfbert export --overwrite` renames a new
    directory into place) and when a non-atomic copy adds or grows its files.
    """
    entries = []
    for root, _, files in os.walk(version_dir):
        for name in files:
            path = os.path.join(root, name)
            try:
                stat = os.stat(path)
            except OSError:  # removed while we looked: the next poll sees the new state
                continue
            entries.append((os.path.relpath(path, version_dir), stat.st_size, stat.st_ino,
                            stat.st_mtime_ns))  # fmt: skip
    return tuple(sorted(entries))


def check_base_path(config: ModelConfig) -> None:
    """A one-line TfbertError when a model's base path is clearly not a base path: a version
    directory itself, or a training output directory whose export lies below it.

    An empty or missing base path is accepted (versions may appear later, as in TF Serving).
    """
    base = config.base_path
    if not base.is_dir() or versions_on_disk(base):
        return
    where = f"model {config.name!r}: base path {base}"
    if (base / "saved_model.pb").is_file():
        if base.name.isdigit():
            raise TfbertError(
                f"{where} is version {base.name} itself (it holds saved_model.pb); point the "
                f"base path (--model_base_path) at its parent {base.parent}, which holds the "
                "numbered versions."
            )
        raise TfbertError(
            f"{where} is a SavedModel, not a directory of numbered versions; servers load "
            f"<base>/<version>/: move it to {base / '1'} or write it with `tfbert export`."
        )
    children = [p for p in base.iterdir() if p.is_dir()]
    grandchildren = [p for c in children for p in c.iterdir() if p.is_dir()]
    below = [p for p in sorted(children) + sorted(grandchildren) if versions_on_disk(p)]
    if below:
        raise TfbertError(
            f"{where} holds no numbered versions, but {below[0]} does (versions "
            f"{versions_on_disk(below[0])}); point the base path (--model_base_path) there."
        )
    if (base / "config.json").is_file():
        raise TfbertError(
            f"{where} is a trained model directory (config.json), not an export; export it "
            f"first (tfbert export --model {base} --export-dir EXPORT_DIR) and serve EXPORT_DIR."
        )


def warmup_sizes(version_dir: Path) -> list[int]:
    """The number of examples in each warm-up request of a version (none without the file)."""
    from tensorflow_serving.apis import prediction_log_pb2

    path = version_dir / ASSETS_EXTRA / WARMUP_FILE
    if not path.is_file():
        return []
    sizes = []
    for record in tf.data.TFRecordDataset(str(path)).take(MAX_WARMUP_RECORDS):
        entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        kind = entry.WhichOneof("log_type")
        if kind == "predict_log":
            tensors = entry.predict_log.request.inputs.values()
            dims = [t.tensor_shape.dim[0].size for t in tensors if t.tensor_shape.dim]
            sizes.append(max(dims, default=1))
        elif kind == "classify_log":
            examples = entry.classify_log.request.input
            which = examples.WhichOneof("kind")
            sizes.append(len(getattr(examples, which).examples) if which else 0)
    return sizes


def check_warmup_sizes(configs: Iterable[ModelConfig], max_request_examples: int) -> None:
    """A one-line TfbertError when a version to serve carries warm-up requests larger than
    `max_request_examples`: its warm-up, and so its load, would fail."""
    for config in configs:
        for version in config.wanted(versions_on_disk(config.base_path)):
            version_dir = config.base_path / str(version)
            try:
                largest = max(warmup_sizes(version_dir), default=0)
            except Exception:  # an unreadable file: loading the version reports it
                continue
            if largest > max_request_examples:
                raise TfbertError(
                    f"--max_request_examples {max_request_examples} is smaller than the "
                    f"warm-up requests of model {config.name!r} version {version} ({largest} "
                    f"examples, {version_dir / ASSETS_EXTRA / WARMUP_FILE}): raise it to at "
                    f"least {largest}, or pass --enable_model_warmup false."
                )


class ModelManager:
    """Loads, serves and unloads model versions as their base paths change.

    `poll()` is TF Serving's file-system poll: for each model, the versions the policy wants are
    loaded (and warmed up) before any version that is no longer wanted is unloaded, so a model
    never lacks an available version during a swap.
    """

    def __init__(
        self,
        configs: Iterable[ModelConfig],
        *,
        batching: BatchingOptions | None = None,
        max_request_examples: int = 1024,
        warmup: bool = True,
        max_load_retries: int = 5,
    ) -> None:
        self.configs = {c.name: c for c in configs}
        self.batching = batching
        self.max_request_examples = max_request_examples
        self.warmup = warmup
        self.max_load_retries = max_load_retries
        self._lock = threading.RLock()
        self._servables: dict[str, dict[int, Servable]] = {name: {} for name in self.configs}
        self._status: dict[str, dict[int, VersionStatus]] = {name: {} for name in self.configs}
        self._poll_lock = threading.Lock()
        self.observe_batch: Callable[[str, int], None] | None = None  # set by monitoring

    # -- lookups ------------------------------------------------------------------------------
    def get(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a request asks for, or NOT_FOUND as TF Serving words it."""
        with self._lock:
            if name not in self.configs:
                raise RequestError(
                    grpc.StatusCode.NOT_FOUND,
                    f"Servable not found for request: Latest({name}); this server serves "
                    f"{sorted(self.configs)}.",
                )
            loaded = self._servables[name]
            if label:
                labels = self.configs[name].labels
                if label not in labels:
                    raise RequestError(
                        grpc.StatusCode.NOT_FOUND,
                        f"Unrecognized servable version label: {label} (model {name} has "
                        f"labels {sorted(labels)}).",
                    )
                version = labels[label]
            if version is None:
                if not loaded:
                    raise RequestError(
                        grpc.StatusCode.NOT_FOUND,
                        f"Servable not found for request: Latest({name}); no version is loaded.",
                    )
                return loaded[max(loaded)]
            if version not in loaded:
                raise RequestError(
                    grpc.StatusCode.NOT_FOUND,
                    f"Servable not found for request: Specific({name}, {version}); loaded "
                    f"versions: {sorted(loaded)}.",
                )
            return loaded[version]

    def loaded_versions(self) -> dict[str, int]:
        """How many versions of each model are loaded and serving."""
        with self._lock:
            return {name: len(loaded) for name, loaded in self._servables.items()}

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        with self._lock:
            if name not in self.configs:
                raise RequestError(
                    grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}"
                )
            statuses = self._status[name]
            if version is not None:
                if version not in statuses:
                    raise RequestError(
                        grpc.StatusCode.NOT_FOUND,
                        f"Could not find version {version} of model {name}",
                    )
                return [dataclasses.replace(statuses[version])]
            return [dataclasses.replace(s) for _, s in sorted(statuses.items(), reverse=True)]

    # -- lifecycle ----------------------------------------------------------------------------
    def poll(self) -> None:
        """One round of discovery: load wanted versions, then unload unwanted ones."""
        with self._poll_lock:
            for config in self.configs.values():
                self._poll_model(config)

    def _poll_model(self, config: ModelConfig) -> None:
        wanted = config.wanted(versions_on_disk(config.base_path))
        statuses = self._status[config.name]
        for version in wanted:
            files = version_files(config.base_path / str(version))
            status = statuses.get(version)
            loaded = self._servables[config.name].get(version)
            if loaded is not None:
                if files != loaded.files and not (status.error and files == status.files):
                    self._load(config, version, files, replacing=loaded)
                continue
            if status is not None and status.error:
                if files != status.files:
                    status.attempts = 0  # its files changed: a new copy, worth new attempts
                elif status.attempts > self.max_load_retries:
                    continue  # gave up on these files, as TF Serving does after its retries
            self._load(config, version, files)
        # Unload only when something else stays available (availability preserving), unless
        # the version disappeared from disk.
        loaded = self._servables[config.name]
        keep = [v for v in wanted if v in loaded]
        for version in sorted(loaded):
            if version not in wanted and (keep or not (config.base_path / str(version)).exists()):
                self._unload(config.name, version)

    def _load(
        self, config: ModelConfig, version: int, files: tuple, replacing: Servable | None = None
    ) -> None:
        """Loads (and warms up) a version; `replacing` is the loaded copy whose files changed:
        it keeps answering until the new load is ready, or (if that fails) with a warning."""
        path = config.base_path / str(version)
        statuses = self._status[config.name]
        previous = statuses.get(version)
        status = VersionStatus(
            version,
            "AVAILABLE" if replacing is not None else "LOADING",
            attempts=(previous.attempts if previous else 0) + 1,
            files=files,
        )
        with self._lock:
            statuses[version] = status
        if replacing is not None:
            log.warning(
                "%s version %d changed on disk (overwritten?): loading it again from %s",
                config.name,
                version,
                path,
            )
        else:
            log.info("loading %s version %d from %s", config.name, version, path)
        try:
            servable = Servable(
                config.name,
                version,
                path,
                self.batching,
                self.max_request_examples,
                observe_batch=self.observe_batch,
            )
            if self.warmup:
                servable.warmup_requests = replay_warmup(servable)
        except Exception as error:  # a bad version must not take the server down
            message = f"{type(error).__name__}: {op_message(error)[:500]}"
            if replacing is None:
                log.error("failed to load %s version %d: %s", config.name, version, message)
                state = "END"
            else:
                log.error(
                    "the new files of %s version %d failed to load (%s); it still answers with "
                    "the weights loaded before they changed, which are no longer on disk",
                    config.name,
                    version,
                    message,
                )
                state = "AVAILABLE"
            with self._lock:
                statuses[version] = dataclasses.replace(status, state=state, error=message)
            return
        servable.files = files
        with self._lock:
            self._servables[config.name][version] = servable
            statuses[version] = dataclasses.replace(status, state="AVAILABLE", error="")
        if replacing is not None:
            replacing.close()  # requests that hold it finish on it
            log.info("serving %s version %d from its new files", config.name, version)
        else:
            log.info("serving %s version %d", config.name, version)

    def _unload(self, name: str, version: int) -> None:
        with self._lock:
            servable = self._servables[name].pop(version)
            self._status[name][version].state = "UNLOADING"
        # Requests that already hold `servable` finish on it; queued batches are drained.
        servable.close()
        with self._lock:
            self._status[name][version].state = "END"
        log.info("unloaded %s version %d", name, version)

    def close(self) -> None:
        with self._poll_lock:
            for name in self.configs:
                for version in list(self._servables[name]):
                    self._unload(name, version)


# ----- warm-up ------------------------------------------------------------------------------------
def replay_warmup(servable: Servable) -> int:
    """Runs the requests in `assets.extra/tf_serving_warmup_requests`, as TF Serving does.

    The first calls of a freshly loaded SavedModel trace and optimise its functions; doing that
    before the version becomes available keeps the first users' latency normal. Returns the
    number of requests replayed.
    """
    from tensorflow_serving.apis import prediction_log_pb2

    path = servable.path / ASSETS_EXTRA / WARMUP_FILE
    if not path.is_file():
        return 0
    count = 0
    for record in tf.data.TFRecordDataset(str(path)).take(MAX_WARMUP_RECORDS):
        log_entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        kind = log_entry.WhichOneof("log_type")
        if kind == "predict_log":
            request = log_entry.predict_log.request
            key, signature = servable.signature(request.model_spec.signature_name)
            inputs = predict_inputs(
                request,
                signature,
                max_examples=servable.max_request_examples,
                example_features=servable.example_features,
            )
            servable.run(key, inputs)
        elif kind == "classify_log":
            request = log_entry.classify_log.request
            key, signature = servable.signature(request.model_spec.signature_name, CLASSIFY_METHOD)
            inputs = classify_inputs(
                request.input,
                signature,
                max_examples=servable.max_request_examples,
                example_features=servable.example_features,
            )
            servable.run(key, inputs)
        else:
            raise TfbertError(f"{path}: warm-up record of type {kind} is not supported.")
        count += 1
    return count
