"""The database: the TORTOISE_ORM config shared with aerich, the pool's lifecycle, and schema migrations."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg
from tortoise import Tortoise, connections

from service.replicas import monitoring, with_replicas
from service.settings import PoolSettings, Settings

logger = logging.getLogger("service.db")

APP_LABEL = "models"
MODEL_MODULES = ["service.models", "aerich.models"]
PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
# pg_advisory_lock key held while migrations run: the ASCII bytes of "aerichmg" as a signed 64-bit integer.
MIGRATION_LOCK_KEY = int.from_bytes(b"aerichmg", "big", signed=True)


class DatabaseUnreachableError(RuntimeError):
    """The database cannot be reached; the message names the host, never the password."""


def describe_url(url: str) -> str:
    """``user@host:port/db`` (or the socket directory) of a database URL, without its password."""
    parts = urlsplit(url)
    host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[-1]
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{user}{host}{port}{parts.path or '/'}"


def tortoise_config(url: str, pool: PoolSettings, *, migration_lock: bool = False) -> dict[str, Any]:
    """The Tortoise config for ``url``: our asyncpg client (``service.dbclient``) with the pool settings.

    ``migration_lock`` makes every use of the config hold a PostgreSQL advisory lock while its connections are
    open: aerich's commands (through ``TORTOISE_ORM``) and the service's start-up upgrade then never overlap.
    """
    from tortoise.backends.base.config_generator import expand_db_url

    credentials = expand_db_url(url)["credentials"]
    credentials.update(
        minsize=pool.min_size,
        maxsize=pool.max_size,
        max_inactive_connection_lifetime=pool.idle_lifetime,
        timeout=pool.connect_timeout,
        # A migration may legitimately run for minutes (an index on a big table); requests may not.
        command_timeout=None if migration_lock else pool.command_timeout,
        acquire_timeout=pool.acquire_timeout,
        migration_lock=migration_lock,
    )
    return {
        "connections": {"default": {"engine": "service.dbclient", "credentials": credentials}},
        "apps": {APP_LABEL: {"models": list(MODEL_MODULES), "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def resolve_database_url(settings: Settings) -> str:
    """``DATABASE_URL`` if set, otherwise the URL of the embedded PostgreSQL (started on demand)."""
    if settings.database_url is not None:
        return settings.database_url
    from service.embedded import embedded_database_url

    return embedded_database_url(settings.embedded_pgdata)


def __getattr__(name: str) -> Any:
    """``TORTOISE_ORM``, the config aerich reads (aerich.ini), built from the environment on first use."""
    if name == "TORTOISE_ORM":
        settings = Settings.from_env(serving=False)
        config = tortoise_config(resolve_database_url(settings), settings.pool, migration_lock=True)
        globals()["TORTOISE_ORM"] = config
        return config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


P = ParamSpec("P")
R = TypeVar("R")
RETRIES = 3


def retry_on_conflict(write: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run ``write`` (a whole transaction or single statement) again when PostgreSQL aborts it as a deadlock
    victim or for a serialization failure: concurrent writers touch the same counter rows (migration 3) in an
    order the database, not the code, decides. After RETRIES attempts the error propagates (a 503).
    """

    @functools.wraps(write)
    async def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, RETRIES + 1):
            try:
                return await write(*args, **kwargs)
            except asyncpg.TransactionRollbackError:
                if attempt == RETRIES:
                    raise
                logger.info("retrying %s after a transaction conflict (attempt %d)", write.__qualname__, attempt)
                await asyncio.sleep(random.uniform(0.001, 0.01) * attempt)  # noqa: S311 - jitter, not crypto
        raise AssertionError("unreachable")

    return retried


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


@dataclass(frozen=True, slots=True)
class MigrationState:
    """Which migration files the code has and which the database has applied."""

    known: tuple[str, ...]
    applied: tuple[str, ...]

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(name for name in self.known if name not in self.applied)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Applied in the database but absent from the code: the database is ahead of this code."""
        return tuple(name for name in self.applied if name not in self.known)


def migration_files(location: Path = MIGRATIONS_DIR) -> tuple[str, ...]:
    """The aerich migration files of the ``models`` app, in the order aerich applies them."""
    folder = location / APP_LABEL
    files = [p.name for p in folder.glob("*.py") if re.match(r"^\d+_", p.name)]
    return tuple(sorted(files, key=lambda name: int(name.split("_", 1)[0])))


async def migration_state(url: str, location: Path = MIGRATIONS_DIR) -> MigrationState:
    """Compare the migration files with the aerich bookkeeping table (empty when never migrated)."""
    from tortoise.context import TortoiseContext

    config = tortoise_config(url, PoolSettings(min_size=1, max_size=1))
    async with TortoiseContext():
        await Tortoise.init(config=config)
        try:
            applied = await _applied_versions()
        finally:
            await Tortoise.close_connections()
    return MigrationState(known=migration_files(location), applied=applied)


async def _applied_versions() -> tuple[str, ...]:
    """The migrations aerich recorded as applied, oldest first; none when its table does not exist yet."""
    from aerich.models import Aerich
    from tortoise.exceptions import OperationalError

    try:
        versions = await Aerich.filter(app=APP_LABEL).order_by("id").values_list("version", flat=True)
    except OperationalError as exc:
        if isinstance(exc.__cause__, asyncpg.UndefinedTableError):
            return ()
        raise
    return tuple(str(version) for version in versions)


class DatabaseAheadError(RuntimeError):
    """The database has migrations this code does not know: running it could corrupt data."""


class DatabaseBehindError(RuntimeError):
    """The database lacks migrations this code needs."""


def ensure_known(state: MigrationState, url: str) -> None:
    """DatabaseAheadError when the database has applied a migration this code does not have."""
    if state.unknown:
        raise DatabaseAheadError(
            f"the database at {describe_url(url)} has migrations this code does not know: "
            f"{', '.join(state.unknown)}; deploy the matching code or downgrade the database first"
        )


def ensure_current(state: MigrationState, url: str) -> None:
    """DatabaseAheadError or DatabaseBehindError unless the database is exactly at this code's migrations."""
    ensure_known(state, url)
    if state.pending:
        raise DatabaseBehindError(
            f"the database at {describe_url(url)} lacks migrations {', '.join(state.pending)}: run "
            "'aerich -c aerich.ini upgrade' or set MIGRATE_ON_START=1"
        )


async def upgrade(settings: Settings, url: str, location: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending aerich migrations under the migration advisory lock; return the applied file names.

    Refuses (DatabaseAheadError) when the database has applied a migration this code does not have. The check
    runs under the same lock as the upgrade, so a concurrent upgrade cannot slip in between.
    """
    from aerich import Command
    from tortoise.context import TortoiseContext

    config = tortoise_config(url, settings.pool, migration_lock=True)
    # A context of its own: aerich skips its own init when it finds Tortoise initialised, and would then migrate
    # through whatever connections the process already has (another database, without the lock).
    async with TortoiseContext(), Command(tortoise_config=config, app=APP_LABEL, location=str(location)) as command:
        ensure_known(MigrationState(known=migration_files(location), applied=await _applied_versions()), url)
        applied: list[str] = await command.upgrade(run_in_transaction=True)
    return applied
