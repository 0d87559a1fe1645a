"""Helpers shared by the serving tests: tiny exports, in-process answers, request builders."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import keras
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from tfbert.export import load_exported
from tfbert.serving.server import ServerOptions
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
