"""What the real server (uvicorn, ``python -m service``) refuses before the application, and how a client that
leaves early is logged: no client can cause a 500 or grow the process without bound."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest

from tests.serving import Served, serve

HEAD_LIMIT = 32 * 1024  # REQUEST_HEAD_MAX_BYTES' default
TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(database_url: str, app: Any) -> Iterator[Served]:
    with serve(database_url, REQUEST_RECEIVE_TIMEOUT=str(TIMEOUT)) as served:
        yield served


def port_of(served: Served) -> int:
    return int(served.base_url.rsplit(":", 1)[1])


def exchange(served: Served, raw: bytes, *, timeout: float = 10) -> bytes:
    """Send ``raw`` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port_of(served)), timeout=timeout) as sock:
        sock.sendall(raw)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def parse(answer: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def assert_refusal(answer: bytes, status: int, detail: str) -> None:
    code, headers, body = parse(answer)
    assert (code, body) == (status, {"status_code": status, "detail": detail})
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["connection"] == "close"


def head_of(size: int) -> bytes:
    """A GET /health whose request line and headers are exactly ``size`` bytes."""
    start, end = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ", b"\r\n\r\n"
    return start + b"a" * (size - len(start) - len(end)) + end


def test_a_request_head_over_the_limit_gets_431_at_the_exact_size(server: Served) -> None:
    accepted = exchange(server, head_of(HEAD_LIMIT))
    assert accepted.startswith(b"HTTP/1.1 200 "), accepted[:100]
    detail = f"The request line and headers exceed {HEAD_LIMIT} bytes"
    assert_refusal(exchange(server, head_of(HEAD_LIMIT + 1)), 431, detail)
    assert_refusal(exchange(server, head_of(HEAD_LIMIT + 5)[:-4]), 431, detail)  # refused before it even ends
    # behind a small request on the same connection, in the same network read
    pipelined = exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + head_of(HEAD_LIMIT + 1))
    first, _, second = pipelined.partition(b'"database":"ok"}')
    assert first.startswith(b"HTTP/1.1 200 "), pipelined[:200]
    assert_refusal(second, 431, detail)


def send_huge_header(served: Served, size: int, answers: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port_of(served)), timeout=30) as sock:
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Huge: ")
            chunk = b"a" * (1024 * 1024)
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass  # the server refused and closed while we were still sending
        try:
            answers.append(sock.recv(65536))
        except OSError:
            answers.append(b"")


def test_huge_headers_in_parallel_leave_memory_flat(server: Served) -> None:
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss
    answers: list[bytes] = []
    senders = [threading.Thread(target=send_huge_header, args=(server, 64 * 1024 * 1024, answers)) for _ in range(6)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(60)
    grown = process.memory_info().rss - before
    assert grown < 50 * 1024 * 1024, f"the server grew by {grown / 2**20:.0f} MiB"
    assert len(answers) == 6
    assert all(answer.startswith(b"HTTP/1.1 431 ") or answer == b"" for answer in answers), answers
    assert any(answer.startswith(b"HTTP/1.1 431 ") for answer in answers)
    assert httpx.get(f"{server.base_url}/health").status_code == 200


def test_requests_that_never_arrive_whole_are_cut_with_408(server: Served) -> None:
    detail = f"The request did not arrive whole within {TIMEOUT:g} s"
    stalled_body = (
        b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}  "
    )
    started = time.monotonic()
    assert_refusal(exchange(server, stalled_body), 408, detail)
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 3
    assert_refusal(exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\n"), 408, detail)  # headers never end
    assert exchange(server, b"") == b""  # a connection that sends nothing is closed without a word
    # behind a request on the same connection: that one is answered first
    pipelined = exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n")
    first, _, second = pipelined.partition(b'"database":"ok"}')
    assert first.startswith(b"HTTP/1.1 200 "), pipelined[:200]
    assert_refusal(second, 408, detail)
    # a body that arrives within the time, in pieces, is served as usual
    body = b"username=nobody@example.com&password=not the password"
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        sock.sendall(b"POST /auth/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n")
        sock.sendall(b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body))
        sock.sendall(body[:10])
        time.sleep(TIMEOUT / 3)
        sock.sendall(body[10:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]


def test_a_malformed_request_gets_the_contracts_400(server: Served) -> None:
    assert_refusal(exchange(server, b"NOT HTTP AT ALL\r\n\r\n"), 400, "Invalid HTTP request received.")


def log_lines(served: Served) -> list[dict[str, Any]]:
    served.process.send_signal(signal.SIGTERM)
    served.process.wait(15)
    return [json.loads(line) for line in served.log().splitlines() if line.startswith("{")]


def test_a_body_that_ends_early_is_a_client_disconnect_not_a_500(database_url: str, app: Any) -> None:
    """``Content-Length: 100``, four bytes, then the client closes: one request line with status 499, no error."""
    truncated = {
        "/users": b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a"',
        "/auth/token": b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nuser",
    }
    with serve(database_url, ACCESS_LOG="1", LOG_LEVEL="INFO") as served:
        for path, rest in truncated.items():
            with socket.create_connection(("127.0.0.1", port_of(served)), timeout=10) as sock:
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n".encode() + rest)
                time.sleep(0.2)
        time.sleep(0.3)
        assert httpx.get(f"{served.base_url}/health").status_code == 200
        lines = log_lines(served)
    requests = {line["path"]: line for line in lines if line["message"] == "request" and line["method"] == "POST"}
    assert {path: requests[path]["status"] for path in truncated} == {"/users": 499, "/auth/token": 499}
    assert [line for line in lines if line["level"] in ("ERROR", "CRITICAL")] == []
    assert all("exception" not in line for line in lines)
