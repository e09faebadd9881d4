"""Request ids across hops: a sane incoming X-Request-ID is kept and echoed, anything else replaced; the id (and the
trace id of a valid W3C traceparent) is in every log line the request writes."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from service.correlation import incoming_trace_id
from service.observability import JsonFormatter
from tests.conftest import MakeUser

GENERATED = re.compile(r"[0-9a-f]{24}")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


class Lines(logging.Handler):
    """Every log record, formatted as the service writes it, parsed back."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.entries: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines() -> Iterator[list[dict[str, Any]]]:
    """The service's log lines during the test, with the access log and the SQL log on."""
    handler = Lines()
    root = logging.getLogger()
    loggers = [logging.getLogger("service.access"), logging.getLogger("service.sql")]
    levels = [logger.level for logger in loggers]
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.INFO)
    try:
        yield handler.entries
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def get(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[bytes, bytes]]:
    """One GET through the ASGI app with exactly these raw headers (bytes no HTTP client would send included)."""
    answer: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], dict(message["headers"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    await app(scope, receive, send)
    return answer["status"], answer["headers"]


async def test_a_sane_request_id_is_kept_echoed_and_in_every_log_line(
    app: Any, make_user: MakeUser, log_lines: list[dict[str, Any]]
) -> None:
    user = await make_user()
    log_lines.clear()
    sent = "edge-7f3a.b_2:9"
    headers = [(b"x-request-id", sent.encode()), (b"traceparent", TRACEPARENT.encode())]
    status, answered = await get(app, f"/users/{user.id}", headers)
    assert status == 200
    assert answered[b"x-request-id"] == sent.encode()
    loggers = [entry["logger"] for entry in log_lines]
    assert sorted(loggers) == ["service.access", "service.sql"]
    for entry in log_lines:
        assert entry["request_id"] == sent, entry
        assert entry["trace_id"] == TRACE_ID, entry


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"x" * 65,
        b"two words",
        b"id\n",
        b"line\r\nx-injected: 1",
        b"\xc3\xa9t\xc3\xa9",
        b"semi;colon",
        b"<script>",
    ],
    ids=["empty", "too-long", "space", "trailing-newline", "crlf", "non-ascii", "semicolon", "markup"],
)
async def test_anything_else_is_replaced_by_a_generated_id(
    app: Any, sent: bytes, log_lines: list[dict[str, Any]]
) -> None:
    status, answered = await get(app, "/tags", [(b"x-request-id", sent)])
    assert status == 200
    replaced = answered[b"x-request-id"].decode()
    assert GENERATED.fullmatch(replaced), replaced
    assert [entry["request_id"] for entry in log_lines if entry["logger"] == "service.access"] == [replaced]


async def test_without_an_id_each_request_gets_its_own(app: Any) -> None:
    ids = {(await get(app, "/tags", []))[1][b"x-request-id"] for _ in range(3)}
    assert len(ids) == 3


async def test_lines_outside_requests_carry_no_ids(app: Any, log_lines: list[dict[str, Any]]) -> None:
    await get(app, "/tags", [(b"x-request-id", b"first")])
    logging.getLogger("service.access").info("between requests")
    assert log_lines[-1]["message"] == "between requests"
    assert "request_id" not in log_lines[-1]
    assert "trace_id" not in log_lines[-1]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (TRACEPARENT.encode(), TRACE_ID),
        (f" {TRACEPARENT} ".encode(), TRACE_ID),
        (f"00-{'0' * 32}-00f067aa0ba902b7-01".encode(), None),  # all-zero trace id
        (f"00-{TRACE_ID}-{'0' * 16}-01".encode(), None),  # all-zero parent id
        (f"ff-{TRACE_ID}-00f067aa0ba902b7-01".encode(), None),  # the forbidden version
        (f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01".encode(), None),  # upper-case hex is invalid
        (f"00-{TRACE_ID}-00f067aa0ba902b7".encode(), None),  # no flags
        (f"00-{TRACE_ID}-00f067aa0ba902b7-01-extra".encode(), None),
        (b"garbage", None),
    ],
)
def test_only_a_valid_traceparent_gives_a_trace_id(header: bytes, expected: str | None) -> None:
    assert incoming_trace_id([(b"host", b"x"), (b"traceparent", header)]) == expected


async def test_a_malformed_traceparent_leaves_the_lines_without_a_trace_id(
    app: Any, log_lines: list[dict[str, Any]]
) -> None:
    await get(app, "/tags", [(b"traceparent", b"00-nothex-00f067aa0ba902b7-01")])
    access = [entry for entry in log_lines if entry["logger"] == "service.access"]
    assert len(access) == 1
    assert GENERATED.fullmatch(access[0]["request_id"])
    assert "trace_id" not in access[0]
