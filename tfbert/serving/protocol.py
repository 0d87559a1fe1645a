"""TF Serving's wire messages <-> numpy, with the request checks TF Serving makes.

Shared by the gRPC service, the REST gateway and warm-up replay, so that every entry point
accepts and rejects exactly the same requests with the same messages. `RequestError` is how
any of them refuses a request: a gRPC status, its HTTP twin and a message for the caller.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import grpc
import numpy as np
import tensorflow as tf

from tfbert.contract import (
    CLASSIFY_CLASSES,
    CLASSIFY_METHOD,
    CLASSIFY_SCORES,
    CLASSIFY_SIGNATURE,
    PREDICT_SIGNATURE,
    TEXT_INPUT,
    TEXT_PAIR_INPUT,
)

STRING = tf.string.as_datatype_enum
# The repeated value fields of a TensorProto; a tensor's values are in one of them (or in its
# packed `tensor_content`).
_VALUE_FIELDS = (
    "half_val", "float_val", "double_val", "int_val", "string_val", "scomplex_val", "int64_val",
    "bool_val", "dcomplex_val", "resource_handle_val", "variant_val", "uint32_val", "uint64_val",
)  # fmt: skip


class RequestError(Exception):
    """A request the server refuses, with the gRPC status it answers (and its HTTP twin).

    `http_status` overrides the HTTP status that the REST gateway derives from `code`, where
    HTTP has a more precise one (413 for a request over the size limits).
    """

    def __init__(
        self, code: grpc.StatusCode, message: str, *, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


def invalid(message: str) -> RequestError:
    """An INVALID_ARGUMENT refusal (HTTP 400)."""
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


def too_large(message: str) -> RequestError:
    """A request over the server's size limits: INVALID_ARGUMENT over gRPC, 413 over REST.

    Not RESOURCE_EXHAUSTED (HTTP 429), which tells a client to retry later: the same request
    would be refused again.
    """
    return RequestError(
        grpc.StatusCode.INVALID_ARGUMENT, message, http_status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    )


def check_batch_size(size: int, limit: int | None) -> None:
    """Refuses a batch of more than `limit` examples (the server's --max_request_examples)."""
    if limit is not None and size > limit:
        raise too_large(
            f"the request has {size} examples, more than the server's limit of {limit} "
            "(--max_request_examples); split it into smaller requests."
        )


def op_message(error: BaseException) -> str:
    """The first line of what a TensorFlow op said, without the "Graph execution error" frame.

    A function call that fails inside the graph raises an OpError whose message starts with
    "Graph execution error:" and the Python stack that defined the failing node; the op's own
    words (e.g. "StringToNumberOp could not correctly convert string: abc") come after them.
    """
    message = (getattr(error, "message", None) or str(error)).strip()
    lines = message.splitlines()
    if not lines:
        return type(error).__name__
    if not lines[0].startswith("Graph execution error"):
        return lines[0].strip()
    for index, line in enumerate(lines[1:], start=1):
        text = line.strip()
        if not text or line[0] in " \t" or text.startswith(("Detected at node", "<stack")):
            continue
        if re.match(r"\d+ root error", text):  # "2 root error(s) found." then "  (0) CODE: ..."
            for follow in lines[index + 1 :]:
                found = re.match(r"\s*\(0\)\s*\w+:\s*(.+)", follow)
                if found:
                    return found[1].strip()
            continue
        return text
    return lines[0].strip()


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


def check_shape(value: np.ndarray | Sequence[int], shape: Any, alias: str) -> None:
    """The request's shape (of an array, or declared as dims) must fit the signature's.

    -1 in the signature matches any size.
    """
    given = list(value.shape) if isinstance(value, np.ndarray) else list(value)
    if shape.unknown_rank:
        return
    dims = [d.size for d in shape.dim]
    if len(given) != len(dims) or any(d >= 0 and d != n for d, n in zip(dims, given, strict=True)):
        raise invalid(
            f"input '{alias}' has shape {given}; the signature expects {dims} (-1: any size)."
        )


def check_declared_size(proto: Any, shape: Any, alias: str, max_examples: int | None) -> None:
    """Checks a TensorProto's declared shape before any memory is allocated for it.

    A few bytes can declare millions of elements (TensorProto repeats its last value to fill
    the shape), so the shape must fit the signature, the batch must be within the limit and
    the values must be there before the tensor is decoded.
    """
    if proto.tensor_shape.unknown_rank:
        raise invalid(f"input '{alias}' has no shape; give tensor_shape its dims.")
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise invalid(f"input '{alias}' declares shape {dims}; sizes must be non-negative.")
    check_shape(dims, shape, alias)
    if dims:
        check_batch_size(dims[0], max_examples)
    elements = math.prod(dims)
    if proto.tensor_content:
        itemsize = tf.dtypes.as_dtype(proto.dtype).size
        if len(proto.tensor_content) != elements * itemsize:
            raise invalid(
                f"input '{alias}' declares shape {dims} ({elements} elements) but its "
                f"tensor_content has {len(proto.tensor_content)} bytes, not "
                f"{elements * itemsize}."
            )
        return
    held = sum(len(getattr(proto, name)) for name in _VALUE_FIELDS if hasattr(proto, name))
    # Filling from one value is part of TensorProto; allowed only where it stays small.
    if held < elements and elements > max(max_examples or 0, 1):
        raise invalid(
            f"input '{alias}' declares shape {dims} ({elements} elements) but holds "
            f"{held} values; send one value per element."
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


def predict_inputs(
    request: Any,
    signature: Any,
    *,
    max_examples: int | None = None,
    example_features: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """A PredictRequest's inputs as numpy, after checking names, dtypes, sizes and encoding.

    max_examples: the server's batch limit, checked on the declared shape before decoding.
    example_features: the bytes features a Classify signature reads from each tf.Example
        (see `classify_features`); a Predict call on such a signature must send serialized
        tf.Examples that have them.
    """
    check_aliases(set(request.inputs), signature)
    takes_examples = signature.method_name == CLASSIFY_METHOD
    inputs = {}
    for alias, proto in request.inputs.items():
        expected = signature.inputs[alias].dtype
        if proto.dtype != expected:
            raise invalid(
                f"input '{alias}' must be {dtype_name(expected)} but the request sends "
                f"{dtype_name(proto.dtype)}."
            )
        check_declared_size(proto, signature.inputs[alias].tensor_shape, alias, max_examples)
        try:
            value = tf.make_ndarray(proto)
        except Exception as error:
            raise invalid(f"input '{alias}' is not a valid TensorProto: {error}") from None
        check_shape(value, signature.inputs[alias].tensor_shape, alias)
        if proto.dtype == STRING and takes_examples:
            check_serialized_examples(value, alias, example_features)
        elif proto.dtype == STRING:
            check_utf8(value, alias)
        inputs[alias] = value
    return inputs


def _takes_what(alias: str, features: Sequence[str]) -> str:
    wanted = " and ".join(f"'{name}'" for name in features) or "its features"
    return (
        f"input '{alias}' of a Classify signature takes serialized tf.Examples with the bytes "
        f"feature {wanted} (the Classify API builds them: the Classify RPC or REST :classify); "
        f"to send plain text, use the Predict API on signature '{PREDICT_SIGNATURE}'."
    )


def check_serialized_examples(values: np.ndarray, alias: str, features: Sequence[str]) -> None:
    """A Predict call on a Classify signature: every element must be a usable tf.Example."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.example import example_pb2

    for index, value in enumerate(values.reshape(-1)):
        try:
            example = example_pb2.Example.FromString(value)
        except DecodeError:
            raise invalid(
                f"element {index} is not a serialized tf.Example: {_takes_what(alias, features)}"
            ) from None
        try:
            check_example_features(example, features, f"element {index}")
        except RequestError as error:
            raise invalid(f"{error.message} {_takes_what(alias, features)}") from None


def classify_features(signature_defs: dict[str, Any]) -> tuple[str, ...]:
    """The tf.Example features a model's Classify signature reads, as far as they are known.

    A tfbert export's Predict signature takes `text` (and `text_pair`) and its Classify
    signature reads bytes features of the same names, filling a missing one with "" (which
    would be classified as an empty text). Other SavedModels: () (nothing is required).
    """
    if CLASSIFY_SIGNATURE not in signature_defs or PREDICT_SIGNATURE not in signature_defs:
        return ()
    names = set(signature_defs[PREDICT_SIGNATURE].inputs)
    if not names or not names <= {TEXT_INPUT, TEXT_PAIR_INPUT}:
        return ()
    return tuple(name for name in (TEXT_INPUT, TEXT_PAIR_INPUT) if name in names)


def check_example_features(example: Any, features: Sequence[str], where: str) -> None:
    """Each of `features` must be in the example as a bytes feature with exactly one value."""
    present = example.features.feature
    for name in features:
        if name not in present:
            have = f"it has {sorted(present)}" if present else "it has no features"
            raise invalid(
                f"{where} has no feature '{name}' ({have}); this model reads the bytes "
                f"feature{'s' if len(features) > 1 else ''} "
                f"{' and '.join(repr(f) for f in features)} of each tf.Example."
            )
        feature = present[name]
        kind = feature.WhichOneof("kind")
        if kind != "bytes_list" or len(feature.bytes_list.value) != 1:
            count = len(getattr(feature, kind).value) if kind else 0
            raise invalid(
                f"{where}: feature '{name}' must hold one bytes value (the text), but it holds "
                f"{count} value(s) of {kind or 'no kind'}."
            )


def classify_inputs(
    input_proto: Any,
    signature: Any,
    *,
    max_examples: int | None = None,
    example_features: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """A Classify request's tf.Examples, serialized, as the signature's single string input.

    Context features (`example_list_with_context`) are merged into every example, as TF Serving
    does. Each example must have `example_features` (see `classify_features`), and there may be
    at most `max_examples` of them.
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
    check_batch_size(len(examples), max_examples)
    serialized = []
    for index, example in enumerate(examples):
        if context is not None:
            merged = example_pb2.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            example = merged
        check_example_features(example, example_features, f"example {index}")
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
    scores = outputs.get(CLASSIFY_SCORES)
    classes = outputs.get(CLASSIFY_CLASSES)
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
