"""The REST server of `tfbert serve`: TF Serving's REST API (`rest`) on aiohttp's HTTP server.

aiohttp parses HTTP, keeps connections alive and times out idle ones; this module adds what a
long-running model server needs on top: a body read timeout, a cap on open connections (503
beyond it), 413 before an oversized body is read, JSON answers (not tracebacks) to malformed
requests, model calls on worker threads so the event loop never waits for a model, and a
graceful stop that lets requests in flight finish.

    gateway = RestGateway(("127.0.0.1", 8501), manager, RestLimits(max_connections=256))
    port = gateway.start()
    ...
    cut = gateway.stop(grace=20)   # requests still running when the grace ran out
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

import grpc
from aiohttp import web

from tfbert.serving.metrics import ServerMetrics
from tfbert.serving.models import ModelManager
from tfbert.serving.protocol import RequestError, invalid, too_large
from tfbert.serving.rest import JSON_TYPE, RestLimits, rest_answer

log = logging.getLogger("tfbert.serving")


_CUT_WAIT = 2.0  # seconds aiohttp gives a request cut at the end of the grace before cancelling it


class RestGateway:
    """TF Serving's REST API on aiohttp's HTTP server, run by an event loop in its own thread.

    The loop only moves bytes (headers, bodies, answers); models run on a pool of
    `limits.threads` worker threads. `start()` binds and returns the port (OSError if it cannot);
    `stop(grace)` stops accepting, lets requests in flight finish for up to `grace` seconds and
    returns how many it had to cut.
    """

    def __init__(
        self,
        address: tuple[str, int],
        manager: ModelManager,
        limits: RestLimits,
        *,
        metrics: ServerMetrics | None = None,
        metrics_path: str | None = None,
    ) -> None:
        self.address = address
        self.manager = manager
        self.limits = limits
        self.metrics = metrics
        self.metrics_path = metrics_path if metrics is not None else None
        self.port: int | None = None
        self.in_flight = 0  # requests between their header and their answer
        self.draining = False
        self._server: _HttpServer | None = None
        self._runner: Any = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tfbert-rest", daemon=True
        )
        self._pool = ThreadPoolExecutor(limits.threads, thread_name_prefix="tfbert-rest-worker")

    @property
    def open_connections(self) -> int:
        """Connections open right now (idle keep-alive ones included)."""
        server = self._server
        return len(server.connections) if server is not None else 0

    def start(self) -> int:
        self._thread.start()
        try:
            self.port = asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()
        except BaseException:
            self._close_loop()
            raise
        return self.port

    def stop(self, grace: float) -> int:
        """Stops accepting, finishes requests in flight within `grace` s; returns how many were
        cut."""
        if not self._thread.is_alive():
            return 0
        try:
            drain = asyncio.run_coroutine_threadsafe(self._drain(grace), self._loop)
            return drain.result()
        finally:
            self._close_loop()

    async def _open(self) -> int:
        limits = self.limits
        self._server = _HttpServer(
            self._handle,
            self,
            keepalive_timeout=limits.idle_timeout,
            access_log=None,
            auto_decompress=False,  # a body is limited by its size on the wire
            lingering_time=min(2.0, limits.body_timeout),
            logger=log,
        )
        self._runner = web.ServerRunner(self._server, shutdown_timeout=_CUT_WAIT)
        await self._runner.setup()
        host, port = self.address
        site = web.TCPSite(self._runner, host, port, reuse_address=True, backlog=512)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        return self._runner.addresses[0][1]

    async def _drain(self, grace: float) -> int:
        loop = asyncio.get_running_loop()
        for site in list(self._runner.sites):
            await site.stop()  # no new connections
        self.draining = True  # busy connections close after their answer
        for connection in self._server.connections:
            connection.close_if_idle()
        deadline = loop.time() + grace
        while self.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.02)
        cut = self.in_flight
        await self._runner.cleanup()
        return cut

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _handle(self, request: Any) -> Any:
        connection: _Connection = request.protocol
        if connection.over_limit:
            connection.answered = True
            return _error_response(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"the server has its {self.limits.max_connections} connections open "
                "(--rest_api_max_connections); retry later or reuse a connection.",
            )
        self.in_flight += 1
        connection.busy = True
        try:
            body, refused = b"", None
            if request.method == "POST":
                connection.reading = request
                if connection.eof:
                    request.content.feed_eof()
                try:
                    body = await self._read_body(request)
                except RequestError as error:
                    refused = error
                finally:
                    connection.reading = None
            status, data, content_type = await asyncio.get_running_loop().run_in_executor(
                self._pool,
                functools.partial(
                    rest_answer,
                    self.manager,
                    request.method,
                    request.raw_path,
                    body,
                    refused=refused,
                    metrics=self.metrics,
                    metrics_path=self.metrics_path,
                ),
            )
            response = web.Response(
                status=status, body=data, headers={"Content-Type": content_type}
            )
            if refused is not None or self.draining:  # framing lost (body unread), or stopping
                response.force_close()
            return response
        finally:
            connection.busy = False
            self.in_flight -= 1

    async def _read_body(self, request: Any) -> bytes:
        """The body of a POST, refused before reading when its size is not acceptable."""
        if request.headers.get("Transfer-Encoding"):
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "chunked request bodies are not supported; send a Content-Length header.",
                http_status=HTTPStatus.LENGTH_REQUIRED,
            )
        length = request.content_length
        if not length:
            return b""
        limit = self.limits.max_body_bytes
        if length > limit:
            raise too_large(
                f"the request body has {length} bytes, more than the server's limit of "
                f"{limit} (--max_request_mb)."
            )
        chunks: list[bytes] = []
        received = 0

        async def read() -> None:
            nonlocal received
            while received < length:
                chunk = await request.content.read(min(length - received, 1 << 20))
                if not chunk:
                    return
                chunks.append(chunk)
                received += len(chunk)

        timeout = self.limits.body_timeout
        try:
            await asyncio.wait_for(read(), timeout)
        except asyncio.TimeoutError:
            raise RequestError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"the request body stalled: {received} of its {length} bytes arrived in "
                f"{timeout:g} s (--rest_api_timeout_in_ms).",
                http_status=HTTPStatus.REQUEST_TIMEOUT,
            ) from None
        if received != length:
            raise invalid(
                f"the request body ended after {received} of the {length} bytes its "
                "Content-Length announced."
            )
        return b"".join(chunks)


def _error_response(status: int, message: str) -> Any:
    data = json.dumps({"error": message}, ensure_ascii=False).encode("utf-8")
    response = web.Response(status=status, body=data, headers={"Content-Type": JSON_TYPE})
    response.force_close()
    return response


_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:[ \t]*([^\r\n]*)")


def _framing_error(head: bytes, reason: str) -> str:
    """What to tell a client whose request aiohttp's parser refused."""
    declared = _CONTENT_LENGTH.search(head)
    if declared is not None:
        value = declared[1].strip().decode("latin-1")
        if not value.isdigit():  # also "-1", "+5" and "1e3"
            return (
                f"the Content-Length header is {value!r}; it must be the body's size in bytes "
                "(a non-negative integer)."
            )
    return (
        f"malformed HTTP request ({reason}); send HTTP/1.1 with a valid request line and headers."
    )


class _Connection(web.RequestHandler):
    """aiohttp's connection protocol, with what tfbert adds: the connection cap, JSON
    answers to malformed requests (one debug line, no traceback), and an answer to a
    client that stops sending mid-body."""

    def __init__(self, manager: Any, *, gateway: RestGateway, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.gateway = gateway
        self.over_limit = False
        self.answered = False
        self.busy = False
        self.reading: Any = None  # the request whose body is being read
        self.eof = False  # the client has stopped sending
        self.head = b""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if self.gateway.open_connections > self.gateway.limits.max_connections:
            self.over_limit = True  # its first request is answered 503
            asyncio.get_running_loop().call_later(1.0, self._drop_unless_answered)

    def _drop_unless_answered(self) -> None:
        if not self.answered:
            self.force_close()

    def data_received(self, data: bytes) -> None:
        if not self.busy:
            self.head = data[:16384]  # for the message if the parser refuses it
        super().data_received(data)

    def idle(self) -> bool:
        """True while no request is running or parsed and waiting (aiohttp's state)."""
        return self._waiter is not None and not self._messages

    def close_if_idle(self) -> None:
        # Not aiohttp's close() on a busy connection: it would drop the rest of a body.
        if self.idle():
            self.close()

    def eof_received(self) -> bool | None:
        self.eof = True
        if self.idle():
            return None  # nothing to answer: close
        if self.reading is not None:
            self.reading.content.feed_eof()  # the body ends here; the handler says so
        self.close()  # after this answer
        return True  # keep the sending side open for the answer

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> Any:
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had started; the connection is dropped")
        reason = message or (str(exc) if exc else HTTPStatus(status).phrase)
        if status >= 500:
            log.error("REST request failed: %s", reason)
            text = f"{type(exc).__name__ if exc else 'error'}: {reason}"
        else:
            log.debug("REST request refused (%d): %s", status, reason)
            text = _framing_error(self.head, reason)
        return _error_response(status, text)


class _HttpServer(web.Server):
    """aiohttp's low-level server making tfbert's connections."""

    def __init__(self, handler: Any, gateway: RestGateway, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.gateway = gateway
        self.connection_options = kwargs

    def __call__(self) -> Any:
        return _Connection(
            self,
            loop=asyncio.get_running_loop(),
            gateway=self.gateway,
            **self.connection_options,
        )
