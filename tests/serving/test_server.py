"""The embedded server, spoken to with TF Serving's own gRPC stubs and plain HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_testlib import LABELS, TEXTS, in_process, predict_request
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    prediction_service_pb2_grpc,
)

from tfbert.serving.models import ModelConfig
from tfbert.serving.server import ModelServer, ServerOptions


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


# ----- bad requests -------------------------------------------------------------------------------
def test_bad_grpc_requests_get_the_right_status_and_the_server_stays_up(server, stubs) -> None:
    predict, _ = stubs
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    cases = [
        (predict_request([1.5, 2.5]), invalid, "must be string"),
        (predict_request(TEXTS, alias="txt"), invalid, "Inputs expected to be in the set"),
        (predict_request(np.array([], dtype=object), dtype=tf.string), invalid, "empty batch"),
        (predict_request(["ok"] * 65), invalid, "limit of 64"),
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


def test_bad_input_is_refused_with_what_to_send_instead(server, stubs, exports) -> None:
    predict, _ = stubs
    invalid = grpc.StatusCode.INVALID_ARGUMENT

    # A Classify example without the text feature is not classified as an empty text.
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "reviews"
    classify.model_spec.signature_name = "classify"
    feature = classify.input.example_list.examples.add().features.feature
    feature["review"].bytes_list.value.append(b"fine")
    with pytest.raises(grpc.RpcError) as caught:
        predict.Classify(classify, timeout=30)
    assert caught.value.code() == invalid
    assert "no feature 'text'" in caught.value.details()

    # Predict on the classify signature: serialized tf.Examples work (as in TF Serving) ...
    examples = []
    for text in TEXTS:
        example = tf.train.Example()
        example.features.feature["text"].bytes_list.value.append(text.encode())
        examples.append(example.SerializeToString())
    request = predict_request(examples, alias="inputs")
    request.model_spec.signature_name = "classify"
    response = predict.Predict(request, timeout=30)
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["scores"]),
        in_process(exports[0] / "1", TEXTS)["probabilities"],
        atol=1e-6,
    )
    # ... and plain text there is refused with which signature takes what.
    request = predict_request(TEXTS, alias="inputs")
    request.model_spec.signature_name = "classify"
    with pytest.raises(grpc.RpcError) as caught:
        predict.Predict(request, timeout=30)
    assert caught.value.code() == invalid
    assert (
        "Classify API" in caught.value.details() and "'serving_default'" in caught.value.details()
    )
    assert "UTF-8" not in caught.value.details()

    # A few bytes declaring 20 million texts: refused on the declared shape.
    huge = predict_request(["x"])
    huge.inputs["text"].tensor_shape.dim[0].size = 20_000_000
    with pytest.raises(grpc.RpcError) as caught:
        predict.Predict(huge, timeout=30)
    assert caught.value.code() == invalid and "limit of 64" in caught.value.details()

    # Too many Classify examples: INVALID_ARGUMENT with the limit, not "retry later".
    many = classification_pb2.ClassificationRequest()
    many.CopyFrom(classify)
    del many.input.example_list.examples[:]
    for _ in range(65):
        many.input.example_list.examples.add().features.feature["text"].bytes_list.value.append(
            b"a"
        )
    with pytest.raises(grpc.RpcError) as caught:
        predict.Classify(many, timeout=30)
    assert caught.value.code() == invalid and "limit of 64" in caught.value.details()


class _ToNumber(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def parse(self, text):
        return {"number": tf.strings.to_number(text)}


def test_model_errors_give_the_ops_message_not_graph_execution_error(tmp_path) -> None:
    module = _ToNumber()
    tf.saved_model.save(module, str(tmp_path / "numbers" / "1"), signatures=module.parse)
    options = ServerOptions(port=0, rest_api_port=None, file_system_poll_wait_seconds=0)
    with ModelServer([ModelConfig("numbers", tmp_path / "numbers")], options) as srv:
        channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        good = stub.Predict(predict_request(["2.5"], model="numbers"), timeout=30)
        assert tf.make_ndarray(good.outputs["number"]).tolist() == [2.5]
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(predict_request(["abc"], model="numbers"), timeout=30)
        channel.close()
    details = caught.value.details()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Graph execution error" not in details
    assert "could not correctly convert string: abc" in details


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # the in-flight SIGTERM test covers answering and stopping
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


# ----- start-up checks ----------------------------------------------------------------------------
def serve_error(capsys, *flags: str) -> tuple[int, str]:
    """(exit code, stderr) of an in-process `tfbert serve` that must refuse to start."""
    from tfbert.cli.main import main

    code = main(["serve", "--port", "0", "--rest_api_port", "0", *flags])
    return code, capsys.readouterr().err.strip()


def test_rest_worker_pool_defaults_to_two_threads_per_usable_core(monkeypatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    options = ServerOptions()
    assert options.rest_api_num_threads == 6 and options.rest_limits().threads == 6
    options.check()
    assert ServerOptions(rest_api_num_threads=3).rest_limits().threads == 3


def test_operator_mistakes_get_one_line_before_any_port_is_bound(exports, tmp_path, capsys) -> None:
    base = str(exports[0])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for flag in ("--port", "--rest_api_port"):
            others = ["--port", "0"] if flag == "--rest_api_port" else []
            code, err = serve_error(capsys, "--model_base_path", base, *others, flag, str(port))
            assert code != 0 and err.count("\n") == 0 and "Traceback" not in err
            assert f"{flag} {port}" in err and "already in use" in err

    # A version directory: point at its parent.
    code, err = serve_error(capsys, "--model_base_path", f"{base}/1")
    assert code != 0 and err.count("\n") == 0
    assert "is version 1 itself" in err and f"its parent {base}" in err

    # A training run's directory, with the export below it: point there.
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    (run / "export").symlink_to(exports[0], target_is_directory=True)
    code, err = serve_error(capsys, "--model_base_path", str(run))
    assert code != 0 and f"but {run / 'export'} does" in err
    code, err = serve_error(capsys, "--model_base_path", str(run / "model"))
    assert code != 0 and "trained model directory" in err and "tfbert export" in err

    # Warm-up requests larger than a request may be: every load would fail.
    code, err = serve_error(capsys, "--model_base_path", base, "--max_request_examples", "2")
    assert code != 0 and "--max_request_examples 2 is smaller than the warm-up requests" in err
    assert "--enable_model_warmup false" in err

    for flag in ("--grpc_max_threads", "--rest_api_num_threads", "--rest_api_max_connections"):
        code, err = serve_error(capsys, "--model_base_path", base, flag, "0")
        assert code != 0 and err.startswith(f"error: {flag} 0: must be")
        assert "max_workers" not in err


# ----- graceful stop ------------------------------------------------------------------------------
def test_sigterm_finishes_rest_and_grpc_requests_in_flight(exports, tmp_path) -> None:
    batching = tmp_path / "slow_batching.config"
    batching.write_text("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 1500000 }\n")
    port, rest_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tfbert.cli", "serve", "--model_base_path", str(exports[0]),
         "--model_name", "reviews", "--port", str(port), "--rest_api_port", str(rest_port),
         "--enable_batching", "--batching_parameters_file", str(batching),
         "--shutdown_grace_seconds", "30"],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=120)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        # REST requests in flight: headers and half a body sent before the SIGTERM.
        body = json.dumps({"instances": TEXTS * 10}).encode()
        head = (
            f"POST /v1/models/reviews:predict HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        uploads = [socket.create_connection(("127.0.0.1", rest_port), timeout=30) for _ in range(4)]
        for sock in uploads:
            sock.sendall(head + body[: len(body) // 2])
        # gRPC calls in flight: they wait 1.5 s in the batching queue.
        calls = [stub.Predict.future(predict_request(TEXTS), timeout=60) for _ in range(3)]
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        for sock in uploads:
            sock.sendall(body[len(body) // 2 :])
        answers = []
        for sock in uploads:
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            sock.close()
            answers.append(data)
        for call in calls:
            assert tf.make_ndarray(call.result().outputs["probabilities"]).shape == (5, 3)
        channel.close()
        for answer in answers:
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            assert len(json.loads(answer.partition(b"\r\n\r\n")[2])["predictions"]) == 50
        assert process.wait(timeout=60) == 0
        log = process.stderr.read()
        assert "stopped" in log and "ran out" not in log
        with pytest.raises(OSError):  # no longer accepting
            socket.create_connection(("127.0.0.1", rest_port), timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_stop_reports_what_the_grace_period_cut(exports, caplog) -> None:
    options = ServerOptions(port=0, rest_api_port=0, file_system_poll_wait_seconds=0)
    server = ModelServer([ModelConfig("reviews", exports[0])], options).start()
    stalled = socket.create_connection(("127.0.0.1", server.rest_port), timeout=10)
    stalled.sendall(
        b"POST /v1/models/reviews:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
    )
    time.sleep(0.3)
    started = time.monotonic()
    assert server.stop(grace=0.5) == {"grpc": 0, "rest": 1}
    assert time.monotonic() - started < 10
    stalled.close()
    assert "cut 0 gRPC and 1 REST requests" in caplog.text
