"""TF Serving's REST API over the same model manager as the gRPC service.

Routes (TF Serving's): `GET /v1/models/{name}[/versions/{v} | /labels/{l}]` (status),
`GET .../metadata`, `POST ...:predict` (row format `instances` or column format `inputs`),
`POST ...:classify`. Errors are `{"error": "..."}` with the HTTP status matching the gRPC code.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import os
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import grpc
import numpy as np
import tensorflow as tf

from tfbert.contract import CLASSIFY_CLASSES, CLASSIFY_METHOD, CLASSIFY_SCORES
from tfbert.serving.metrics import ServerMetrics
from tfbert.serving.models import ModelManager
from tfbert.serving.protocol import (
    RequestError,
    check_batch_size,
    check_serialized_examples,
    check_shape,
    check_utf8,
    classify_inputs,
    invalid,
    signature_def_map,
)

log = logging.getLogger("tfbert.serving")

ROUTE = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<action>/metadata|:predict|:classify|:regress)?/?$"
)
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: HTTPStatus.BAD_REQUEST,
    grpc.StatusCode.FAILED_PRECONDITION: HTTPStatus.BAD_REQUEST,
    grpc.StatusCode.OUT_OF_RANGE: HTTPStatus.BAD_REQUEST,
    grpc.StatusCode.NOT_FOUND: HTTPStatus.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED: HTTPStatus.TOO_MANY_REQUESTS,
    grpc.StatusCode.UNIMPLEMENTED: HTTPStatus.NOT_IMPLEMENTED,
    grpc.StatusCode.UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: HTTPStatus.GATEWAY_TIMEOUT,
}
# REST actions under the gRPC method names the metrics use for the same call.
_API_NAMES = {
    None: "GetModelStatus",
    "/metadata": "GetModelMetadata",
    ":predict": "Predict",
    ":classify": "Classify",
    ":regress": "Regress",
}


# ----- JSON <-> numpy -----------------------------------------------------------------------------
def _json_type(value: Any) -> str:
    return {str: "string", bool: "bool", int: "number", float: "number", dict: "object"}.get(
        type(value), type(value).__name__
    )


def _leaf(value: Any, dtype: tf.DType, alias: str) -> Any:
    if dtype == tf.string:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict) and set(value) == {"b64"}:
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (ValueError, TypeError):
                raise invalid(f"input '{alias}': {{'b64': ...}} is not valid base64.") from None
        raise invalid(f"input '{alias}' must be string but the request sends {_json_type(value)}.")
    if isinstance(value, (str, dict)) or value is None:
        raise invalid(
            f"input '{alias}' must be {dtype.name} but the request sends {_json_type(value)}."
        )
    return value


def _to_array(values: Any, dtype: tf.DType, alias: str) -> np.ndarray:
    def convert(item: Any) -> Any:
        return [convert(v) for v in item] if isinstance(item, list) else _leaf(item, dtype, alias)

    converted = convert(values)
    try:
        if dtype == tf.string:
            array = np.empty(np.shape(converted), dtype=object) if converted else None
            if array is None:
                return np.array([], dtype=object)
            array[...] = converted
        else:
            array = np.array(converted, dtype=dtype.as_numpy_dtype)
    except (ValueError, TypeError) as error:
        raise invalid(
            f"input '{alias}' is not a well-formed {dtype.name} tensor: {error}"
        ) from None
    return array


def json_predict_inputs(
    body: dict[str, Any],
    signature: Any,
    *,
    max_examples: int | None = None,
    example_features: Sequence[str] = (),
) -> tuple[dict[str, np.ndarray], bool]:
    """Request JSON -> inputs; the flag says row format (`instances`) rather than columns.

    The checks are those of the gRPC Predict API (`protocol.predict_inputs`).
    """

    def checked(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return _checked(inputs, signature, example_features)

    aliases = sorted(signature.inputs)
    dtypes = {a: tf.dtypes.as_dtype(signature.inputs[a].dtype) for a in aliases}
    if ("instances" in body) == ("inputs" in body):
        raise invalid('the request must have exactly one of "instances" (rows) or "inputs".')
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise invalid('"instances" must be a list (one entry per example).')
        if not rows:
            raise invalid("the request is an empty batch; send at least one example.")
        check_batch_size(len(rows), max_examples)
        named = all(isinstance(r, dict) and "b64" not in r for r in rows)
        if len(aliases) > 1 and not named:
            raise invalid(f"each instance must be an object with the inputs {aliases}.")
        if named:
            for index, row in enumerate(rows):
                if set(row) != set(aliases):
                    raise invalid(
                        f"instance {index} has keys {sorted(row)}; the inputs are {aliases}."
                    )
            columns = {a: [row[a] for row in rows] for a in aliases}
        else:
            columns = {aliases[0]: rows}
        return checked({a: _to_array(v, dtypes[a], a) for a, v in columns.items()}), True
    inputs = body["inputs"]
    if isinstance(inputs, dict) and "b64" not in inputs:
        if set(inputs) != set(aliases):
            raise invalid(f'"inputs" has keys {sorted(inputs)}; the inputs are {aliases}.')
        for alias in aliases:
            if isinstance(inputs[alias], list):
                check_batch_size(len(inputs[alias]), max_examples)
        return checked({a: _to_array(inputs[a], dtypes[a], a) for a in aliases}), False
    if len(aliases) > 1:
        raise invalid(f'"inputs" must be an object with the inputs {aliases}.')
    alias = aliases[0]
    if isinstance(inputs, list):
        check_batch_size(len(inputs), max_examples)
    return checked({alias: _to_array(inputs, dtypes[alias], alias)}), False


def _checked(
    inputs: dict[str, np.ndarray], signature: Any, example_features: Sequence[str]
) -> dict[str, np.ndarray]:
    takes_examples = signature.method_name == CLASSIFY_METHOD
    for alias, value in inputs.items():
        check_shape(value, signature.inputs[alias].tensor_shape, alias)
        if value.dtype == object and takes_examples:
            check_serialized_examples(value, alias, example_features)
        elif value.dtype == object:
            check_utf8(value, alias)
    return inputs


def _plain(value: np.ndarray) -> Any:
    if value.dtype == object:

        def text(item: Any) -> Any:
            if isinstance(item, list):
                return [text(i) for i in item]
            try:
                return item.decode("utf-8")
            except UnicodeDecodeError:
                return {"b64": base64.b64encode(item).decode("ascii")}

        return text(value.tolist())
    return value.tolist()


def json_predict_outputs(outputs: dict[str, np.ndarray], rows: bool) -> dict[str, Any]:
    names = sorted(outputs)
    if rows:
        if len(names) == 1:
            return {"predictions": _plain(outputs[names[0]])}
        size = len(outputs[names[0]])
        columns = {n: _plain(outputs[n]) for n in names}
        return {"predictions": [{n: columns[n][i] for n in names} for i in range(size)]}
    if len(names) == 1:
        return {"outputs": _plain(outputs[names[0]])}
    return {"outputs": {n: _plain(outputs[n]) for n in names}}


def _feature(value: Any, name: str) -> Any:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise invalid(f"feature '{name}' is empty.")
    if all(isinstance(v, str) or (isinstance(v, dict) and set(v) == {"b64"}) for v in values):
        return tf.train.Feature(
            bytes_list=tf.train.BytesList(
                value=[
                    v.encode("utf-8") if isinstance(v, str) else base64.b64decode(v["b64"])
                    for v in values
                ]
            )
        )
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    raise invalid(f"feature '{name}' mixes types or has unsupported values.")


def json_classify_input(body: dict[str, Any]) -> Any:
    from tensorflow_serving.apis import input_pb2

    examples = body.get("examples")
    if not isinstance(examples, list) or not examples:
        raise invalid('the request needs "examples": a non-empty list of feature objects.')

    def example(features: Any, where: str) -> Any:
        if not isinstance(features, dict):
            raise invalid(
                f"{where} is a {_json_type(features)}, not an object of features: the Classify "
                'API takes "examples": a list of feature objects such as {"text": "..."} (a '
                "plain string is not classified); for plain strings use :predict with "
                '"instances".'
            )
        return tf.train.Example(
            features=tf.train.Features(feature={k: _feature(v, k) for k, v in features.items()})
        )

    message = input_pb2.Input()
    if "context" in body:
        target = message.example_list_with_context
        target.context.CopyFrom(example(body["context"], '"context"'))
    else:
        target = message.example_list
    for index, features in enumerate(examples):
        target.examples.add().CopyFrom(example(features, f"example {index}"))
    return message


# ----- the HTTP server ---------------------------------------------------------------------------
def status_json(manager: ModelManager, name: str, version: int | None) -> dict[str, Any]:
    return {
        "model_version_status": [
            {
                "version": str(s.version),
                "state": s.state,
                "status": {"error_code": "UNKNOWN" if s.error else "OK", "error_message": s.error},
            }
            for s in manager.status(name, version)
        ]
    }


def rest_answer(
    manager: ModelManager,
    method: str,
    target: str,
    body: bytes,
    *,
    refused: RequestError | None = None,
    metrics: ServerMetrics | None = None,
    metrics_path: str | None = None,
) -> tuple[int, bytes, str]:
    """(HTTP status, response body, content type) of one REST request.

    `target` is the request line's path (with any query); `refused` is an error found while
    reading the body (answered in its place). Runs the model, so the gateway calls it on a worker
    thread, never on its event loop.
    """
    path = target.split("?", 1)[0]
    if method == "GET" and metrics is not None and path == metrics_path:
        return HTTPStatus.OK, metrics.exposition(), metrics.content_type
    match = ROUTE.match(path)
    counted = (
        metrics.request(match["name"], _API_NAMES[match["action"]], "rest")
        if metrics is not None and match is not None
        else contextlib.nullcontext({})
    )
    with counted as outcome:
        status, payload, outcome["status"] = _outcome(manager, method, target, match, body, refused)
    return status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), JSON_TYPE


JSON_TYPE = "application/json"


def _outcome(
    manager: ModelManager,
    method: str,
    target: str,
    match: re.Match | None,
    body: bytes,
    refused: RequestError | None,
) -> tuple[int, Any, str]:
    """(HTTP status, JSON payload, gRPC status name) of one request."""
    code = "OK"
    try:
        if refused is not None:
            raise refused
        if match is None:
            raise RequestError(
                grpc.StatusCode.NOT_FOUND,
                f"Malformed request: {method} {target} (routes: /v1/models/NAME"
                "[/versions/N | /labels/L][/metadata | :predict | :classify]).",
            )
        status, payload = _route(manager, method, match, body)
    except RequestError as error:
        code = error.code.name
        status, payload = (
            error.http_status or HTTP_STATUS.get(error.code, HTTPStatus.INTERNAL_SERVER_ERROR),
            {"error": error.message},
        )
    except RecursionError:  # JSON nested deeper than Python's stack: a bad request
        code = grpc.StatusCode.INVALID_ARGUMENT.name
        status, payload = (
            HTTPStatus.BAD_REQUEST,
            {"error": "the request body nests JSON too deeply; send flat instances."},
        )
    except Exception as error:  # keep serving; tell the caller what broke
        log.exception("REST request failed")
        code = grpc.StatusCode.INTERNAL.name
        status, payload = (
            HTTPStatus.INTERNAL_SERVER_ERROR,
            {"error": f"{type(error).__name__}: {error}"},
        )
    return status, payload, code


def _route(manager: ModelManager, method: str, match: re.Match, body: bytes) -> tuple[int, Any]:
    name, label, action = match["name"], match["label"], match["action"]
    version = int(match["version"]) if match["version"] else None
    if action is None:
        if method != "GET":
            raise invalid("model status is a GET request.")
        if label is not None:
            version = manager.get(name, label=label).version
        return HTTPStatus.OK, status_json(manager, name, version)
    servable = manager.get(name, version, label)
    spec = {"name": name, "version": str(servable.version)}
    if action == "/metadata":
        if method != "GET":
            raise invalid("metadata is a GET request.")
        from google.protobuf import json_format

        return HTTPStatus.OK, {
            "model_spec": {**spec, "signature_name": ""},
            "metadata": {"signature_def": json_format.MessageToDict(signature_def_map(servable))},
        }
    if method != "POST":
        raise invalid(f"{action[1:]} is a POST request.")
    if action == ":regress":
        raise RequestError(grpc.StatusCode.UNIMPLEMENTED, "tfbert models do not regress.")
    try:
        request = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise invalid(f"the request body is not valid JSON: {error}") from None
    if not isinstance(request, dict):
        raise invalid("the request body must be a JSON object.")
    if action == ":predict":
        key, signature = servable.signature(request.get("signature_name", ""))
        inputs, rows = json_predict_inputs(
            request,
            signature,
            max_examples=servable.max_request_examples,
            example_features=servable.example_features,
        )
        return HTTPStatus.OK, json_predict_outputs(servable.run(key, inputs), rows)
    key, signature = servable.signature(request.get("signature_name", ""), CLASSIFY_METHOD)
    inputs = classify_inputs(
        json_classify_input(request),
        signature,
        max_examples=servable.max_request_examples,
        example_features=servable.example_features,
    )
    outputs = servable.run(key, inputs)
    classes, scores = outputs.get(CLASSIFY_CLASSES), outputs[CLASSIFY_SCORES]
    results = [
        [
            [classes[i, j].decode("utf-8") if classes is not None else str(j), float(s)]
            for j, s in enumerate(row)
        ]
        for i, row in enumerate(scores)
    ]
    return HTTPStatus.OK, {"results": results}


# REST worker threads per usable CPU core, the default of --rest_api_num_threads. TF Serving sizes
# its REST pool from the cores too (4 per schedulable CPU in tensorflow_model_server's main.cc),
# but its C++ workers share no interpreter lock; here a worker holds the GIL for JSON and
# pre/post-processing, so more workers than cores queue on it and on TensorFlow's intra-op pool
# and lengthen the latency tail (benchmarks/serving_rest.py compares pool sizes).
REST_THREADS_PER_CPU = 2


def default_rest_threads() -> int:
    """The default REST worker pool: `REST_THREADS_PER_CPU` per CPU core this process may use
    (its affinity mask, e.g. a container's cpuset)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity call on this platform
        cpus = os.cpu_count() or 1
    return REST_THREADS_PER_CPU * cpus


@dataclasses.dataclass
class RestLimits:
    """What the REST server allows one connection (`tfbert serve` flags in brackets).

    idle_timeout: seconds a connection may stay open without delivering a complete request
    header, counted from its opening or its last answer: it covers idle keep-alive connections
    and clients that send a header slowly or never finish it (--rest_api_idle_timeout_seconds).
    body_timeout: seconds a request may take to send its body (--rest_api_timeout_in_ms).
    max_connections: connections open at once; a request on any connection beyond them is
    answered 503 (--rest_api_max_connections). threads: requests run at once (model calls,
    JSON) on worker threads off the event loop (--rest_api_num_threads; default: two per CPU
    core, `default_rest_threads()`).
    """

    max_body_bytes: int = 16 * 1024 * 1024
    idle_timeout: float = 30.0
    body_timeout: float = 30.0
    max_connections: int = 1024
    threads: int = dataclasses.field(default_factory=default_rest_threads)
