"""The REST gateway: TF Serving's routes answered like the gRPC API, and bad HTTP refused fast."""

from __future__ import annotations

import base64
import json
import re
import socket
import time

import numpy as np
import tensorflow as tf
from serving_testlib import LABELS, TEXTS, in_process, rest


def test_rest_routes_agree_with_grpc(server, exports) -> None:
    expected = in_process(exports[0] / "1", TEXTS)
    code, status = rest(server, "/v1/models/reviews")
    assert code == 200
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    code, status = rest(server, "/v1/models/reviews/versions/1")
    assert code == 200 and status["model_version_status"][0]["version"] == "1"

    code, metadata = rest(server, "/v1/models/reviews/metadata")
    assert code == 200 and metadata["model_spec"]["version"] == "1"
    assert "classify" in metadata["metadata"]["signature_def"]["signatureDef"]

    code, rows = rest(server, "/v1/models/reviews:predict", {"instances": TEXTS})
    assert code == 200
    np.testing.assert_allclose(
        [p["probabilities"] for p in rows["predictions"]], expected["probabilities"], atol=1e-6
    )
    assert [p["label"] for p in rows["predictions"]] == [s.decode() for s in expected["label"]]
    code, named = rest(
        server, "/v1/models/reviews/versions/1:predict", {"instances": [{"text": t} for t in TEXTS]}
    )
    assert code == 200 and named == rows
    code, columns = rest(server, "/v1/models/reviews:predict", {"inputs": {"text": TEXTS}})
    assert code == 200
    np.testing.assert_allclose(
        columns["outputs"]["probabilities"], expected["probabilities"], atol=1e-6
    )

    code, classified = rest(
        server,
        "/v1/models/reviews:classify",
        {"signature_name": "classify", "examples": [{"text": t} for t in TEXTS]},
    )
    assert code == 200
    assert [[c for c, _ in row] for row in classified["results"]] == [LABELS] * len(TEXTS)
    np.testing.assert_allclose(
        [[s for _, s in row] for row in classified["results"]], expected["probabilities"], atol=1e-6
    )


def test_bad_rest_requests_get_the_right_status(server) -> None:
    cases = [
        ("/v1/models/reviews:predict", b'{"instances": ["unclosed"', 400, "not valid JSON"),
        ("/v1/models/reviews:predict", b'{"instances": [1, 2]}', 400, "must be string"),
        ("/v1/models/reviews:predict", b'{"instances": []}', 400, "empty batch"),
        ("/v1/models/reviews:predict", b'{"rows": ["a"]}', 400, "instances"),
        ("/v1/models/nope:predict", b'{"instances": ["a"]}', 404, "nope"),
        ("/v1/models/reviews/versions/9:predict", b'{"instances": ["a"]}', 404, "9"),
        ("/v1/models/reviews:predict", json.dumps({"instances": ["a"] * 65}).encode(), 413, "64"),
        ("/v1/models/reviews:classify", b'{"examples": [{"text": "a"}]}', 400, "classify"),
        ("/v2/whatever", b"{}", 404, "Malformed request"),
    ]
    for path, body, code, words in cases:
        status, payload = rest(server, path, raw=body)
        assert status == code, (path, body, payload)
        assert words in payload["error"]
    status, _ = rest(server, "/v1/models/reviews:predict", {"instances": ["still up"]})
    assert status == 200


def raw_http(port: int, head: str, body: bytes = b"", *, close_write: bool = False):
    """(status, JSON error or None, seconds) of a hand-written HTTP request."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        header, _, rest = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", header)[1])
        while len(rest) < length:
            rest += sock.recv(65536)
    status = int(header.split()[1])
    return status, json.loads(rest[:length])["error"], time.monotonic() - started


def test_broken_http_is_answered_400_at_once(server) -> None:
    port = server.rest_port
    path = "/v1/models/reviews:predict"
    cases = [
        ("-1", b'{"instances": ["a"]}', "Content-Length header is '-1'"),
        ("abc", b'{"instances": ["a"]}', "Content-Length header is 'abc'"),
        ("1e3", b'{"instances": ["a"]}', "non-negative integer"),
    ]
    for value, body, words in cases:
        head = f"POST {path} HTTP/1.1\nHost: x\nContent-Length: {value}\n"
        status, error, seconds = raw_http(port, head, body)
        assert status == 400, (value, error)
        assert words in error and seconds < 5, (value, error, seconds)

    # A body that ends before its Content-Length: 400 as soon as the client stops sending.
    head = f"POST {path} HTTP/1.1\nHost: x\nContent-Length: 100\n"
    status, error, seconds = raw_http(port, head, b'{"instances"', close_write=True)
    assert status == 400 and "ended after 12 of the 100 bytes" in error and seconds < 5

    # Nesting deeper than Python's JSON parser can follow: 400, not a RecursionError's 500.
    deep = b"[" * 200_000 + b"]" * 200_000
    status, payload = rest(server, path, raw=b'{"instances": ' + deep + b"}")
    assert status == 400 and "nests JSON too deeply" in payload["error"]
    status, payload = rest(server, path, raw=b'{"instances": ' + b"[" * 80 + b"]" * 80 + b"}")
    assert status == 400 and "Traceback" not in payload["error"]

    # Larger than --max_request_mb: 413 before the body is read.
    head = f"POST {path} HTTP/1.1\nHost: x\nContent-Length: {server.options.max_request_mb << 21}\n"
    status, error, seconds = raw_http(port, head)
    assert status == 413 and "--max_request_mb" in error and seconds < 5

    status, _ = rest(server, path, {"instances": ["still up"]})
    assert status == 200


def test_rest_classify_and_predict_on_classify_say_what_is_missing(server, exports) -> None:
    status, payload = rest(
        server,
        "/v1/models/reviews:classify",
        {"signature_name": "classify", "examples": [{"text": "fine"}, {"review": "fine"}]},
    )
    assert status == 400 and "example 1 has no feature 'text'" in payload["error"]
    status, payload = rest(
        server,
        "/v1/models/reviews:classify",
        {"signature_name": "classify", "examples": [{"text": "a"}] * 65},
    )
    assert status == 413 and "limit of 64" in payload["error"]

    examples = []
    for text in TEXTS:
        example = tf.train.Example()
        example.features.feature["text"].bytes_list.value.append(text.encode())
        examples.append({"b64": base64.b64encode(example.SerializeToString()).decode()})
    status, payload = rest(
        server, "/v1/models/reviews:predict", {"signature_name": "classify", "instances": examples}
    )
    assert status == 200
    np.testing.assert_allclose(
        [row["scores"] for row in payload["predictions"]],
        in_process(exports[0] / "1", TEXTS)["probabilities"],
        atol=1e-6,
    )
    status, payload = rest(
        server, "/v1/models/reviews:predict", {"signature_name": "classify", "instances": TEXTS}
    )
    assert status == 400 and "Classify API" in payload["error"]


def test_rest_classify_refuses_plain_strings(server) -> None:
    for body in (
        {"signature_name": "classify", "examples": TEXTS},
        {"signature_name": "classify", "examples": [{"text": "fine"}, "plain text"]},
    ):
        status, payload = rest(server, "/v1/models/reviews:classify", body)
        assert status == 400, payload
        assert "feature objects" in payload["error"] and '{"text": "..."}' in payload["error"]
