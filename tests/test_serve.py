"""The real thing: ``python -m service serve`` under uvicorn, over HTTP, with its logs and a clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(base_url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the server exited with {process.returncode}: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer /health in time")


@pytest.fixture
def server(database_url: str, app: object) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MIGRATE_ON_START": "0",
        "PORT": str(port),
        "SQL_LOG": "1",
        "ACCESS_LOG": "1",
        "LOG_LEVEL": "INFO",
        "SHUTDOWN_GRACE_SECONDS": "5",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serves_http_logs_each_request_and_stops_cleanly_on_sigterm(
    server: tuple[str, subprocess.Popen[str]],
) -> None:
    base_url, process = server
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
    assert process.stderr is not None
    log = process.stderr.read()

    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [r for r in records if r["logger"] == "service.access"]
    me_line = next(r for r in requests if r["request_id"] == "trace-me-1")
    assert {"method", "path", "status", "duration_ms", "queries", "request_id"} <= set(me_line)
    assert (me_line["method"], me_line["path"], me_line["status"], me_line["queries"]) == ("GET", "/users/me", 200, 1)
    sql = [r for r in records if r["logger"] == "service.sql"]
    assert any('INSERT INTO "users"' in r["message"] and " ms " in r["message"] for r in sql)
    for secret in (password, access_token, "$argon2"):
        assert secret not in log
    assert any(r["message"] == "database pool closed" for r in records)
