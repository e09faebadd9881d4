"""Schema migrations: aerich's files against aerich's bookkeeping table, applied under an advisory lock."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from tortoise import Tortoise

from service.db.config import describe_url, tortoise_config
from service.models import APP_LABEL
from service.settings import PoolSettings, Settings

# <project>/migrations, next to the `service` package (an installed image keeps them together).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
TORTOISE_SHUTDOWN_LINE = "Tortoise-ORM shutdown"
_checking = ContextVar("checking_migrations", default=False)


class _ShutdownLineFilter(logging.Filter):
    """Drops Tortoise's "Tortoise-ORM shutdown" line while the migration check or upgrade closes its connections.

    ``Tortoise.close_connections`` logs it whenever connections close; at start-up those are the short-lived ones
    of the migration check, and the line read as if the service were stopping while it starts.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_checking.get() and record.getMessage() == TORTOISE_SHUTDOWN_LINE)


logging.getLogger("tortoise").addFilter(_ShutdownLineFilter())
logger = logging.getLogger("service.migrations")


@contextmanager
def _checking_migrations() -> Iterator[None]:
    token = _checking.set(True)
    try:
        yield
    finally:
        _checking.reset(token)


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
    with _checking_migrations():
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
            "'.venv/bin/aerich -c aerich.ini upgrade' from the project root ('aerich' in the container image) "
            "or set MIGRATE_ON_START=1"
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
    with _checking_migrations():
        async with (
            TortoiseContext(),
            Command(tortoise_config=config, app=APP_LABEL, location=str(location)) as command,
        ):
            ensure_known(MigrationState(known=migration_files(location), applied=await _applied_versions()), url)
            applied: list[str] = []
            for attempt in range(1, LOCK_RETRIES + 2):
                try:
                    applied += await command.upgrade(run_in_transaction=True)
                    break
                except Exception as exc:
                    if attempt > LOCK_RETRIES or not gave_up_on_a_lock(exc):
                        raise
                    logger.warning("a migration gave up waiting for a lock (lock_timeout); retry %d", attempt)
                    await asyncio.sleep(LOCK_RETRY_PAUSE * attempt)
    return applied


LOCK_RETRIES = 5
LOCK_RETRY_PAUSE = 1.0
"""A migration that gives up waiting for a lock (its ``lock_timeout``, docs/migrations.md) is retried this many
times, after this many seconds times the attempt: it was rolled back, and the ones before it stay applied."""


def gave_up_on_a_lock(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is PostgreSQL's lock_timeout (SQLSTATE 55P03, lock not available)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, asyncpg.LockNotAvailableError) or "lock timeout" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
