"""TF Serving's wire messages <-> numpy, with the request checks TF Serving makes.

Shared by the gRPC service, the REST gateway and warm-up replay, so that every entry point
accepts and rejects exactly the same requests with the same messages.
"""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np
import tensorflow as tf

from tfbert.serving.models import RequestError, invalid

STRING = tf.string.as_datatype_enum


def dtype_name(enum: int) -> str:
    try:
        return tf.dtypes.as_dtype(enum).name
    except TypeError:
        return f"dtype enum {enum}"


def check_utf8(values: np.ndarray, alias: str) -> None:
    """Text inputs must be UTF-8: the tokenizer would otherwise fail deep inside the graph."""
    for index, value in enumerate(values.reshape(-1)):
        if isinstance(value, bytes):
            try:
                value.decode("utf-8")
            except UnicodeDecodeError as error:
                raise invalid(
                    f"input '{alias}' element {index} is not valid UTF-8 ({error.reason} at byte "
                    f"{error.start}); send text encoded as UTF-8."
                ) from None


def check_shape(value: np.ndarray, shape: Any, alias: str) -> None:
    """The request's shape must fit the signature's (-1 matches any size)."""
    if shape.unknown_rank:
        return
    dims = [d.size for d in shape.dim]
    if value.ndim != len(dims) or any(
        d >= 0 and d != n for d, n in zip(dims, value.shape, strict=True)
    ):
        raise invalid(
            f"input '{alias}' has shape {list(value.shape)}; the signature expects {dims} "
            "(-1: any size)."
        )


def check_aliases(given: set[str], signature: Any, what: str = "input") -> None:
    expected = set(signature.inputs)
    missing, unexpected = expected - given, given - expected
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {sorted(missing)}")
        if unexpected:
            parts.append(f"unexpected {sorted(unexpected)}")
        raise invalid(
            f"{what} tensor aliases do not match the signature ({'; '.join(parts)}). "
            f"Inputs expected to be in the set {sorted(expected)}."
        )


def predict_inputs(request: Any, signature: Any) -> dict[str, np.ndarray]:
    """A PredictRequest's inputs as numpy, after checking names, dtypes and text encoding."""
    check_aliases(set(request.inputs), signature)
    inputs = {}
    for alias, proto in request.inputs.items():
        expected = signature.inputs[alias].dtype
        if proto.dtype != expected:
            raise invalid(
                f"input '{alias}' must be {dtype_name(expected)} but the request sends "
                f"{dtype_name(proto.dtype)}."
            )
        try:
            value = tf.make_ndarray(proto)
        except Exception as error:
            raise invalid(f"input '{alias}' is not a valid TensorProto: {error}") from None
        check_shape(value, signature.inputs[alias].tensor_shape, alias)
        if proto.dtype == STRING:
            check_utf8(value, alias)
        inputs[alias] = value
    return inputs


def classify_inputs(input_proto: Any, signature: Any) -> dict[str, np.ndarray]:
    """A Classify request's tf.Examples, serialized, as the signature's single string input.

    Context features (`example_list_with_context`) are merged into every example, as TF Serving
    does.
    """
    from tensorflow.core.example import example_pb2

    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        examples = list(input_proto.example_list.examples)
        context = None
    elif kind == "example_list_with_context":
        examples = list(input_proto.example_list_with_context.examples)
        context = input_proto.example_list_with_context.context
    else:
        raise invalid("Input is empty: send input.example_list with at least one tf.Example.")
    if not examples:
        raise invalid("Input is empty: send input.example_list with at least one tf.Example.")
    if len(signature.inputs) != 1:
        raise invalid("a classify signature must have exactly one input (serialized examples).")
    serialized = []
    for index, example in enumerate(examples):
        if context is not None:
            merged = example_pb2.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            example = merged
        for name, feature in example.features.feature.items():
            for value in feature.bytes_list.value:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    raise invalid(
                        f"example {index}: feature '{name}' is not valid UTF-8; send UTF-8 text."
                    ) from None
        serialized.append(example.SerializeToString())
    (alias,) = signature.inputs
    return {alias: np.array(serialized, dtype=object)}


def predict_response(outputs: dict[str, np.ndarray], output_filter: list[str], request: Any) -> Any:
    from tensorflow_serving.apis import predict_pb2

    names = list(output_filter) or sorted(outputs)
    unknown = [n for n in names if n not in outputs]
    if unknown:
        raise invalid(
            f"output tensor aliases {unknown} are not in the signature; it has {sorted(outputs)}."
        )
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(request.model_spec)
    for name in names:
        response.outputs[name].CopyFrom(tf.make_tensor_proto(outputs[name]))
    return response


def classification_result(outputs: dict[str, np.ndarray]) -> Any:
    from tensorflow_serving.apis import classification_pb2

    result = classification_pb2.ClassificationResult()
    scores = outputs.get("scores")
    classes = outputs.get("classes")
    if scores is None and classes is None:
        raise RequestError(
            grpc.StatusCode.INTERNAL, "the classify signature returned neither classes nor scores."
        )
    rows = (scores if scores is not None else classes).shape[0]
    for row in range(rows):
        classification = result.classifications.add()
        count = (scores if scores is not None else classes).shape[1]
        for column in range(count):
            entry = classification.classes.add()
            if classes is not None:
                entry.label = classes[row, column].decode("utf-8")
            if scores is not None:
                entry.score = float(scores[row, column])
    return result


def signature_def_map(servable: Any) -> Any:
    """The `signature_def` metadata of GetModelMetadata: a SignatureDefMap."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    message = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in servable.signature_defs.items():
        message.signature_def[key].CopyFrom(signature)
    return message
