"""Fixtures of the serving tests: one pair of tiny exports per session, a server per module."""

from __future__ import annotations

import grpc
import pytest
from serving_testlib import EPHEMERAL, tiny_classifier
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from tfbert.export import export_saved_model
from tfbert.serving.models import ModelConfig
from tfbert.serving.server import ModelServer


@pytest.fixture(scope="session")
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
