"""The REST gateway: TF Serving's routes answered like the gRPC API, and bad HTTP refused fast."""

from __future__ import annotations

import json

import numpy as np
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
