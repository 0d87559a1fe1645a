"""The serving clients: error paths without a server, then end to end against the embedded
server (TF Serving's gRPC and REST APIs on 127.0.0.1) with the same answers as in-process."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from tfbert.cli import main
from tfbert.errors import TfbertError
from tfbert.serving.client import (
    GrpcClient,
    Prediction,
    PredictionClient,
    RestClient,
    ServingError,
    _Failure,
)


@pytest.fixture
def closed_port() -> int:
    """A local port where (almost certainly) nothing listens: bound once, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("client_class", [GrpcClient, RestClient])
def test_unreachable_server_raises_serving_error_after_retries(client_class, closed_port) -> None:
    address = f"127.0.0.1:{closed_port}"
    started = time.monotonic()
    with (
        client_class(address, "imdb", timeout=1.0, retries=1, backoff=0.05) as client,
        pytest.raises(ServingError) as caught,
    ):
        client.predict(["a fine film"])
    elapsed = time.monotonic() - started

    error = caught.value
    assert isinstance(error, TfbertError)
    assert error.code == "UNAVAILABLE" and error.model == "imdb"
    message = str(error)
    assert "UNAVAILABLE" in message and address in message and "'imdb'" in message
    assert "after 2 attempts" in message  # the first try and one retry
    assert "tfbert serve --model_base_path" in message  # the hint
    assert elapsed < 5, f"took {elapsed:.1f}s"


def test_every_call_reports_its_api(closed_port) -> None:
    with RestClient(f"127.0.0.1:{closed_port}", timeout=1.0, retries=0) as client:
        for call, api in [
            (lambda: client.classify("x"), "Classify"),
            (client.metadata, "GetModelMetadata"),
            (client.status, "GetModelStatus"),
        ]:
            with pytest.raises(ServingError, match=f"^{api} for model 'tfbert'"):
                call()


def test_prediction_client_factory() -> None:
    grpc_client = PredictionClient("127.0.0.1:8500", "m")
    assert isinstance(grpc_client, GrpcClient) and grpc_client.model_name == "m"
    grpc_client.close()
    assert isinstance(PredictionClient("localhost:8501", protocol="rest"), RestClient)
    url_client = PredictionClient("http://127.0.0.1:9001/", version=3, timeout=2.0)
    assert isinstance(url_client, RestClient)
    assert url_client.address == "http://127.0.0.1:9001" and url_client.timeout == 2.0
    assert url_client._model_url() == "http://127.0.0.1:9001/v1/models/tfbert/versions/3"
    assert RestClient("localhost").address == "http://localhost:8501"  # default port
    with GrpcClient("localhost") as default_port:
        assert default_port.address == "localhost:8500"
    with pytest.raises(ValueError, match="HTTP URL"):
        PredictionClient("http://localhost:8501", protocol="grpc")
    with pytest.raises(ValueError, match="'grpc' or 'rest'"):
        PredictionClient("localhost:8500", protocol="soap")
    with pytest.raises(ValueError, match="either version or version_label"):
        PredictionClient("localhost:8500", version=1, version_label="stable")


def test_inputs_are_checked_before_any_request(closed_port) -> None:
    with RestClient(f"127.0.0.1:{closed_port}", retries=0) as client:
        with pytest.raises(ValueError, match="2 texts but 1 text pairs"):
            client.predict(["a", "b"], ["c"])
        with pytest.raises(TypeError, match="must be str"):
            client.predict([b"bytes"])
        empty = client.predict([])  # nothing to send: no request, no error
    assert isinstance(empty, Prediction) and len(empty) == 0
    assert empty.probabilities.shape[0] == 0 and empty.label_ids.shape == (0,)


@pytest.mark.parametrize("rest", [False, True])
def test_cli_predict_server_error_message(rest, closed_port, capsys) -> None:
    address = f"127.0.0.1:{closed_port}"
    argv = ["predict", "--server", address, "--model-name", "imdb", "--timeout", "1"]
    code = main([*argv, *(["--rest"] if rest else []), "a fine film"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: Predict for model 'imdb' at ")
    assert ("REST" if rest else "gRPC") in err and address in err and "UNAVAILABLE" in err
    assert "tfbert serve --model_base_path" in err
    assert "Traceback" not in err


class _FakeServer(RestClient):
    """Answers from numpy instead of the network: exercises batching and label names."""

    def __init__(self, *, classify_ok: bool = True, **kwargs) -> None:
        super().__init__("127.0.0.1:1", "fake", retries=0, **kwargs)
        self.classify_ok, self.calls = classify_ok, []

    def _predict_outputs(self, texts, pairs):
        self.calls.append(("predict", len(texts)))
        ids = np.array([len(t) % 3 for t in texts], np.int64)
        return {
            "probabilities": np.eye(3, dtype=np.float32)[ids],
            "label_id": ids,
            "label": np.array([["neg", "neu", "pos"][i].encode() for i in ids]),
        }, None

    def _classify(self, texts, pairs):
        self.calls.append(("classify", len(texts)))
        if not self.classify_ok:
            raise self._error(
                "Classify", _Failure("INVALID_ARGUMENT", "no such signature", retry=False)
            )
        return [[("neg", 0.2), ("neu", 0.3), ("pos", 0.5)] for _ in texts]


def test_label_names_come_from_one_cached_classify_call() -> None:
    client = _FakeServer(batch_size=2)
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    result = client.predict(texts)
    assert result.label_names == ["neg", "neu", "pos"]
    assert result.labels == ["neu", "pos", "neg", "neu", "pos"]
    assert result.label_ids.tolist() == [1, 2, 0, 1, 2] and result.probabilities.shape == (5, 3)
    assert client.calls == [("predict", 2), ("classify", 1), ("predict", 2), ("predict", 1)]
    client.predict("again")
    assert client.calls[-1] == ("predict", 1)  # the names stay cached


def test_label_names_without_a_classify_signature() -> None:
    client = _FakeServer(classify_ok=False, batch_size=2)
    result = client.predict(["a", "bb"])  # ids 1 and 2; column 0 never seen
    assert result.label_names == ["label_0", "neu", "pos"]


# ----- end to end, against the embedded server -------------------------------------------------
LABELS = ["negative", "neutral", "positive"]
TEXTS = ["A moving, beautiful film.", "Two hours I will never get back.", "还行吧", "Déjà vu."]


@pytest.fixture(scope="module")
def served(english_vocab, tmp_path_factory):
    import keras

    from tfbert.serving.models import ModelConfig
    from tfbert.serving.server import ModelServer, ServerOptions
    from tfbert.tasks.classifier import BertClassifier

    keras.utils.set_random_seed(8)
    classifier = BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=LABELS, max_length=24
    )
    base = tmp_path_factory.mktemp("client") / "reviews"
    version_dir = classifier.export(base)
    options = ServerOptions(port=0, rest_api_port=0, file_system_poll_wait_seconds=0)
    with ModelServer([ModelConfig("reviews", base)], options) as server:
        yield server, classifier.predict_texts(TEXTS), version_dir


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_clients_match_in_process_predictions(served, protocol) -> None:
    server, expected, _ = served
    port = server.port if protocol == "grpc" else server.rest_port
    with PredictionClient(f"127.0.0.1:{port}", "reviews", protocol=protocol, batch_size=3) as c:
        prediction = c.predict(TEXTS)
        classified = c.classify(TEXTS)
        signatures = c.metadata()
        status = c.status()
    assert prediction.label_names == LABELS
    assert prediction.labels == expected["labels"]
    np.testing.assert_allclose(prediction.probabilities, expected["probabilities"], atol=1e-5)
    assert [[name for name, _ in row] for row in classified] == [LABELS] * len(TEXTS)
    np.testing.assert_allclose(
        [[p for _, p in row] for row in classified], expected["probabilities"], atol=1e-5
    )
    assert {"serving_default", "classify"} <= set(signatures)
    assert [(s["version"], s["state"]) for s in status] == [(1, "AVAILABLE")]


def test_rest_and_grpc_metadata_are_the_same(served) -> None:
    server, _, _ = served
    with (
        GrpcClient(f"127.0.0.1:{server.port}", "reviews") as grpc_client,
        RestClient(f"127.0.0.1:{server.rest_port}", "reviews") as rest_client,
    ):
        grpc_metadata = grpc_client.metadata()
        rest_metadata = rest_client.metadata()
    assert rest_metadata == grpc_metadata
    assert grpc_metadata["classify"]["method_name"] == "tensorflow/serving/classify"
    assert "tensor_shape" in grpc_metadata["serving_default"]["inputs"]["text"]


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_clients_report_unknown_models_and_versions(served, protocol) -> None:
    server, _, _ = served
    port = server.port if protocol == "grpc" else server.rest_port
    address = f"127.0.0.1:{port}"
    with (
        PredictionClient(address, "missing", protocol=protocol, timeout=5) as client,
        pytest.raises(ServingError, match="NOT_FOUND|404") as caught,
    ):
        client.predict(["hello"])
    assert "missing" in str(caught.value)
    with (
        PredictionClient(address, "reviews", protocol=protocol, version=9) as client,
        pytest.raises(ServingError, match="NOT_FOUND|404"),
    ):
        client.predict(["hello"])


def test_cli_predict_through_the_server_prints_what_the_local_model_prints(served, capsys) -> None:
    server, _, version_dir = served
    assert main(["predict", "--model", str(version_dir), *TEXTS]) == 0
    local = capsys.readouterr().out
    argv = ["predict", "--server", f"127.0.0.1:{server.port}", "--model-name", "reviews", *TEXTS]
    assert main(argv) == 0
    assert capsys.readouterr().out == local
    rest_address = f"127.0.0.1:{server.rest_port}"
    assert main(["predict", "--server", rest_address, "--rest", *argv[3:]]) == 0
    assert capsys.readouterr().out == local
