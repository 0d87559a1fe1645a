"""The REST server as a long-running process: slow and idle clients, the connection cap,
client disconnects. Real sockets against a server with short timeouts."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from serving_testlib import rest

from tfbert.serving.models import ModelConfig
from tfbert.serving.server import ModelServer, ServerOptions

PREDICT = "/v1/models/reviews:predict"
TIMEOUT = 1.0  # the idle and body timeouts of the server under test
CAP = 210  # its connection cap


@pytest.fixture(scope="module")
def strict(exports):
    options = ServerOptions(
        port=0,
        rest_api_port=0,
        file_system_poll_wait_seconds=0,
        rest_api_idle_timeout_seconds=TIMEOUT,
        rest_api_timeout_in_ms=int(TIMEOUT * 1000),
        rest_api_max_connections=CAP,
        rest_api_num_threads=4,
    )
    with ModelServer([ModelConfig("reviews", exports[0])], options) as srv:
        yield srv


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.rest_port), timeout=10)


def wait_for_connections(server, count: int, within: float = 10.0) -> int:
    """The server's open REST connections once they reach `count` (or after `within` s)."""
    give_up = time.monotonic() + within
    while server.rest_connections != count and time.monotonic() < give_up:
        time.sleep(0.05)
    return server.rest_connections


def closed_by_server(sock: socket.socket) -> bytes | None:
    """What the server sent before closing the connection (None if it is still open)."""
    sock.settimeout(5 * TIMEOUT)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return data


def test_idle_and_half_header_clients_are_dropped_after_the_timeout(strict) -> None:
    base = wait_for_connections(strict, 0)
    idle = [connect(strict) for _ in range(10)]
    half = [connect(strict) for _ in range(10)]
    for sock in half:
        sock.sendall(b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Le")
    assert wait_for_connections(strict, base + 20) == base + 20
    for sock in idle + half:
        assert closed_by_server(sock) is not None  # not held open
        sock.close()
    assert wait_for_connections(strict, base) == base


def test_a_stalled_body_gets_408_and_its_connection_is_closed(strict) -> None:
    base = wait_for_connections(strict, 0)
    socks = [connect(strict) for _ in range(20)]
    started = time.monotonic()
    for sock in socks:
        head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        sock.sendall(head.encode() + b'{"instances": [')
    answers = [closed_by_server(sock) for sock in socks]
    assert time.monotonic() - started < 20 * TIMEOUT
    for answer in answers:
        assert answer is not None and answer.startswith(b"HTTP/1.1 408")
        assert b"15 of its 1000 bytes arrived" in answer
    for sock in socks:
        sock.close()
    assert wait_for_connections(strict, base) == base


def test_requests_are_answered_while_200_idle_connections_are_open(strict) -> None:
    base = wait_for_connections(strict, 0)
    idle = [connect(strict) for _ in range(200)]
    try:
        assert wait_for_connections(strict, base + 200) == base + 200
        status, payload = rest(strict, PREDICT, {"instances": ["open and still answering"]})
        assert status == 200 and len(payload["predictions"]) == 1

        # Beyond the cap a request is answered 503 (and its connection closed).
        extra = [connect(strict) for _ in range(CAP - 200 + 5)]
        time.sleep(0.2)
        over = extra[-1]
        over.sendall(b"GET /v1/models/reviews HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = closed_by_server(over)
        assert answer is not None and answer.startswith(b"HTTP/1.1 503")
        assert b"--rest_api_max_connections" in answer
        for sock in extra:
            sock.close()
    finally:
        for sock in idle:
            sock.close()
    assert wait_for_connections(strict, base) == base
    status, _ = rest(strict, PREDICT, {"instances": ["after the crowd left"]})
    assert status == 200


def test_client_resets_leave_no_traceback_in_the_log(strict, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    body = b'{"instances": ["' + b"a" * 200_000 + b'"]}'
    for _ in range(5):
        sock = connect(strict)
        head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body[:1000])
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # SO_LINGER 0: a reset, not a clean close
    time.sleep(2 * TIMEOUT)
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    status, _ = rest(strict, PREDICT, {"instances": ["still fine"]})
    assert status == 200


def test_a_chunked_body_is_refused_with_411(strict) -> None:
    sock = connect(strict)
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    sock.sendall(head.encode() + b"5\r\nhello\r\n0\r\n\r\n")
    answer = closed_by_server(sock)
    sock.close()
    assert answer is not None and answer.startswith(b"HTTP/1.1 411")
    assert b"Content-Length" in answer
