"""Typed settings read once from the environment, with the rules that keep production safe."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

DEV_JWT_SECRET = "dev-only-insecure-secret-change-me"  # noqa: S105 - the documented development default
Environment = Literal["development", "test", "production"]
_ENVIRONMENTS: tuple[Environment, ...] = ("development", "test", "production")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A setting in the environment is missing or malformed."""


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, default).strip() or default


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0, maximum: int = 2**31) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Connection pool limits and timeouts (seconds)."""

    min_size: int = 1
    max_size: int = 10
    idle_lifetime: float = 300.0
    connect_timeout: float = 5.0
    acquire_timeout: float = 5.0
    command_timeout: float = 15.0


@dataclass(frozen=True, slots=True)
class ReplicaSettings:
    """Read replicas (streaming standbys of the primary) and the bounds that decide when one is skipped."""

    urls: tuple[str, ...] = ()
    max_lag: float = 5.0
    check_interval: float = 1.0
    timeout: float = 1.0


def _replica_settings(env: Mapping[str, str]) -> ReplicaSettings:
    urls = tuple(url.strip() for url in env.get("DATABASE_REPLICA_URLS", "").split(",") if url.strip())
    for url in urls:
        if urlsplit(url).scheme not in ("postgres", "postgresql"):
            raise SettingsError("DATABASE_REPLICA_URLS must be comma-separated postgres:// or postgresql:// URLs")
    replicas = ReplicaSettings(
        urls=urls,
        max_lag=_float(env, "DATABASE_REPLICA_MAX_LAG", 5.0, minimum=0.1),
        check_interval=_float(env, "DATABASE_REPLICA_CHECK_INTERVAL", 1.0, minimum=0.05),
        timeout=_float(env, "DATABASE_REPLICA_TIMEOUT", 1.0, minimum=0.05),
    )
    if replicas.max_lag <= replicas.check_interval:
        raise SettingsError(
            f"DATABASE_REPLICA_MAX_LAG ({replicas.max_lag}) must exceed DATABASE_REPLICA_CHECK_INTERVAL "
            f"({replicas.check_interval}): lag is measured once per check"
        )
    return replicas


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service reads from its environment."""

    environment: Environment = "development"
    database_url: str | None = None
    pool: PoolSettings = field(default_factory=PoolSettings)
    replicas: ReplicaSettings = field(default_factory=ReplicaSettings)
    embedded_pgdata: Path = Path(".pgdata")
    migrate_on_start: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    jwt_secret: str = DEV_JWT_SECRET
    jwt_ttl_seconds: int = 3600
    sql_log: bool = False
    log_level: str = "INFO"
    access_log: bool = True
    shutdown_grace_seconds: float = 20.0
    login_max_failures: int = 5
    login_window_seconds: int = 300
    login_address_max_failures: int = 100
    login_address_window_seconds: int = 300
    forwarded_allow_ips: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, serving: bool = True) -> Settings:
        """Read and validate the settings; raise SettingsError with the variable's name on a bad value.

        ``serving=False`` (aerich's commands) skips the token secret checks: migrating needs no secret.
        """
        env = os.environ if env is None else env
        environment = _text(env, "APP_ENV", "development").lower()
        if environment not in _ENVIRONMENTS:
            raise SettingsError(f"APP_ENV must be one of {', '.join(_ENVIRONMENTS)}; got {environment!r}")
        database_url = env.get("DATABASE_URL", "").strip() or None
        if database_url is not None and urlsplit(database_url).scheme not in ("postgres", "postgresql"):
            raise SettingsError("DATABASE_URL must be a postgres:// or postgresql:// URL")
        pool = PoolSettings(
            min_size=_int(env, "DB_POOL_MIN", 1, minimum=0, maximum=1000),
            max_size=_int(env, "DB_POOL_MAX", 10, minimum=1, maximum=1000),
            idle_lifetime=_float(env, "DB_POOL_IDLE_LIFETIME", 300.0),
            connect_timeout=_float(env, "DB_CONNECT_TIMEOUT", 5.0, minimum=0.1),
            acquire_timeout=_float(env, "DB_ACQUIRE_TIMEOUT", 5.0, minimum=0.01),
            command_timeout=_float(env, "DB_COMMAND_TIMEOUT", 15.0, minimum=0.1),
        )
        if pool.min_size > pool.max_size:
            raise SettingsError(f"DB_POOL_MIN ({pool.min_size}) must not exceed DB_POOL_MAX ({pool.max_size})")
        jwt_secret = env.get("JWT_SECRET", "").strip()
        if serving and environment == "production" and (not jwt_secret or jwt_secret == DEV_JWT_SECRET):
            raise SettingsError("JWT_SECRET must be set to a secret value when APP_ENV=production")
        if serving and environment == "production" and len(jwt_secret) < 32:
            raise SettingsError("JWT_SECRET must be at least 32 characters when APP_ENV=production")
        return cls(
            environment=environment,  # checked against _ENVIRONMENTS above
            database_url=database_url,
            pool=pool,
            replicas=_replica_settings(env),
            embedded_pgdata=Path(_text(env, "EMBEDDED_PGDATA", ".pgdata")),
            migrate_on_start=_bool(env, "MIGRATE_ON_START", database_url is None),
            host=_text(env, "HOST", "127.0.0.1"),
            port=_int(env, "PORT", 8000, minimum=0, maximum=65535),
            workers=_int(env, "WORKERS", 1, minimum=1, maximum=64),
            jwt_secret=jwt_secret or DEV_JWT_SECRET,
            jwt_ttl_seconds=_int(env, "JWT_TTL_SECONDS", 3600, minimum=1, maximum=90 * 86400),
            sql_log=_bool(env, "SQL_LOG", False),
            log_level=_text(env, "LOG_LEVEL", "INFO").upper(),
            access_log=_bool(env, "ACCESS_LOG", True),
            shutdown_grace_seconds=_float(env, "SHUTDOWN_GRACE_SECONDS", 20.0),
            login_max_failures=_int(env, "LOGIN_MAX_FAILURES", 5, minimum=1, maximum=10_000),
            login_window_seconds=_int(env, "LOGIN_WINDOW_SECONDS", 300, minimum=1, maximum=86_400),
            login_address_max_failures=_int(env, "LOGIN_ADDRESS_MAX_FAILURES", 100, minimum=1, maximum=1_000_000),
            login_address_window_seconds=_int(env, "LOGIN_ADDRESS_WINDOW_SECONDS", 300, minimum=1, maximum=86_400),
            forwarded_allow_ips=env.get("FORWARDED_ALLOW_IPS", "").strip(),
        )
