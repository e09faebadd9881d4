"""What ties a request's log lines and traces together: its request id and, when the caller sent a W3C
``traceparent`` (or tracing is on), its trace id; every log line written while the request runs carries both."""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

TRACEPARENT_HEADER = b"traceparent"
# version 00, a trace id and a parent id that are not all zeros, flags: https://www.w3.org/TR/trace-context/
_TRACEPARENT = re.compile(rb"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE = b"0" * 32
_ZERO_PARENT = b"0" * 16


@dataclass(slots=True)
class RequestContext:
    """The ids of the request being served."""

    request_id: str
    trace_id: str | None = None


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


def incoming_trace_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The trace id of a valid ``traceparent`` header (version 00), else None (a malformed one is ignored)."""
    for name, value in headers:
        if name == TRACEPARENT_HEADER:
            return trace_id_of(value)
    return None


def trace_id_of(traceparent: bytes) -> str | None:
    """The trace id of a ``traceparent`` header's value when it is valid (version 00), else None."""
    match = _TRACEPARENT.fullmatch(traceparent.strip())
    if match and match[1] != _ZERO_TRACE and match[2] != _ZERO_PARENT:
        return match[1].decode("ascii")
    return None


def log_fields() -> dict[str, str]:
    """``request_id`` and ``trace_id`` of the request being served, for a log line (empty outside requests)."""
    context = current_request.get()
    if context is None:
        return {}
    if context.trace_id is None:
        return {"request_id": context.request_id}
    return {"request_id": context.request_id, "trace_id": context.trace_id}
