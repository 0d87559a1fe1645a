"""The request checks every entry point shares, on real protos and a real graph error."""

from __future__ import annotations

import tracemalloc
from http import HTTPStatus

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import input_pb2, predict_pb2

from tfbert.contract import CLASSIFY_METHOD, PREDICT_METHOD
from tfbert.serving.protocol import (
    RequestError,
    classify_features,
    classify_inputs,
    op_message,
    predict_inputs,
)


def signature(method: str, inputs: dict[str, tf.DType]) -> meta_graph_pb2.SignatureDef:
    message = meta_graph_pb2.SignatureDef(method_name=method)
    for name, dtype in inputs.items():
        info = message.inputs[name]
        info.dtype = dtype.as_datatype_enum
        info.tensor_shape.dim.add().size = -1
    return message


TEXT_SIGNATURE = signature(PREDICT_METHOD, {"text": tf.string})
CLASSIFY = signature(CLASSIFY_METHOD, {"inputs": tf.string})
PAIR_MODEL = {"serving_default": signature(PREDICT_METHOD, {"text": tf.string,
              "text_pair": tf.string}), "classify": CLASSIFY}  # fmt: skip


def example(**features: str) -> tf.train.Example:
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
                for name, value in features.items()
            }
        )
    )


def request(proto: tf.TensorProto, alias: str = "inputs") -> predict_pb2.PredictRequest:
    message = predict_pb2.PredictRequest()
    message.inputs[alias].CopyFrom(proto)
    return message


def test_a_tiny_request_declaring_a_huge_shape_is_refused_before_allocating() -> None:
    proto = tf.make_tensor_proto(["x"], dtype=tf.string)
    proto.tensor_shape.dim[0].size = 20_000_000  # 1 value, "repeat it 20 million times"
    assert len(request(proto, "text").SerializeToString()) < 32
    tracemalloc.start()
    try:
        with pytest.raises(RequestError) as caught:
            predict_inputs(request(proto, "text"), TEXT_SIGNATURE, max_examples=1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"{peak} bytes allocated for a refused request"
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.http_status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert "20000000 examples" in caught.value.message and "limit of 1024" in caught.value.message

    # Within the batch limit, a 2-d shape that a few values claim to fill is refused as well.
    grid = signature(PREDICT_METHOD, {"ids": tf.int32})
    grid.inputs["ids"].tensor_shape.dim.add().size = -1
    ids = tf.make_tensor_proto([7], dtype=tf.int32)
    ids.tensor_shape.dim[0].size = 8
    ids.tensor_shape.dim.add().size = 1_000_000
    with pytest.raises(RequestError, match="8000000 elements.*holds 1 values"):
        predict_inputs(request(ids, "ids"), grid, max_examples=1024)
    # Negative sizes never reach numpy.
    ids.tensor_shape.dim[1].size = -5
    with pytest.raises(RequestError, match="non-negative"):
        predict_inputs(request(ids, "ids"), grid, max_examples=1024)


def test_classify_examples_must_carry_the_text_features() -> None:
    features = classify_features(PAIR_MODEL)
    assert features == ("text", "text_pair")
    assert classify_features({"serving_default": TEXT_SIGNATURE}) == ()  # no classify signature

    def classify(*examples: tf.train.Example) -> dict[str, np.ndarray]:
        message = input_pb2.Input()
        for item in examples:
            message.example_list.examples.add().CopyFrom(item)
        return classify_inputs(message, CLASSIFY, max_examples=4, example_features=features)

    assert len(classify(example(text="good", text_pair="bad"))["inputs"]) == 1
    with pytest.raises(RequestError, match="example 1 has no feature 'text_pair'") as caught:
        classify(example(text="a", text_pair="b"), example(text="good"))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    missing = "example 0 has no feature 'text' \\(it has \\['text_pair', 'txt'\\]\\)"
    with pytest.raises(RequestError, match=missing):
        classify(example(txt="typo", text_pair="b"))
    with pytest.raises(RequestError, match="limit of 4") as caught:
        classify(*[example(text="a", text_pair="b")] * 5)
    assert caught.value.http_status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE


def test_predict_on_the_classify_signature_says_which_signature_takes_what() -> None:
    features = ("text",)
    serialized = [example(text="great").SerializeToString(), example(text="").SerializeToString()]
    good = request(tf.make_tensor_proto(serialized, dtype=tf.string))
    inputs = predict_inputs(good, CLASSIFY, example_features=features)
    assert list(inputs["inputs"]) == serialized  # binary tf.Examples are not refused as text

    plain = request(tf.make_tensor_proto(["just some text"], dtype=tf.string))
    with pytest.raises(RequestError) as caught:
        predict_inputs(plain, CLASSIFY, example_features=features)
    message = caught.value.message
    assert "UTF-8" not in message
    assert "serialized tf.Example" in message and "Classify API" in message
    assert "'serving_default'" in message

    typo = request(tf.make_tensor_proto([example(txt="x").SerializeToString()], tf.string))
    with pytest.raises(RequestError, match="no feature 'text'.*Classify API"):
        predict_inputs(typo, CLASSIFY, example_features=features)


def test_op_message_gives_the_ops_own_words() -> None:
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def to_number(text):
        return tf.strings.to_number(text)

    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        to_number(tf.constant(["abc"]))
    assert caught.value.message.startswith("Graph execution error")
    assert op_message(caught.value) == "StringToNumberOp could not correctly convert string: abc"
    assert op_message(ValueError("plain\nsecond line")) == "plain"
    several = "Graph execution error:\n\n2 root error(s) found.\n  (0) INVALID_ARGUMENT: first\n"
    assert op_message(tf.errors.InvalidArgumentError(None, None, several)) == "first"
