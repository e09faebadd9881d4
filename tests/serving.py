"""Run ``python -m service serve`` as a real process for tests that need uvicorn, signals or a stoppable database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    base_url: str
    process: subprocess.Popen[str]

    def log(self) -> str:
        """Everything the server wrote to stderr (call after it exited)."""
        assert self.process.stderr is not None
        return self.process.stderr.read()


def wait_until_healthy(base_url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"the server exited with {process.returncode}: {stderr}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not become healthy in time")


@contextmanager
def serve(database_url: str, **env: str) -> Iterator[Served]:
    """The service on a free port against ``database_url`` (already migrated); killed if a test leaves it up."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MIGRATE_ON_START": "0",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG": "0",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve"],
        cwd=ROOT,
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its worker processes in a group of their own, killed with it
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        wait_until_healthy(served.base_url, process)
        yield served
    finally:
        with contextlib.suppress(ProcessLookupError):  # workers outlive a killed supervisor unless the group goes
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
