"""The embedded server, spoken to with TF Serving's own gRPC stubs and plain HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import grpc
import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tfbert.export import export_saved_model, load_exported
from tfbert.serving.models import BatchingOptions, ModelConfig, read_model_config_file
from tfbert.serving.server import ModelServer, ServerOptions
from tfbert.tasks.classifier import BertClassifier

LABELS = ["negative", "neutral", "positive"]
TEXTS = [
    "An absolute triumph of a film.",
    "I walked out after an hour.",
    "Crème brûlée, déjà vu",
    "电影非常精彩",
    "It was fine, I guess, nothing more and nothing less than what the trailer promised.",
]
EPHEMERAL = ServerOptions(port=0, rest_api_port=0, file_system_poll_wait_seconds=0)


def tiny_classifier(vocabulary: list[str], seed: int) -> BertClassifier:
    keras.utils.set_random_seed(seed)
    return BertClassifier.from_preset("tiny", vocabulary=vocabulary, labels=LABELS, max_length=24)


def in_process(version_dir, texts: list[str]) -> dict[str, np.ndarray]:
    outputs = load_exported(version_dir).signatures["serving_default"](text=tf.constant(texts))
    return {name: value.numpy() for name, value in outputs.items()}


@pytest.fixture(scope="module")
def exports(english_vocab, tmp_path_factory):
    """A base path with version 1, and a version 2 (other weights) kept aside for swaps."""
    base = tmp_path_factory.mktemp("exports") / "reviews"
    spare = tmp_path_factory.mktemp("spare")
    export_saved_model(tiny_classifier(english_vocab, 1), base, version=1)
    export_saved_model(tiny_classifier(english_vocab, 2), spare, version=2)
    return base, spare / "2"


@pytest.fixture(scope="module")
def server(exports):
    base, _ = exports
    with ModelServer([ModelConfig("reviews", base)], EPHEMERAL, max_request_examples=64) as srv:
        yield srv


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()


def predict_request(texts, model="reviews", version=None, label=None, dtype=None, alias="text"):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = "serving_default"
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.inputs[alias].CopyFrom(tf.make_tensor_proto(texts, dtype=dtype))
    return request


def rest(server, path: str, body=None, raw: bytes | None = None):
    """(HTTP status, parsed JSON) of a REST call."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}", data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ----- every RPC ----------------------------------------------------------------------------------
def test_predict_matches_the_savedmodel_in_process(server, stubs, exports) -> None:
    predict, _ = stubs
    response = predict.Predict(predict_request(TEXTS), timeout=30)
    expected = in_process(exports[0] / "1", TEXTS)
    assert response.model_spec.version.value == 1
    assert set(response.outputs) == {"probabilities", "label_id", "label"}
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["probabilities"]), expected["probabilities"], atol=1e-6
    )
    assert list(tf.make_ndarray(response.outputs["label"])) == list(expected["label"])

    only = predict_request(TEXTS[:2])
    only.output_filter.append("label")
    assert set(predict.Predict(only, timeout=30).outputs) == {"label"}


def test_classify_metadata_and_status(server, stubs, exports) -> None:
    predict, models = stubs
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "reviews"
    request.model_spec.signature_name = "classify"
    for text in TEXTS:
        example = request.input.example_list.examples.add()
        example.features.feature["text"].bytes_list.value.append(text.encode())
    response = predict.Classify(request, timeout=30)
    expected = in_process(exports[0] / "1", TEXTS)["probabilities"]
    result = response.result.classifications
    assert len(result) == len(TEXTS)
    for row, classification in zip(expected, result, strict=True):
        assert [c.label for c in classification.classes] == LABELS
        np.testing.assert_allclose([c.score for c in classification.classes], row, atol=1e-6)

    metadata_request = get_model_metadata_pb2.GetModelMetadataRequest()
    metadata_request.model_spec.name = "reviews"
    metadata_request.metadata_field.append("signature_def")
    metadata = predict.GetModelMetadata(metadata_request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def) >= {"serving_default", "classify"}
    assert signatures.signature_def["classify"].method_name == "tensorflow/serving/classify"
    assert set(signatures.signature_def["serving_default"].inputs) == {"text"}

    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "reviews"
    status = models.GetModelStatus(status_request, timeout=30).model_version_status
    assert [(s.version, s.state) for s in status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    ]
    # The export's warm-up records (one Predict, one Classify) ran before it became available.
    assert server.manager.get("reviews").warmup_requests == 2


def test_rest_routes_agree_with_grpc(server, exports) -> None:
    expected = in_process(exports[0] / "1", TEXTS)
    code, status = rest(server, "/v1/models/reviews")
    assert code == 200
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    code, status = rest(server, "/v1/models/reviews/versions/1")
    assert code == 200 and status["model_version_status"][0]["version"] == "1"

    code, metadata = rest(server, "/v1/models/reviews/metadata")
    assert code == 200 and metadata["model_spec"]["version"] == "1"
    assert "classify" in metadata["metadata"]["signature_def"]["signatureDef"]

    code, rows = rest(server, "/v1/models/reviews:predict", {"instances": TEXTS})
    assert code == 200
    np.testing.assert_allclose(
        [p["probabilities"] for p in rows["predictions"]], expected["probabilities"], atol=1e-6
    )
    assert [p["label"] for p in rows["predictions"]] == [s.decode() for s in expected["label"]]
    code, named = rest(
        server, "/v1/models/reviews/versions/1:predict", {"instances": [{"text": t} for t in TEXTS]}
    )
    assert code == 200 and named == rows
    code, columns = rest(server, "/v1/models/reviews:predict", {"inputs": {"text": TEXTS}})
    assert code == 200
    np.testing.assert_allclose(
        columns["outputs"]["probabilities"], expected["probabilities"], atol=1e-6
    )

    code, classified = rest(
        server,
        "/v1/models/reviews:classify",
        {"signature_name": "classify", "examples": [{"text": t} for t in TEXTS]},
    )
    assert code == 200
    assert [[c for c, _ in row] for row in classified["results"]] == [LABELS] * len(TEXTS)
    np.testing.assert_allclose(
        [[s for _, s in row] for row in classified["results"]], expected["probabilities"], atol=1e-6
    )


# ----- bad requests -------------------------------------------------------------------------------
def test_bad_grpc_requests_get_the_right_status_and_the_server_stays_up(server, stubs) -> None:
    predict, _ = stubs
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    cases = [
        (predict_request([1.5, 2.5]), invalid, "must be string"),
        (predict_request(TEXTS, alias="txt"), invalid, "Inputs expected to be in the set"),
        (predict_request(np.array([], dtype=object), dtype=tf.string), invalid, "empty batch"),
        (predict_request(["ok"] * 65), grpc.StatusCode.RESOURCE_EXHAUSTED, "limit of 64"),
        (predict_request([b"caf\xe9 au lait"]), invalid, "not valid UTF-8"),
        (predict_request(TEXTS, model="nope"), not_found, "nope"),
        (predict_request(TEXTS, version=7), not_found, "Specific(reviews, 7)"),
        (predict_request(TEXTS, label="canary"), not_found, "canary"),
        (predict_request([["a", "b"], ["c", "d"]]), invalid, "signature expects [-1]"),
    ]
    for request, code, words in cases:
        try:
            predict.Predict(request, timeout=30)
            pytest.fail(f"accepted a bad request (expected {code}: {words})")
        except grpc.RpcError as error:
            assert error.code() == code, (words, error.details())
            assert words in error.details()

    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "reviews"  # default signature: a Predict signature
    classify.input.example_list.examples.add().features.feature["text"].bytes_list.value.append(
        b"fine"
    )
    with pytest.raises(grpc.RpcError) as caught:
        predict.Classify(classify, timeout=30)
    assert caught.value.code() == invalid and "classify" in caught.value.details()

    # Still serving, with the same answers.
    response = predict.Predict(predict_request(TEXTS[:1]), timeout=30)
    assert tf.make_ndarray(response.outputs["probabilities"]).shape == (1, 3)


def test_bad_rest_requests_get_the_right_status(server) -> None:
    cases = [
        ("/v1/models/reviews:predict", b'{"instances": ["unclosed"', 400, "not valid JSON"),
        ("/v1/models/reviews:predict", b'{"instances": [1, 2]}', 400, "must be string"),
        ("/v1/models/reviews:predict", b'{"instances": []}', 400, "empty batch"),
        ("/v1/models/reviews:predict", b'{"rows": ["a"]}', 400, "instances"),
        ("/v1/models/nope:predict", b'{"instances": ["a"]}', 404, "nope"),
        ("/v1/models/reviews/versions/9:predict", b'{"instances": ["a"]}', 404, "9"),
        ("/v1/models/reviews:predict", json.dumps({"instances": ["a"] * 65}).encode(), 429, "64"),
        ("/v1/models/reviews:classify", b'{"examples": [{"text": "a"}]}', 400, "classify"),
        ("/v2/whatever", b"{}", 404, "Malformed request"),
    ]
    for path, body, code, words in cases:
        status, payload = rest(server, path, raw=body)
        assert status == code, (path, body, payload)
        assert words in payload["error"]
    status, _ = rest(server, "/v1/models/reviews:predict", {"instances": ["still up"]})
    assert status == 200


# ----- versions, labels, hot swap -----------------------------------------------------------------
def test_hot_swap_under_concurrent_load_drops_no_request(exports, tmp_path) -> None:
    import shutil

    base = tmp_path / "reviews"
    shutil.copytree(exports[0], base)
    options = ServerOptions(port=0, rest_api_port=None, file_system_poll_wait_seconds=0.2)
    with ModelServer([ModelConfig("reviews", base)], options) as srv:
        channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        calls: list[tuple[float, float, int]] = []  # (sent, answered, version)
        failures: list[str] = []
        stop = threading.Event()

        def client() -> None:
            # Bounded by time, not by count: a fast machine could otherwise use up its calls
            # before version 2 loads, and the test would never see the swap.
            give_up = time.monotonic() + 120
            while not stop.is_set() and time.monotonic() < give_up:
                try:
                    sent = time.monotonic()
                    response = stub.Predict(predict_request(TEXTS[:2]), timeout=30)
                    calls.append((sent, time.monotonic(), response.model_spec.version.value))
                except grpc.RpcError as error:
                    failures.append(f"{error.code()}: {error.details()}")

        with ThreadPoolExecutor(4) as pool:
            workers = [pool.submit(client) for _ in range(4)]
            time.sleep(1.0)
            shutil.copytree(exports[1], base / ".2.partial")  # what an atomic export does
            os.replace(base / ".2.partial", base / "2")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                states = {s.version: s.state for s in srv.manager.status("reviews")}
                if states.get(2) == "AVAILABLE" and states.get(1) == "END":
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            stop.set()
            for worker in workers:
                worker.result()
        channel.close()
    assert states == {2: "AVAILABLE", 1: "END"}
    assert not failures, failures[:3]
    calls.sort()
    assert calls[0][2] == 1, "the first requests should be served by version 1"
    assert calls[-1][2] == 2, "requests after the swap should be served by version 2"
    # Requests in flight during the swap may finish on version 1, but once any client has
    # been answered by version 2, no request sent after that goes back to version 1.
    first_new_answer = min(answered for _, answered, version in calls if version == 2)
    late_old = [sent for sent, _, version in calls if version == 1 and sent > first_new_answer]
    assert not late_old, f"{len(late_old)} requests sent after the swap were served by version 1"


def test_model_config_file_serves_several_models_versions_and_labels(exports, tmp_path) -> None:
    import shutil

    base = tmp_path / "reviews"
    shutil.copytree(exports[0], base)
    shutil.copytree(exports[1], base / "2")
    (base / "3").mkdir()
    (base / "3" / "saved_model.pb").write_bytes(b"not a SavedModel")  # a broken version
    config = tmp_path / "models.config"
    config.write_text(
        f"""model_config_list {{
          config {{
            name: "reviews"  base_path: "{base}"  model_platform: "tensorflow"
            model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
            version_labels {{ key: "stable" value: 1 }}
            version_labels {{ key: "canary" value: 2 }}
          }}
          config {{ name: "newest" base_path: "{base}" model_platform: "tensorflow" }}
        }}""",
        encoding="utf-8",
    )
    configs = read_model_config_file(config)
    assert [(c.name, c.policy) for c in configs] == [("reviews", "specific"), ("newest", "latest")]
    options = ServerOptions(port=0, rest_api_port=0, file_system_poll_wait_seconds=0)
    with ModelServer(configs, options) as srv:
        channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        stable = stub.Predict(predict_request(TEXTS, label="stable"), timeout=30)
        canary = stub.Predict(predict_request(TEXTS, label="canary"), timeout=30)
        channel.close()
        assert (stable.model_spec.version.value, canary.model_spec.version.value) == (1, 2)
        np.testing.assert_allclose(
            tf.make_ndarray(canary.outputs["probabilities"]),
            in_process(base / "2", TEXTS)["probabilities"],
            atol=1e-6,
        )
        # The newest version on disk is broken: reported, and the model stays unavailable
        # instead of taking the server down.
        newest = {s.version: s for s in srv.manager.status("newest")}
        assert newest[3].state == "END" and newest[3].error
        code, status = rest(srv, "/v1/models/newest")
        assert code == 200 and status["model_version_status"][0]["status"]["error_code"] != "OK"
        code, payload = rest(srv, "/v1/models/reviews/labels/canary")
        assert code == 200 and payload["model_version_status"][0]["version"] == "2"


# ----- batching and shutdown ----------------------------------------------------------------------
def test_dynamic_batching_merges_concurrent_requests_with_identical_results(exports) -> None:
    batching = BatchingOptions(max_batch_size=8, batch_timeout_micros=200_000)
    options = ServerOptions(port=0, rest_api_port=None, file_system_poll_wait_seconds=0)
    expected = in_process(exports[0] / "1", TEXTS)["probabilities"]
    with ModelServer([ModelConfig("reviews", exports[0])], options, batching=batching) as srv:
        channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        batcher = srv.manager.get("reviews")._batchers["serving_default"]
        before = (batcher.batches_run, batcher.requests_run)

        def one(index: int) -> np.ndarray:
            text = TEXTS[index % len(TEXTS)]
            response = stub.Predict(predict_request([text]), timeout=30)
            return tf.make_ndarray(response.outputs["probabilities"])[0]

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(16)))
        channel.close()
        batches = batcher.batches_run - before[0]
        requests = batcher.requests_run - before[1]
    assert requests == 16 and batches < 16, (batches, requests)
    for index, row in enumerate(results):
        np.testing.assert_allclose(row, expected[index % len(TEXTS)], atol=1e-5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_tfbert_serve_answers_then_stops_gracefully_on_sigterm(exports) -> None:
    port, rest_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tfbert.cli", "serve", "--model_base_path", str(exports[0]),
         "--model_name", "reviews", "--port", str(port), "--rest_api_port", str(rest_port),
         "--enable_batching"],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=120)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(predict_request(TEXTS), timeout=60)
        assert tf.make_ndarray(response.outputs["probabilities"]).shape == (len(TEXTS), 3)
        channel.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        log = process.stderr.read()
        assert "serving gRPC on 127.0.0.1" in log and "stopped" in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
