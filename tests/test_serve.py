"""The real thing: ``python -m service serve`` under uvicorn, over HTTP, with its logs and a clean SIGTERM."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator

import httpx
import pytest

from tests.serving import Served, serve


@pytest.fixture
def server(database_url: str, app: object) -> Iterator[Served]:
    with serve(database_url, SQL_LOG="1", ACCESS_LOG="1", LOG_LEVEL="INFO", SHUTDOWN_GRACE_SECONDS="5") as served:
        yield served


def test_serves_http_logs_each_request_and_stops_cleanly_on_sigterm(server: Served) -> None:
    base_url, process = server.base_url, server.process
    password = "a very secret passphrase"
    with httpx.Client(base_url=base_url) as http:
        signup = http.post("/users", json={"name": "Ada", "email": "ada@example.com", "password": password})
        assert signup.status_code == 201, signup.text
        token = http.post("/auth/token", data={"username": "ada@example.com", "password": password})
        assert token.status_code == 200
        access_token = token.json()["access_token"]
        me = http.get("/users/me", headers={"Authorization": f"Bearer {access_token}", "X-Request-ID": "trace-me-1"})
        assert me.status_code == 200
        assert me.headers["x-request-id"] == "trace-me-1"
        assert http.get("/docs").status_code == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    log = server.log()

    records = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is one JSON object
    started = next(n for n, record in enumerate(records) if record["message"] == "Application startup complete.")
    assert not [r for r in records[:started] if "shutdown" in r["message"].lower()], records[:started]
    requests = [r for r in records if r["logger"] == "service.access"]
    me_line = next(r for r in requests if r["request_id"] == "trace-me-1")
    assert {"method", "path", "status", "duration_ms", "queries", "request_id"} <= set(me_line)
    assert (me_line["method"], me_line["path"], me_line["status"], me_line["queries"]) == ("GET", "/users/me", 200, 1)
    sql = [r for r in records if r["logger"] == "service.sql"]
    assert any('INSERT INTO "users"' in r["message"] and " ms " in r["message"] for r in sql)
    for secret in (password, access_token, "$argon2"):
        assert secret not in log
    assert any(r["message"] == "database pool closed" for r in records)
