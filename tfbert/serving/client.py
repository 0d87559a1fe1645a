"""Clients for a served tfbert model: TF Serving's gRPC API and its REST API.

Both work against a real `tensorflow_model_server` and against tfbert's embedded server
(`tfbert serve`), since both speak the same protocols. Texts go in as strings (the tokenizer is
inside the exported graph) and a `Prediction` comes back.

Label names: the Predict API returns `probabilities` [n, labels] but not the names of their
columns. The `classify` signature's `classes` output carries exactly those names in column order,
so the clients classify one example once per model version and cache the names.

Failures surface as `ServingError` naming the server, the model, the status (gRPC code name or
HTTP status), the server's message and a hint. Only "server not reachable" failures (gRPC
UNAVAILABLE; REST connection refused or 503) are retried, with exponential backoff: they are the
ones a restarting or still-loading server produces, and retrying anything else would just repeat
a deterministic error.

Dependencies: `RestClient` needs only numpy and the standard library, so it works in a
client-only install without TensorFlow. `GrpcClient` needs grpcio and tensorflow-serving-api,
whose message classes are built on TensorFlow's own protos and so import TensorFlow.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from tfbert.contract import (
    CLASSIFY_SIGNATURE,
    PREDICT_SIGNATURE,
    TAGGER_OUTPUTS,
    TAGGER_SIGNATURE,
    TEXT_INPUT,
    TEXT_PAIR_INPUT,
    tagged_texts,
)
from tfbert.errors import MissingDependencyError, TfbertError

DEFAULT_GRPC_PORT, DEFAULT_REST_PORT = 8500, 8501
_T = TypeVar("_T")
_C = TypeVar("_C", bound="_Client")

# gRPC status names for the HTTP statuses TF Serving's REST API maps them to.
_HTTP_CODES = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",  # over a size limit: the same request would fail again
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_HINTS = {
    "UNAVAILABLE": "Is the server running? Start one with `tfbert serve --model_base_path DIR` "
    "(or TF Serving, see serving/README.md); gRPC is usually on port 8500, REST on 8501.",
    "NOT_FOUND": "Check --model-name / available versions (the server's model status lists "
    "them: `status()`, or GET /v1/models/NAME on the REST port).",
    "DEADLINE_EXCEEDED": "The server did not answer in time; raise the timeout (--timeout) or "
    "send smaller batches.",
    "INVALID_ARGUMENT": "The request does not fit the model's signatures; is it a tfbert export "
    "(`text` strings in, see serving/README.md)? `metadata()` shows its signatures.",
    "RESOURCE_EXHAUSTED": "The message is too large or the server is overloaded; lower "
    "batch_size or raise max_message_mb.",
    "UNIMPLEMENTED": "This server does not implement that API.",
    "FAILED_PRECONDITION": "The model version is not ready; `status()` shows its state.",
}
# What gRPC reports when the other end speaks HTTP/1 (a REST port) instead of HTTP/2.
_WRONG_PROTOCOL = re.compile(r"http1\.x|http/1|parsing HTTP/2|SETTINGS frame", re.IGNORECASE)
# Errors from a Classify call that mean "no usable classify signature", not "server broken".
_NO_CLASSIFY = {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "UNIMPLEMENTED", "NOT_FOUND"}


class ServingError(TfbertError):
    """A request to a model server failed; the message says where, why and what to try."""

    def __init__(
        self,
        message: str,
        *,
        address: str = "",
        model: str = "",
        code: str | None = None,
        http_status: int | None = None,
        details: str = "",
    ) -> None:
        super().__init__(message)
        self.address, self.model = address, model
        self.code, self.http_status, self.details = code, http_status, details


@dataclass(eq=False)  # numpy fields: == would be ambiguous
class Prediction:
    """Predictions for n texts: `probabilities[i, j]` is the probability of `label_names[j]`."""

    labels: list[str]
    label_ids: np.ndarray  # int64 [n]
    probabilities: np.ndarray  # float32 [n, num_labels]
    label_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)


class _Failure(Exception):
    """One failed attempt, before it becomes a ServingError (internal)."""

    def __init__(
        self,
        code: str | None,
        details: str,
        *,
        http_status: int | None = None,
        retry: bool,
        hint: str = "",
    ) -> None:
        super().__init__(details)
        self.code, self.details, self.http_status, self.retry = code, details, http_status, retry
        self.hint = hint  # overrides the hint for `code`


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _lacks_port(hostport: str) -> bool:
    """True for `host` and `[v6]`; false for `host:port`, `[v6]:port` and bare IPv6."""
    if hostport.startswith("["):
        return "]:" not in hostport
    return ":" not in hostport


def _as_lists(
    texts: str | Sequence[str], text_pairs: str | Sequence[str] | None
) -> tuple[list[str], list[str] | None]:
    texts = [texts] if isinstance(texts, str) else list(texts)
    pairs = None
    if text_pairs is not None:
        pairs = [text_pairs] if isinstance(text_pairs, str) else list(text_pairs)
        if len(pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(pairs)} text pairs.")
    for value in texts + (pairs or []):
        if not isinstance(value, str):
            raise TypeError(f"texts must be str, got {type(value).__name__}: {value!r:.60}")
    return texts, pairs


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict) and "b64" in value:  # REST's encoding of binary strings
        return base64.b64decode(value["b64"]).decode("utf-8")
    return str(value)


def _revealed_names(num_labels: int, label_ids: list[np.ndarray], labels: list[str]) -> list[str]:
    """Column names from (label_id, label) pairs seen so far; `label_<j>` for unseen columns."""
    names = [f"label_{j}" for j in range(num_labels)]
    if labels:
        for label_id, label in zip(np.concatenate(label_ids), labels, strict=False):
            if 0 <= label_id < num_labels:
                names[int(label_id)] = label
    return names


class _Client:
    """What both protocols share: batching, label names, retries and error messages."""

    protocol = ""

    def __init__(
        self,
        address: str,
        model_name: str,
        *,
        version: int | None,
        version_label: str | None,
        timeout: float,
        retries: int,
        batch_size: int,
        backoff: float,
    ) -> None:
        if version is not None and version_label is not None:
            raise ValueError("pass either version or version_label, not both.")
        if version is not None and (not isinstance(version, int) or version <= 0):
            raise ValueError(f"version must be a positive integer, got {version!r}.")
        if batch_size <= 0 or retries < 0 or timeout <= 0:
            raise ValueError("batch_size and timeout must be positive, retries non-negative.")
        self.address, self.model_name = address, model_name
        self.version, self.version_label = version, version_label
        self.timeout, self.retries, self.batch_size, self.backoff = (
            timeout,
            retries,
            batch_size,
            backoff,
        )
        self._label_names: dict[int | None, list[str]] = {}  # per served version

    # ----- public API -------------------------------------------------------------------------
    def predict(
        self, texts: str | Sequence[str], text_pairs: str | Sequence[str] | None = None
    ) -> Prediction:
        """Labels and probabilities of `texts` (Predict API, signature `serving_default`)."""
        texts, pairs = _as_lists(texts, text_pairs)
        labels: list[str] = []
        ids, probabilities = [], []
        names: list[str] | None = None
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            chunk_pairs = None if pairs is None else pairs[start : start + self.batch_size]
            outputs, served_version = self._predict_outputs(chunk, chunk_pairs)
            if "probabilities" not in outputs:
                raise self._error(
                    "Predict",
                    _Failure(
                        None,
                        f"the response has no `probabilities` output (outputs: "
                        f"{sorted(outputs)}); is this model a tfbert export?",
                        retry=False,
                    ),
                )
            chunk_probabilities = np.asarray(outputs["probabilities"], np.float32)
            if chunk_probabilities.ndim != 2 or len(chunk_probabilities) != len(chunk):
                raise self._error(
                    "Predict",
                    _Failure(
                        None,
                        f"`probabilities` has shape {chunk_probabilities.shape} for "
                        f"{len(chunk)} texts; expected [{len(chunk)}, labels].",
                        retry=False,
                    ),
                )
            if "label_id" in outputs:
                chunk_ids = np.asarray(outputs["label_id"], np.int64).reshape(-1)
            else:
                chunk_ids = chunk_probabilities.argmax(axis=-1).astype(np.int64)
            chunk_labels = [_text(v) for v in outputs["label"]] if "label" in outputs else None
            chunk_names = self._names_for(
                served_version,
                (chunk[0], None if chunk_pairs is None else chunk_pairs[0]),
                chunk_probabilities.shape[1],
            )
            if chunk_names is None:  # no usable classify signature: name what the labels reveal
                chunk_names = _revealed_names(
                    chunk_probabilities.shape[1], ids + [chunk_ids], labels + (chunk_labels or [])
                )
                names = None
            if names is not None and chunk_names != names:
                raise self._error(
                    "Predict",
                    _Failure(
                        None,
                        "the served model changed labels between batches (a new version was "
                        "loaded mid-request); pin a version with version=N.",
                        retry=False,
                    ),
                )
            names = chunk_names
            labels += chunk_labels or [names[i] for i in chunk_ids]
            ids.append(chunk_ids)
            probabilities.append(chunk_probabilities)
        if names is None:  # no texts
            names = next(iter(self._label_names.values()), [])
        return Prediction(
            labels=labels,
            label_ids=np.concatenate(ids) if ids else np.zeros([0], np.int64),
            probabilities=(
                np.concatenate(probabilities)
                if probabilities
                else np.zeros([0, len(names)], np.float32)
            ),
            label_names=names,
        )

    def tag(self, texts: str | Sequence[str]) -> list[dict[str, Any]]:
        """Named entities in `texts` from a served NER model (Predict API): one dict per text
        with `entities` (each {"type", "start", "end", "text", "score"}, character offsets into
        the text), `words` and `tags`, as `TokenClassifier.predict_texts` gives them."""
        texts, _ = _as_lists(texts, None)
        results: list[dict[str, Any]] = []
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            outputs, _ = self._predict_outputs(chunk, None)
            missing = [name for name in TAGGER_OUTPUTS if name not in outputs]
            if missing:
                raise self._error(
                    "Predict",
                    _Failure(
                        None,
                        f"the response has no entity outputs (outputs: {sorted(outputs)}); is "
                        "this model a tfbert NER export? Classifiers answer `predict`.",
                        retry=False,
                    ),
                )
            results += tagged_texts(chunk, outputs)
        return results

    def is_tagger(self) -> bool:
        """Whether the served model is a NER export (it has the `entities` signature)."""
        return TAGGER_SIGNATURE in self.metadata()

    def classify(
        self, texts: str | Sequence[str], text_pairs: str | Sequence[str] | None = None
    ) -> list[list[tuple[str, float]]]:
        """(label, score) of every label for each text (Classify API, signature `classify`)."""
        texts, pairs = _as_lists(texts, text_pairs)
        results: list[list[tuple[str, float]]] = []
        for start in range(0, len(texts), self.batch_size):
            chunk_pairs = None if pairs is None else pairs[start : start + self.batch_size]
            results += self._classify(texts[start : start + self.batch_size], chunk_pairs)
        return results

    def metadata(self) -> dict[str, Any]:
        """The model's signature defs, {signature name: SignatureDef as a dict}."""
        raise NotImplementedError

    def status(self) -> list[dict[str, Any]]:
        """The model's versions: [{"version": int, "state": "AVAILABLE", "error": None}, ...]."""
        raise NotImplementedError

    def close(self) -> None:
        """Releases the connection; the client cannot be used afterwards."""

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r}, model_name={self.model_name!r})"

    # ----- for the protocols ------------------------------------------------------------------
    def _predict_outputs(
        self, texts: list[str], pairs: list[str] | None
    ) -> tuple[dict[str, Any], int | None]:
        """One Predict call: its outputs by name and the version that answered (if known)."""
        raise NotImplementedError

    def _classify(self, texts: list[str], pairs: list[str] | None) -> list[list[tuple[str, float]]]:
        raise NotImplementedError

    def _names_for(
        self,
        served_version: int | None,
        sample: tuple[str, str | None],
        num_labels: int,
    ) -> list[str] | None:
        """The probability columns' names for the version that answered (cached per version).

        None when the model has no usable `classify` signature (not a tfbert export).
        """
        names = self._label_names.get(served_version)
        if names is not None and len(names) == num_labels:
            return names
        try:  # the `classes` of one example are the label names, in column order
            text, text_pair = sample
            classes = self._classify([text], None if text_pair is None else [text_pair])[0]
            names = [label for label, _ in classes]
        except ServingError as error:
            if error.code not in _NO_CLASSIFY:
                raise
            names = []
        if len(names) == num_labels and all(names):
            self._label_names[served_version] = names
            return names
        return None

    def _call(self, what: str, attempt: Callable[[], _T]) -> _T:
        """Runs `attempt`, retrying with exponential backoff while the server is unreachable."""
        delay = self.backoff
        for number in range(1, self.retries + 2):
            try:
                return attempt()
            except _Failure as failure:
                if not failure.retry or number > self.retries:
                    raise self._error(what, failure, attempts=number) from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def _target(self) -> str:
        if self.version is not None:
            return f"model '{self.model_name}' version {self.version}"
        if self.version_label is not None:
            return f"model '{self.model_name}' version label '{self.version_label}'"
        return f"model '{self.model_name}'"

    def _error(self, what: str, failure: _Failure, *, attempts: int = 1) -> ServingError:
        if failure.http_status is not None:
            status = f"HTTP {failure.http_status}" + (f" {failure.code}" if failure.code else "")
        else:
            status = failure.code or "bad response"
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        details = failure.details.strip().rstrip(".") or "(no message)"
        message = (
            f"{what} for {self._target()} at {self.protocol} server {self.address} failed"
            f"{tried}: {status}: {details}"
        )
        hint = failure.hint or _HINTS.get(failure.code or "", "")
        return ServingError(
            f"{message}. {hint}" if hint else message,
            address=self.address,
            model=self.model_name,
            code=failure.code,
            http_status=failure.http_status,
            details=failure.details,
        )


class GrpcClient(_Client):
    """TF Serving's gRPC API (PredictionService and ModelService), usually on port 8500."""

    protocol = "gRPC"

    def __init__(
        self,
        address: str = f"localhost:{DEFAULT_GRPC_PORT}",
        model_name: str = "tfbert",
        *,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        batch_size: int = 64,
        max_message_mb: float = 64,
        backoff: float = 0.2,
    ) -> None:
        address = address.removeprefix("grpc://").rstrip("/")
        if _lacks_port(address):
            address = f"{address}:{DEFAULT_GRPC_PORT}"
        super().__init__(
            address,
            model_name,
            version=version,
            version_label=version_label,
            timeout=timeout,
            retries=retries,
            batch_size=batch_size,
            backoff=backoff,
        )
        try:
            import grpc
            from tensorflow_serving.apis import (
                model_service_pb2_grpc,
                prediction_service_pb2_grpc,
            )
        except ImportError as error:
            raise MissingDependencyError(
                f"the gRPC client needs grpcio and tensorflow-serving-api, which brings "
                f"TensorFlow ({error}); pip install 'tfbert[serving]', or use the REST client, "
                "which needs neither (RestClient, protocol='rest', or --rest)."
            ) from None
        self._grpc = grpc
        size = int(max_message_mb * 1024 * 1024)
        options = [
            ("grpc.max_send_message_length", size),
            ("grpc.max_receive_message_length", size),
            # Reconnect soon after a refused connection, so retries can reach a server that
            # has just come up instead of failing fast inside gRPC's (1 s+) reconnect backoff.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        if _is_loopback(address.rsplit(":", 1)[0]):
            options.append(("grpc.enable_http_proxy", 0))  # never send local traffic to a proxy
        self._channel = grpc.insecure_channel(address, options=options)
        self._predictions = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _rpc(self, what: str, method: Callable[..., _T], request: Any) -> _T:
        def attempt() -> _T:
            try:
                return method(request, timeout=self.timeout)
            except self._grpc.RpcError as error:
                code = error.code() if hasattr(error, "code") else None
                name = code.name if code is not None else "UNKNOWN"
                details = (error.details() if hasattr(error, "details") else str(error)) or ""
                if _WRONG_PROTOCOL.search(details):  # deterministic: do not retry
                    raise _Failure(name, details, retry=False, hint=self._rest_port_hint) from None
                raise _Failure(
                    name, details, retry=code == self._grpc.StatusCode.UNAVAILABLE
                ) from None

        return self._call(what, attempt)

    @property
    def _rest_port_hint(self) -> str:
        return (
            f"{self.address} does not speak gRPC (HTTP/2); is it a REST port? Use the gRPC port "
            f"(usually {DEFAULT_GRPC_PORT}) or the REST client (--rest)."
        )

    def _spec(self, spec: Any, signature: str | None = None, *, label: bool = True) -> None:
        spec.name = self.model_name
        if self.version is not None:
            spec.version.value = self.version
        elif self.version_label is not None and label:
            spec.version_label = self.version_label
        if signature is not None:
            spec.signature_name = signature

    @staticmethod
    def _served_version(response: Any) -> int | None:
        spec = response.model_spec
        return spec.version.value if spec.HasField("version") else None

    def _predict_outputs(
        self, texts: list[str], pairs: list[str] | None
    ) -> tuple[dict[str, Any], int | None]:
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, PREDICT_SIGNATURE)
        request.inputs[TEXT_INPUT].CopyFrom(tf.make_tensor_proto(texts, dtype=tf.string))
        if pairs is not None:
            request.inputs[TEXT_PAIR_INPUT].CopyFrom(tf.make_tensor_proto(pairs, dtype=tf.string))
        response = self._rpc("Predict", self._predictions.Predict, request)
        outputs = {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
        return outputs, self._served_version(response)

    def _classify(self, texts: list[str], pairs: list[str] | None) -> list[list[tuple[str, float]]]:
        import tensorflow as tf
        from tensorflow_serving.apis import classification_pb2

        request = classification_pb2.ClassificationRequest()
        self._spec(request.model_spec, CLASSIFY_SIGNATURE)
        for index, text in enumerate(texts):
            feature = request.input.example_list.examples.add().features.feature
            feature[TEXT_INPUT].CopyFrom(
                tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode("utf-8")]))
            )
            if pairs is not None:
                feature[TEXT_PAIR_INPUT].CopyFrom(
                    tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[pairs[index].encode("utf-8")])
                    )
                )
        response = self._rpc("Classify", self._predictions.Classify, request)
        return [
            [(entry.label, float(entry.score)) for entry in classification.classes]
            for classification in response.result.classifications
        ]

    def metadata(self) -> dict[str, Any]:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        response = self._rpc("GetModelMetadata", self._predictions.GetModelMetadata, request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        if "signature_def" in response.metadata:
            response.metadata["signature_def"].Unpack(signatures)
        return _signature_dict(signatures, json_format)

    def status(self) -> list[dict[str, Any]]:
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, label=False)  # GetModelStatus takes no version labels
        response = self._rpc("GetModelStatus", self._models.GetModelStatus, request)
        state_name = get_model_status_pb2.ModelVersionStatus.State.Name
        result = []
        for version_status in response.model_version_status:
            error = version_status.status
            code_enum = error.DESCRIPTOR.fields_by_name["error_code"].enum_type
            code = code_enum.values_by_number.get(error.error_code)
            code_name = code.name if code is not None else str(error.error_code)
            result.append(
                {
                    "version": int(version_status.version),
                    "state": state_name(version_status.state),
                    "error": None
                    if error.error_code == 0
                    else f"{code_name}: {error.error_message}",
                }
            )
        return result


def _signature_dict(signatures: Any, json_format: Any) -> dict[str, Any]:
    """A SignatureDefMap as {name: dict} with proto field names (as TF Serving's REST API)."""
    return json_format.MessageToDict(signatures, preserving_proto_field_name=True).get(
        "signature_def", {}
    )


# Fields of a SignatureDefMap whose keys are names chosen by the model (maps), not field names.
_MAP_FIELDS = frozenset({"signature_def", "inputs", "outputs", "defaults"})


def _proto_field_names(message: dict[str, Any]) -> dict[str, Any]:
    """A SignatureDefMap in JSON with proto field names (`method_name`), however it was written.

    The protobuf JSON form uses lowerCamelCase (`methodName`), TF Serving's REST API the proto
    names; map keys (signature and tensor names) are kept as they are. This needs no protos,
    so the REST client reads metadata without TensorFlow.
    """

    def snake(name: str) -> str:
        return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return _proto_field_names(value)
        if isinstance(value, list):
            return [convert(item) for item in value]
        return value

    result: dict[str, Any] = {}
    for key, value in message.items():
        name = snake(key)
        if name in _MAP_FIELDS and isinstance(value, dict):
            result[name] = {entry: convert(item) for entry, item in value.items()}
        else:
            result[name] = convert(value)
    return result


class RestClient(_Client):
    """TF Serving's REST API (`/v1/models/...`), usually on port 8501; standard library only."""

    protocol = "REST"

    def __init__(
        self,
        address: str = f"localhost:{DEFAULT_REST_PORT}",
        model_name: str = "tfbert",
        *,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        batch_size: int = 64,
        backoff: float = 0.2,
    ) -> None:
        address = address.rstrip("/")
        if not address.startswith(("http://", "https://")):
            if _lacks_port(address):
                address = f"{address}:{DEFAULT_REST_PORT}"
            address = f"http://{address}"
        super().__init__(
            address,
            model_name,
            version=version,
            version_label=version_label,
            timeout=timeout,
            retries=retries,
            batch_size=batch_size,
            backoff=backoff,
        )
        host = urllib.parse.urlsplit(address).hostname or ""
        # Local servers are never behind the proxy an environment's http_proxy names.
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(host) else []
        self._opener = urllib.request.build_opener(*handlers)

    def _model_url(self, *, label: bool = True) -> str:
        url = f"{self.address}/v1/models/{urllib.parse.quote(self.model_name, safe='')}"
        if self.version is not None:
            url += f"/versions/{self.version}"
        elif self.version_label is not None and label:
            url += f"/labels/{urllib.parse.quote(self.version_label, safe='')}"
        return url

    def _request(self, what: str, url: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            url,
            data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )

        def attempt() -> Any:
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    payload = response.read()
            except urllib.error.HTTPError as error:
                raise self._http_failure(error) from None
            except urllib.error.URLError as error:
                reason = error.reason
                if isinstance(reason, TimeoutError):
                    raise _Failure(
                        "DEADLINE_EXCEEDED", f"no answer within {self.timeout}s", retry=False
                    ) from None
                raise _Failure(
                    "UNAVAILABLE",
                    f"cannot connect: {reason}",
                    retry=isinstance(reason, ConnectionRefusedError),
                ) from None
            except TimeoutError:
                raise _Failure(
                    "DEADLINE_EXCEEDED", f"no answer within {self.timeout}s", retry=False
                ) from None
            except (http.client.HTTPException, ConnectionError) as error:
                # A gRPC port answers an HTTP/1.1 request with HTTP/2 frames (or hangs up).
                raise _Failure(
                    "UNAVAILABLE",
                    f"no HTTP/1.1 answer ({type(error).__name__})",
                    retry=False,
                    hint=f"Is {self.address} a gRPC port? TF Serving's REST API is usually on "
                    f"port {DEFAULT_REST_PORT}; or drop --rest to use gRPC.",
                ) from None
            try:
                return json.loads(payload)
            except ValueError:
                raise _Failure(
                    None, f"the answer is not JSON: {payload[:200]!r}", retry=False
                ) from None

        return self._call(what, attempt)

    @staticmethod
    def _http_failure(error: urllib.error.HTTPError) -> _Failure:
        raw = error.read() if error.fp is not None else b""
        try:
            details = json.loads(raw)["error"]
        except (ValueError, KeyError, TypeError):
            details = raw.decode("utf-8", "replace")[:500] or str(error.reason)
        return _Failure(
            _HTTP_CODES.get(error.code),
            str(details),
            http_status=error.code,
            retry=error.code == 503,
        )

    def _predict_outputs(
        self, texts: list[str], pairs: list[str] | None
    ) -> tuple[dict[str, Any], int | None]:
        instances: list[Any] = (
            list(texts)
            if pairs is None
            else [{TEXT_INPUT: t, TEXT_PAIR_INPUT: p} for t, p in zip(texts, pairs, strict=True)]
        )
        body = {"signature_name": PREDICT_SIGNATURE, "instances": instances}
        answer = self._request("Predict", f"{self._model_url()}:predict", body)
        if isinstance(answer, dict) and "predictions" in answer:
            rows = answer["predictions"]
            if rows and isinstance(rows[0], dict):  # several outputs: one dict per instance
                outputs = {name: [row[name] for row in rows] for name in rows[0]}
            else:  # a single output: the rows are its values
                outputs = {"probabilities": rows}
        elif isinstance(answer, dict) and "outputs" in answer:  # columnar ("inputs") format
            columns = answer["outputs"]
            outputs = columns if isinstance(columns, dict) else {"probabilities": columns}
        else:
            raise self._error(
                "Predict",
                _Failure(None, f"unexpected answer {str(answer)[:200]}", retry=False),
            )
        return outputs, None  # the REST answer does not say which version served it

    def _classify(self, texts: list[str], pairs: list[str] | None) -> list[list[tuple[str, float]]]:
        examples = [
            {TEXT_INPUT: text}
            if pairs is None
            else {TEXT_INPUT: text, TEXT_PAIR_INPUT: pairs[index]}
            for index, text in enumerate(texts)
        ]
        body = {"signature_name": CLASSIFY_SIGNATURE, "examples": examples}
        answer = self._request("Classify", f"{self._model_url()}:classify", body)
        try:
            return [
                [(_text(label), float(score)) for label, score in row] for row in answer["results"]
            ]
        except (KeyError, TypeError, ValueError):
            raise self._error(
                "Classify", _Failure(None, f"unexpected answer {str(answer)[:200]}", retry=False)
            ) from None

    def metadata(self) -> dict[str, Any]:
        answer = self._request("GetModelMetadata", f"{self._model_url()}/metadata")
        try:
            signatures = _proto_field_names(answer["metadata"]["signature_def"])
            return signatures.get("signature_def", {})  # the same form as GrpcClient's
        except (KeyError, TypeError, AttributeError) as error:
            raise self._error(
                "GetModelMetadata",
                _Failure(None, f"unexpected answer ({error}): {str(answer)[:200]}", retry=False),
            ) from None

    def status(self) -> list[dict[str, Any]]:
        answer = self._request("GetModelStatus", self._model_url())
        result = []
        for entry in answer.get("model_version_status", []):
            error = entry.get("status", {})
            code = error.get("error_code", "OK")
            result.append(
                {
                    "version": int(entry["version"]),
                    "state": entry.get("state", "UNKNOWN"),
                    "error": None if code == "OK" else f"{code}: {error.get('error_message', '')}",
                }
            )
        return result


def PredictionClient(  # a factory named like the classes it returns
    address: str,
    model_name: str = "tfbert",
    *,
    protocol: str | None = None,
    **kwargs: Any,
) -> GrpcClient | RestClient:
    """A client for `address`: gRPC by default, REST for `protocol="rest"` or http(s):// URLs.

    kwargs go to the client (version, version_label, timeout, retries, batch_size, ...).
    """
    is_url = address.startswith(("http://", "https://"))
    if protocol is None:
        protocol = "rest" if is_url else "grpc"
    protocol = protocol.lower()
    if protocol == "rest":
        return RestClient(address, model_name, **kwargs)
    if protocol == "grpc":
        if is_url:
            raise ValueError(
                f"{address} is an HTTP URL but protocol='grpc'; pass HOST:PORT for gRPC "
                "or protocol='rest'."
            )
        return GrpcClient(address, model_name, **kwargs)
    raise ValueError(f"protocol must be 'grpc' or 'rest', got {protocol!r}.")
