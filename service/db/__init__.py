"""The database layer, one job per module.

- ``config``: the Tortoise config (also aerich's ``TORTOISE_ORM``, see aerich.ini) and the database URL;
- ``client``: the asyncpg client Tortoise runs on (fair bounded pool, statement counting, SQL log, migration lock);
- ``lifespan``: the process's pool, checked at start-up, pinged by ``/health``;
- ``migrations``: which migrations are applied, and the locked upgrade;
- ``retry``: deadlock and serialization-failure retries for writes.
"""

from service.db.client import MIGRATION_LOCK_KEY, track_queries
from service.db.config import describe_url, resolve_database_url, tortoise_config
from service.db.lifespan import DatabaseUnreachableError, check_database, database, ping
from service.db.migrations import (
    MIGRATIONS_DIR,
    PROJECT_ROOT,
    DatabaseAheadError,
    DatabaseBehindError,
    MigrationState,
    ensure_current,
    ensure_known,
    migration_files,
    migration_state,
    upgrade,
)
from service.db.retry import RETRIES, retry_on_conflict
from service.models import APP_LABEL, MODEL_MODULES

__all__ = [
    "APP_LABEL",
    "MIGRATIONS_DIR",
    "MIGRATION_LOCK_KEY",
    "MODEL_MODULES",
    "PROJECT_ROOT",
    "RETRIES",
    "DatabaseAheadError",
    "DatabaseBehindError",
    "DatabaseUnreachableError",
    "MigrationState",
    "check_database",
    "database",
    "describe_url",
    "ensure_current",
    "ensure_known",
    "migration_files",
    "migration_state",
    "ping",
    "resolve_database_url",
    "retry_on_conflict",
    "tortoise_config",
    "track_queries",
    "upgrade",
]
