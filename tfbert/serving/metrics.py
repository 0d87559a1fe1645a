"""Prometheus metrics for the embedded server, as TF Serving's `--monitoring_config_file` gives.

TF Serving exports its metrics in Prometheus text format at the path of its MonitoringConfig
(`prometheus_config { enable: true path: "..." }`) on the REST port. The embedded server does
the same with `prometheus_client`, so one scrape config works against either. TF Serving's
metric names (":tensorflow:serving:request_count") begin with a colon, which Prometheus reserves
for recording rules; the names here are the same names with the colons as underscores
(`tensorflow_serving_request_count`).

Each server owns its own registry, so several servers in one process (tests) do not collide.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from tfbert.errors import TfbertError

DEFAULT_PATH = "/monitoring/prometheus/metrics"  # TF Serving's default
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def read_monitoring_config(path: str | Path) -> str | None:
    """The metrics path of a TF Serving MonitoringConfig text file, or None if not enabled.

    tensorflow-serving-api does not ship the MonitoringConfig proto, so its two fields are
    read here; anything else in the file is refused rather than silently ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise TfbertError(f"monitoring config file {path} does not exist.")
    text = re.sub(r"#[^\n]*", "", path.read_text(encoding="utf-8"))
    block = re.fullmatch(r"\s*prometheus_config\s*:?\s*\{(?P<body>[^{}]*)\}\s*", text)
    fields = re.findall(r"(\w+)\s*:\s*(\"[^\"]*\"|\w+)", block["body"]) if block else None
    leftover = re.sub(r"(\w+)\s*:\s*(\"[^\"]*\"|\w+)", "", block["body"]).strip() if block else ""
    if not block or leftover or any(name not in ("enable", "path") for name, _ in fields):
        raise TfbertError(
            f"{path} is not a MonitoringConfig this server reads; write "
            f'prometheus_config {{ enable: true path: "{DEFAULT_PATH}" }}.'
        )
    values = dict(fields)
    enable = values.get("enable", "false").lower()
    if enable not in ("true", "false"):
        raise TfbertError(f"{path}: enable must be true or false, got {values['enable']}.")
    if enable == "false":
        return None
    metrics_path = values.get("path", '""').strip('"') or DEFAULT_PATH
    if not metrics_path.startswith("/"):
        raise TfbertError(f"{path}: the metrics path must start with '/', got {metrics_path!r}.")
    return metrics_path


class ServerMetrics:
    """Request counts, latencies and batch sizes of one server, plus its loaded versions."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, loaded_versions: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tensorflow_serving_request_count",
            "Requests by model, API, transport and final status (gRPC status name).",
            ["model_name", "api", "transport", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tensorflow_serving_request_latency_seconds",
            "Time from receiving a request to its answer.",
            ["model_name", "api", "transport"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "tensorflow_serving_batch_size",
            "Examples per model run (after dynamic batching, when on).",
            ["model_name"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        versions = Gauge(
            "tensorflow_serving_loaded_versions",
            "Versions of each model currently loaded and serving.",
            ["model_name"],
            registry=self.registry,
        )
        self._versions = versions
        self._loaded_versions = loaded_versions

    @contextmanager
    def request(self, model: str, api: str, transport: str) -> Iterator[dict[str, str]]:
        """Times and counts one request; the caller sets `outcome["status"]` when it fails."""
        outcome = {"status": "OK"}
        start = time.perf_counter()
        try:
            yield outcome
        except BaseException:
            if outcome["status"] == "OK":
                outcome["status"] = "INTERNAL"
            raise
        finally:
            model = model or "unknown"
            self.latency.labels(model, api, transport).observe(time.perf_counter() - start)
            self.requests.labels(model, api, transport, outcome["status"]).inc()

    def exposition(self) -> bytes:
        self._versions.clear()
        for model, count in self._loaded_versions().items():
            self._versions.labels(model).set(count)
        return generate_latest(self.registry)
