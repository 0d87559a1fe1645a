"""Model management: versions, labels and policies, hot swap under load, dynamic batching."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import tensorflow as tf
from serving_testlib import TEXTS, in_process, predict_request, rest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tfbert.serving.models import BatchingOptions, ModelConfig, read_model_config_file
from tfbert.serving.server import ModelServer, ServerOptions


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


def test_the_shipped_models_config_parses_and_serves_the_quickstart_model() -> None:
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[2] / "serving" / "models.config"
    configs = read_model_config_file(shipped)
    assert [(c.name, Path(c.base_path).name) for c in configs] == [("snownlp", "snownlp")]


# ----- files changing under a served version -----------------------------------------------------
def wait_until(condition, within: float = 120.0) -> bool:
    give_up = time.monotonic() + within
    while not condition() and time.monotonic() < give_up:
        time.sleep(0.1)
    return condition()


def test_an_overwritten_version_is_reloaded_and_logged(exports, english_vocab, tmp_path, caplog):
    from serving_testlib import tiny_classifier

    from tfbert.export import export_saved_model

    base = tmp_path / "reviews"
    export_saved_model(tiny_classifier(english_vocab, 1), base, version=1)
    options = ServerOptions(port=0, rest_api_port=0, file_system_poll_wait_seconds=0.2)
    with ModelServer([ModelConfig("reviews", base)], options) as srv:
        _, before = rest(srv, "/v1/models/reviews:predict", {"instances": TEXTS})
        export_saved_model(tiny_classifier(english_vocab, 2), base, version=1, overwrite=True)
        expected = in_process(base / "1", TEXTS)["probabilities"]

        def answers_new_weights() -> bool:
            _, now = rest(srv, "/v1/models/reviews:predict", {"instances": TEXTS})
            return np.allclose(
                [p["probabilities"] for p in now["predictions"]], expected, atol=1e-6
            )

        assert wait_until(answers_new_weights)
        assert not np.allclose(
            [p["probabilities"] for p in before["predictions"]], expected, atol=1e-3
        )
        assert "reviews version 1 changed on disk" in caplog.text
        assert [s.state for s in srv.manager.status("reviews")] == ["AVAILABLE"]


def test_a_version_that_failed_to_load_is_retried_when_its_files_change(exports, tmp_path):
    import shutil

    base = tmp_path / "reviews"
    (base / "1").mkdir(parents=True)
    shutil.copy(exports[0] / "1" / "saved_model.pb", base / "1")  # copied without its variables
    options = ServerOptions(port=0, rest_api_port=0, file_system_poll_wait_seconds=0.2)
    with ModelServer([ModelConfig("reviews", base)], options) as srv:

        def gave_up() -> bool:
            status = srv.manager.status("reviews")[0]
            return status.state == "END" and status.attempts > srv.manager.max_load_retries

        assert wait_until(gave_up)
        for name in ("variables", "assets", "assets.extra"):
            shutil.copytree(exports[0] / "1" / name, base / "1" / name)
        assert wait_until(lambda: srv.manager.status("reviews")[0].state == "AVAILABLE")
        status, payload = rest(srv, "/v1/models/reviews:predict", {"instances": TEXTS})
        assert status == 200
        np.testing.assert_allclose(
            [p["probabilities"] for p in payload["predictions"]],
            in_process(exports[0] / "1", TEXTS)["probabilities"],
            atol=1e-6,
        )
