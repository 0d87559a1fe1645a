"""A client-only install: the REST client imports and works without TensorFlow, Keras or
tensorflow-text, checked in a subprocess where importing them fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

BLOCK = textwrap.dedent(
    """
    import json, sys

    class Blocked:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tensorflow_text"):
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocked())
    """
)


def run_without_tensorflow(code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", BLOCK + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_rest_client_needs_no_tensorflow() -> None:
    result = run_without_tensorflow(
        """
        from tfbert.serving import PredictionClient, RestClient, ServingError
        from tfbert.errors import MissingDependencyError

        client = PredictionClient("http://127.0.0.1:1", "reviews", retries=0, timeout=2)
        assert isinstance(client, RestClient)
        try:  # a real request path: refused connection -> ServingError, no TensorFlow needed
            client.predict(["hello"])
        except ServingError as error:
            unreachable = error.code
        try:
            PredictionClient("127.0.0.1:8500", "reviews")
            grpc = "constructed"
        except MissingDependencyError as error:
            grpc = str(error)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in
                       ("tensorflow", "keras", "tensorflow_text"))
        print(json.dumps({"unreachable": unreachable, "grpc": grpc, "heavy": heavy}))
        """
    )
    assert result["unreachable"] == "UNAVAILABLE"
    # gRPC's protos (tensorflow-serving-api) import TensorFlow: the error says so and names
    # the REST client as the way without it.
    assert "tensorflow-serving-api" in result["grpc"] and "REST client" in result["grpc"]
    assert not [m for m in result["heavy"] if m.split(".")[0] != "tensorflow_serving"]


def test_rest_metadata_needs_no_protos() -> None:
    from tfbert.serving.client import _proto_field_names

    camel = {
        "signatureDef": {
            "serving_default": {
                "inputs": {"text": {"name": "x:0", "dtype": "DT_STRING",
                                    "tensorShape": {"dim": [{"size": "-1"}]}}},
                "methodName": "tensorflow/serving/predict",
            }
        }
    }  # fmt: skip
    expected = {
        "signature_def": {
            "serving_default": {
                "inputs": {"text": {"name": "x:0", "dtype": "DT_STRING",
                                    "tensor_shape": {"dim": [{"size": "-1"}]}}},
                "method_name": "tensorflow/serving/predict",
            }
        }
    }  # fmt: skip
    assert _proto_field_names(camel) == expected
    assert _proto_field_names(expected) == expected  # TF Serving's own form is kept
