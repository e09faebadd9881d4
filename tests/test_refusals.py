"""How the real server (uvicorn, ``python -m service``) logs a client that leaves early: no client can cause a
500."""

from __future__ import annotations

import json
import signal
import socket
import time
from typing import Any

import httpx

from tests.serving import Served, serve


def port_of(served: Served) -> int:
    return int(served.base_url.rsplit(":", 1)[1])


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
