"""Where the database is and how Tortoise reaches it: the config shared by the service and aerich."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from service.models import APP_LABEL, MODEL_MODULES
from service.settings import PoolSettings, Settings

CONNECTION = "default"
"""The name of the models' connection in the Tortoise config (``in_transaction(CONNECTION)``)."""


def describe_url(url: str) -> str:
    """``user@host:port/db`` (or the socket directory) of a database URL, without its password."""
    parts = urlsplit(url)
    host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[-1]
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{user}{host}{port}{parts.path or '/'}"


def tortoise_config(url: str, pool: PoolSettings, *, migration_lock: bool = False) -> dict[str, Any]:
    """The Tortoise config for ``url``: our asyncpg client (``service.db.client``) with the pool settings.

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
        "connections": {CONNECTION: {"engine": "service.db.client", "credentials": credentials}},
        "apps": {APP_LABEL: {"models": list(MODEL_MODULES), "default_connection": CONNECTION}},
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
