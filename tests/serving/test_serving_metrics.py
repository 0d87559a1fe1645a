"""Prometheus monitoring of the embedded server (TF Serving's --monitoring_config_file)."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import keras
import pytest
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tfbert.errors import TfbertError
from tfbert.export import export_saved_model
from tfbert.serving.metrics import DEFAULT_PATH, read_monitoring_config
from tfbert.serving.models import ModelConfig
from tfbert.serving.server import ModelServer, ServerOptions
from tfbert.tasks.classifier import BertClassifier

REPO = Path(__file__).resolve().parents[2]
OPTIONS = ServerOptions(port=0, rest_api_port=0, file_system_poll_wait_seconds=0)


@pytest.fixture(scope="module")
def export_base(english_vocab, tmp_path_factory):
    keras.utils.set_random_seed(3)
    model = BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=["negative", "positive"], max_length=24
    )
    base = tmp_path_factory.mktemp("monitored") / "reviews"
    export_saved_model(model, base, version=1)
    return base


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _predict(stub, values, dtype=tf.string):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "reviews"
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(values, dtype=dtype))
    return stub.Predict(request, timeout=60)


def test_metrics_count_requests_by_api_transport_and_status(export_base) -> None:
    options = dataclasses.replace(OPTIONS, monitoring_path=DEFAULT_PATH)
    # Without warm-up replay, every model run below is a request's.
    with ModelServer([ModelConfig("reviews", export_base)], options, warmup=False) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.port}")
        )
        _predict(stub, ["a fine film", "a dull film"])
        _predict(stub, ["another one"])
        with pytest.raises(grpc.RpcError) as refused:
            _predict(stub, [1.5, 2.5], dtype=tf.float32)  # wrong dtype
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        rest = f"http://127.0.0.1:{server.rest_port}"
        body = json.dumps({"instances": ["great acting"]}).encode()
        request = urllib.request.Request(f"{rest}/v1/models/reviews:predict", data=body)
        assert "predictions" in json.loads(urllib.request.urlopen(request, timeout=60).read())
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{rest}/v1/models/nosuchmodel", timeout=60)
        assert missing.value.code == 404

        response = urllib.request.urlopen(f"{rest}{DEFAULT_PATH}", timeout=60)
        assert response.headers["Content-Type"].startswith("text/plain")
        samples = _samples(response.read().decode("utf-8"))

    def count(api, transport, status, model="reviews"):
        key = (("api", api), ("model_name", model), ("status", status), ("transport", transport))
        return samples.get(("tensorflow_serving_request_count_total", key), 0)

    assert count("Predict", "grpc", "OK") == 2
    assert count("Predict", "grpc", "INVALID_ARGUMENT") == 1
    assert count("Predict", "rest", "OK") == 1
    assert count("GetModelStatus", "rest", "NOT_FOUND", model="nosuchmodel") == 1
    latency = (("api", "Predict"), ("model_name", "reviews"), ("transport", "grpc"))
    assert samples[("tensorflow_serving_request_latency_seconds_count", latency)] == 3
    assert samples[("tensorflow_serving_request_latency_seconds_sum", latency)] > 0
    assert samples[("tensorflow_serving_loaded_versions", (("model_name", "reviews"),))] == 1
    # Three model runs of 2 + 1 + 1 examples; the refused request never reached the model.
    model = (("model_name", "reviews"),)
    assert samples[("tensorflow_serving_batch_size_count", model)] == 3
    assert samples[("tensorflow_serving_batch_size_sum", model)] == 4


def test_without_monitoring_the_metrics_path_is_not_found(export_base) -> None:
    with ModelServer([ModelConfig("reviews", export_base)], OPTIONS) as server:
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{server.rest_port}{DEFAULT_PATH}")
        assert missing.value.code == 404


def test_monitoring_config_files(tmp_path) -> None:
    assert read_monitoring_config(REPO / "serving" / "monitoring.config") == DEFAULT_PATH
    custom = tmp_path / "custom.config"
    custom.write_text('prometheus_config {\n  enable: true\n  path: "/metrics"\n}\n')
    assert read_monitoring_config(custom) == "/metrics"
    custom.write_text("prometheus_config { enable: true }")
    assert read_monitoring_config(custom) == DEFAULT_PATH
    custom.write_text("prometheus_config { enable: false }")
    assert read_monitoring_config(custom) is None
    for text in ("prometheus_config { enabled: true }", "prometheus { enable: true }", "{"):
        custom.write_text(text)
        with pytest.raises(TfbertError, match="not a MonitoringConfig.*prometheus_config"):
            read_monitoring_config(custom)
    with pytest.raises(TfbertError, match="does not exist"):
        read_monitoring_config(tmp_path / "missing.config")
    with pytest.raises(ValueError, match="REST port"):
        ModelServer([], dataclasses.replace(OPTIONS, rest_api_port=None, monitoring_path="/m"))
