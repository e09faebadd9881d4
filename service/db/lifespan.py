"""The process's one pool: opened and checked with a real query at start-up, pinged by /health, closed at exit."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from tortoise import Tortoise, connections

from service.db.config import describe_url, tortoise_config
from service.db.replicas import monitoring, with_replicas
from service.settings import Settings

logger = logging.getLogger("service.db")


class DatabaseUnreachableError(RuntimeError):
    """The database cannot be reached; the message names the host, never the password."""


async def check_database(url: str, timeout: float) -> None:
    """Open one connection and run ``SELECT 1``; raise DatabaseUnreachableError naming the host if it fails."""
    try:
        connection = await asyncpg.connect(**_connect_kwargs(url), timeout=timeout)
        try:
            await connection.fetchval("SELECT 1", timeout=timeout)
        finally:
            await connection.close(timeout=timeout)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = _reason(exc)
        raise DatabaseUnreachableError(f"cannot reach the database at {describe_url(url)}: {reason}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"password=\S+", "password=***", text)


def _connect_kwargs(url: str) -> dict[str, Any]:
    from tortoise.backends.base.config_generator import expand_db_url

    credentials = expand_db_url(url)["credentials"]
    keys = ("host", "port", "user", "password", "database", "ssl")
    return {key: credentials[key] for key in keys if credentials.get(key) is not None}


@asynccontextmanager
async def database(settings: Settings, url: str) -> AsyncIterator[None]:
    """Open the process's pools (the primary's checked with a real query; one per read replica), yield, close them."""
    config = with_replicas(tortoise_config(url, settings.pool), settings.replicas)
    await Tortoise.init(config=config, _enable_global_fallback=True)
    try:
        await ping(settings.pool.connect_timeout)
    except Exception:
        await Tortoise.close_connections()
        raise
    logger.info("database pool ready at %s", describe_url(url))
    try:
        async with monitoring(settings.replicas):
            yield
    finally:
        await Tortoise.close_connections()
        logger.info("database pool closed")


async def ping(timeout: float) -> None:
    """One ``SELECT 1`` through the pool, bounded by ``timeout`` seconds."""
    client = connections.get("default")
    async with client.acquire_connection() as connection:
        await connection.fetchval("SELECT 1", timeout=timeout)
