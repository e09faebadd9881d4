"""What the server refuses before the application sees a request: uvicorn's httptools protocol with two bounds.

httptools (llhttp) has no limit of its own: uvicorn buffered a 64 MiB header in full. Here a request line and
headers longer than ``REQUEST_HEAD_MAX_BYTES`` get a 431 and the connection is closed (what the client sends
meanwhile is read and dropped, so memory stays flat), and a request that has not arrived whole (request line,
headers and body) ``REQUEST_RECEIVE_TIMEOUT`` seconds after its first byte, or after the connection opened,
gets a 408 and is closed. Both answers, like uvicorn's own 400 for a malformed request, are the contract's JSON
error with ``X-Content-Type-Options: nosniff``. A request that arrives in one read (any plain GET) arms no timer.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from service.edge import NOSNIFF

logger = logging.getLogger("service.access")
DEFAULT_HEAD_MAX_BYTES = 32 * 1024
DEFAULT_RECEIVE_TIMEOUT = 30.0
REFUSAL_LINGER_SECONDS = 1.0
"""How long a refused connection stays open, its input dropped, so the client reads the answer before the close
(closing with unread input would reset the connection and lose the answer)."""
_REQUEST_LINE_OVERHEAD = len(b"  HTTP/1.1\r\n") + len(b"\r\n")
_HEADER_LINE_OVERHEAD = len(b": \r\n")


class ServingConfig(uvicorn.Config):
    """uvicorn's configuration with the bounds ``BoundedHttpToolsProtocol`` applies (picklable for workers)."""

    def __init__(
        self,
        app: Any,
        *,
        head_max_bytes: int = DEFAULT_HEAD_MAX_BYTES,
        receive_timeout: float = DEFAULT_RECEIVE_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, http="service.protocol:BoundedHttpToolsProtocol", **kwargs)
        self.head_max_bytes = head_max_bytes
        self.receive_timeout = receive_timeout


def error_answer(status: int, detail: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A complete HTTP/1.1 response carrying the contract's error body, closing the connection."""
    body = json.dumps({"status_code": status, "detail": detail}, separators=(",", ":")).encode()
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode()]
    headers = [
        *default_headers,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        NOSNIFF,
        (b"connection", b"close"),
    ]
    lines.extend(name + b": " + value + b"\r\n" for name, value in headers)
    return b"".join([*lines, b"\r\n", body])


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` refusing oversized request heads (431) and requests that arrive too slowly (408)."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.head_max_bytes: int = getattr(config, "head_max_bytes", DEFAULT_HEAD_MAX_BYTES)
        self.receive_timeout: float = getattr(config, "receive_timeout", DEFAULT_RECEIVE_TIMEOUT)
        self.reading_head = True  # no request's headers are complete yet
        self.head_bytes = 0  # bytes received while reading the current head (a bound, not an exact size)
        self.read_bytes = 0  # the current network read's size: a head completed in a large read is measured
        self.receiving = False  # a request has begun and is not complete
        self.refused = False  # from here on the connection's input is dropped
        self.refusal: tuple[bytes, bool] | None = None  # an answer waiting for earlier responses, and its linger
        self.receive_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.receive_timer = self.loop.call_later(self.receive_timeout, self.receive_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_receive_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        self.read_bytes = len(data)
        if self.reading_head:
            self.head_bytes += self.read_bytes
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self.refused or (self.reading_head and self.head_bytes > self.head_max_bytes):
            self.refuse(431, f"The request line and headers exceed {self.head_max_bytes} bytes", linger=True)
        elif self.receiving and self.receive_timer is None:
            self.receive_timer = self.loop.call_later(self.receive_timeout, self.receive_timed_out)

    def handle_websocket_upgrade(self) -> None:
        self.cancel_receive_timer()  # the connection is the WebSocket protocol's from here on
        super().handle_websocket_upgrade()

    def send_400_response(self, msg: str) -> None:
        self.cancel_receive_timer()
        self.transport.write(error_answer(400, msg, self.server_state.default_headers))
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.receiving = True

    def on_headers_complete(self) -> None:
        self.reading_head = False
        large = self.head_bytes > self.head_max_bytes or self.read_bytes > self.head_max_bytes
        if self.refused or (large and self.head_size() > self.head_max_bytes):
            self.refused = True  # the application never sees this request
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self.refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self.refused:
            return
        super().on_message_complete()
        self.receiving = False
        self.reading_head = True
        self.head_bytes = 0
        self.cancel_receive_timer()

    def head_size(self) -> int:
        """The current request's line and headers as sent (give or take optional whitespace)."""
        size = len(self.parser.get_method()) + len(self.url) + _REQUEST_LINE_OVERHEAD
        return size + sum(len(name) + len(value) + _HEADER_LINE_OVERHEAD for name, value in self.headers)

    def cancel_receive_timer(self) -> None:
        if self.receive_timer is not None:
            self.receive_timer.cancel()
            self.receive_timer = None

    def receive_timed_out(self) -> None:
        """The request did not arrive in time: 408 and close, unless nothing of it came (a silent close) or the
        application already answered it without waiting for the rest (close after that answer)."""
        self.receive_timer = None
        if self.transport.is_closing() or self.refused:
            return
        if not self.receiving:
            self.transport.close()  # a connection that never sent a byte of a request
            return
        detail = f"The request did not arrive whole within {self.receive_timeout:g} s"
        if self.reading_head:  # the application has not seen it; earlier requests may still be answered
            self.refuse(408, detail, linger=False)
        elif not self.cycle.response_started:  # the application waits for the body: it sees a disconnect
            self.refused = True
            self.transport.write(error_answer(408, detail, self.server_state.default_headers))
            self.transport.close()
            logger.info("request refused", extra={"fields": {"status": 408, "detail": detail}})
        elif self.cycle.response_complete:
            self.transport.close()
        else:
            self.cycle.keep_alive = False  # uvicorn closes the connection once this answer is complete

    def refuse(self, status: int, detail: str, *, linger: bool) -> None:
        """Answer ``status`` once the answers to earlier requests on this connection are complete, then close: at
        once, or after a short linger dropping whatever the client still sends (so that it reads the answer)."""
        self.refused = True
        self.cancel_receive_timer()
        self.refusal = (error_answer(status, detail, self.server_state.default_headers), linger)
        logger.info("request refused", extra={"fields": {"status": status, "detail": detail}})
        if self.cycle is None or self.cycle.response_complete:
            self.send_refusal()
            return
        answered = self.cycle.on_response  # the last request before the refused one: answered last

        def then_refuse() -> None:
            answered()
            self.send_refusal()

        self.cycle.on_response = then_refuse

    def send_refusal(self) -> None:
        if self.refusal is None or self.transport.is_closing():
            return
        answer, linger = self.refusal
        self.refusal = None
        self.transport.write(answer)
        if linger:
            self.loop.call_later(REFUSAL_LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()
