"""Typed settings read once from the environment (pydantic-settings), with the rules that keep production safe.

Each field is one environment variable (its alias) with its default and a description; the configuration table in
docs/configuration.md is generated from them (``python -m service settings``) and a test keeps the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from service.environment import EnvironmentSource, PoolSettings, ReplicaSettings, reading, settings_table

DEV_JWT_SECRET = "dev-only-insecure-secret-change-me"  # noqa: S105 - the documented development default
Environment = Literal["development", "test", "production"]
__all__ = ["PoolSettings", "ReplicaSettings", "Settings", "SettingsError", "configuration_table"]
# Variables whose values never appear in an error message.
SECRET_VARIABLES = frozenset({"DATABASE_URL", "DATABASE_REPLICA_URLS", "JWT_SECRET"})


class SettingsError(ValueError):
    """A setting in the environment is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    environment: Environment = Field(
        "development",
        alias="APP_ENV",
        description="`development`, `test` or `production`. Production refuses to start without a real `JWT_SECRET`.",
    )
    database_url: str | None = Field(
        None,
        alias="DATABASE_URL",
        description="`postgres://user:pass@host:5432/db`. Unset: the embedded PostgreSQL in `EMBEDDED_PGDATA`.",
    )
    database_replica_urls: str = Field(
        "",
        alias="DATABASE_REPLICA_URLS",
        description="Streaming replicas of `DATABASE_URL` (comma-separated URLs): the reads of GET requests go to a "
        "healthy one. See [scaling](scaling.md).",
        json_schema_extra={"shown_default": "unset"},
    )
    database_replica_max_lag: float = Field(
        5.0,
        alias="DATABASE_REPLICA_MAX_LAG",
        ge=0.1,
        description="Seconds a replica may be behind the primary and still take reads.",
    )
    database_replica_check_interval: float = Field(
        1.0,
        alias="DATABASE_REPLICA_CHECK_INTERVAL",
        ge=0.05,
        description="Seconds between checks of each replica's reachability and lag (must be below the max lag).",
    )
    database_replica_timeout: float = Field(
        1.0,
        alias="DATABASE_REPLICA_TIMEOUT",
        ge=0.05,
        description="Seconds a replica may take to connect or lend a pooled connection before reads skip it.",
    )
    embedded_pgdata: Path = Field(
        Path(".pgdata"),
        alias="EMBEDDED_PGDATA",
        description="Data folder of the embedded PostgreSQL (only used without `DATABASE_URL`).",
    )
    migrate_on_start: bool = Field(
        False,
        alias="MIGRATE_ON_START",
        description="Apply pending migrations (under the migration lock) before serving. Off: refuse to start "
        "unless the database is exactly at the code's migrations.",
        json_schema_extra={"shown_default": "on without `DATABASE_URL`, else off"},
    )
    db_pool_min: int = Field(1, alias="DB_POOL_MIN", ge=0, le=1000, description="Connections the pool keeps open.")
    db_pool_max: int = Field(
        10, alias="DB_POOL_MAX", ge=1, le=1000, description="Connections the pool may open, per process."
    )
    db_pool_idle_lifetime: float = Field(
        300.0,
        alias="DB_POOL_IDLE_LIFETIME",
        ge=0,
        description="Seconds an idle pooled connection lives before it is closed.",
    )
    db_connect_timeout: float = Field(
        5.0, alias="DB_CONNECT_TIMEOUT", ge=0.1, description="Seconds to open a connection (start-up check included)."
    )
    db_acquire_timeout: float = Field(
        5.0,
        alias="DB_ACQUIRE_TIMEOUT",
        ge=0.01,
        description="Seconds a request waits for a free pooled connection before it gets a 503.",
    )
    db_command_timeout: float = Field(
        15.0,
        alias="DB_COMMAND_TIMEOUT",
        ge=0.1,
        description="Seconds a statement may run before the request gets a 503.",
    )
    host: str = Field("127.0.0.1", alias="HOST", description="Address to listen on.")
    port: int = Field(8000, alias="PORT", ge=0, le=65535, description="Port to listen on.")
    workers: int = Field(
        1, alias="WORKERS", ge=1, le=64, description="Server processes (see [operations](operations.md) for how many)."
    )
    search_language: str = Field(
        "english",
        alias="SEARCH_LANGUAGE",
        pattern=r"^[a-z_]{1,63}$",
        description="Text search configuration of `GET /posts?search=`: as in the database's `search_config`.",
    )
    jwt_secret: str = Field(
        DEV_JWT_SECRET,
        alias="JWT_SECRET",
        description="HMAC key for tokens; at least 32 characters in production.",
        json_schema_extra={"shown_default": "a development value"},
    )
    jwt_ttl_seconds: int = Field(
        3600, alias="JWT_TTL_SECONDS", ge=1, le=90 * 86400, description="Token lifetime, in seconds."
    )
    login_max_failures: int = Field(
        5,
        alias="LOGIN_MAX_FAILURES",
        ge=1,
        le=10_000,
        description="Failed sign-ins allowed per account from one client address in `LOGIN_WINDOW_SECONDS`; then "
        "429 for that account from that address (its owner elsewhere still signs in).",
    )
    login_window_seconds: int = Field(
        300,
        alias="LOGIN_WINDOW_SECONDS",
        ge=1,
        le=86_400,
        description="The window of `LOGIN_MAX_FAILURES`, in seconds.",
    )
    login_account_max_failures: int = Field(
        50,
        alias="LOGIN_ACCOUNT_MAX_FAILURES",
        ge=1,
        le=100_000,
        description="Failed sign-ins allowed per account from all addresses together in "
        "`LOGIN_ACCOUNT_WINDOW_SECONDS`, then 429 for that account everywhere: the ceiling on distributed guessing.",
    )
    login_account_window_seconds: int = Field(
        900, alias="LOGIN_ACCOUNT_WINDOW_SECONDS", ge=1, le=86_400, description="The per-account window, in seconds."
    )
    login_address_max_failures: int = Field(
        100,
        alias="LOGIN_ADDRESS_MAX_FAILURES",
        ge=1,
        le=1_000_000,
        description="Failed sign-ins allowed from one client address (all accounts together) in "
        "`LOGIN_ADDRESS_WINDOW_SECONDS`, then 429: sized for many people behind one address.",
    )
    login_address_window_seconds: int = Field(
        300, alias="LOGIN_ADDRESS_WINDOW_SECONDS", ge=1, le=86_400, description="The per-address window, in seconds."
    )
    password_hash_threads: int = Field(
        0,
        alias="PASSWORD_HASH_THREADS",
        ge=0,
        le=256,
        description="Password hashes (Argon2, CPU-bound) computed at once per process; `0`: the cores divided "
        "among the `WORKERS`.",
    )
    password_hash_queue: int = Field(
        32,
        alias="PASSWORD_HASH_QUEUE",
        ge=0,
        le=10_000,
        description="Requests that may wait for a hashing thread per process; past it a request gets 503 with "
        "`Retry-After` at once.",
    )
    password_hash_sign_in_reserve: int = Field(
        16,
        alias="PASSWORD_HASH_SIGN_IN_RESERVE",
        ge=0,
        le=10_000,
        description="Places of `PASSWORD_HASH_QUEUE` only sign-ins may take (sign-ups and password changes cannot), "
        "so a sign-up flood never starves sign-in.",
    )
    require_if_match: bool = Field(
        False,
        alias="REQUIRE_IF_MATCH",
        description="Refuse `PATCH`, `PUT` and `DELETE` without an `If-Match` header (428), so no client can "
        "overwrite a change it has not seen.",
    )
    idempotency_key_hours: int = Field(
        24,
        alias="IDEMPOTENCY_KEY_HOURS",
        ge=1,
        le=24 * 30,
        description="How long an `Idempotency-Key` of `POST /users` and `POST /posts` is kept: a retry within it gets "
        "the first answer again.",
    )
    forwarded_allow_ips: str = Field(
        "",
        alias="FORWARDED_ALLOW_IPS",
        description="Proxies (comma-separated addresses, or `*`) whose `X-Forwarded-For` gives the client address. "
        "Empty: the connection's address. In compose: the balancer's address.",
        json_schema_extra={"shown_default": "empty"},
    )
    request_head_max_bytes: int = Field(
        32 * 1024,
        alias="REQUEST_HEAD_MAX_BYTES",
        ge=1024,
        le=1024 * 1024,
        description="Longest request line and headers, in bytes; longer ones get a 431 before the application sees "
        "them (see [security](security.md#what-the-server-refuses)).",
    )
    request_receive_timeout: float = Field(
        30.0,
        alias="REQUEST_RECEIVE_TIMEOUT",
        gt=0,
        le=3600,
        description="Seconds a request (line, headers and body) may take to arrive from its first byte, or from the "
        "connection's opening; then 408 and the connection is closed.",
    )
    sql_log: bool = Field(
        False,
        alias="SQL_LOG",
        description="Log every SQL statement with its duration (text only: parameters, hence hashes, never appear).",
    )
    orm_fast_path: bool = Field(
        True,
        alias="ORM_FAST_PATH",
        description="Reads compiled once per shape and response schemas filled without a second validation "
        "(`service/orm/`). Off: every read is the plain Tortoise queryset (prefetches in their own statements) and "
        "every response schema is validated by pydantic: the same responses, more CPU and statements.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO",
        alias="LOG_LEVEL",
        description="Root log level (`DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL`); logs are JSON lines on stderr.",
    )
    access_log: bool = Field(
        True,
        alias="ACCESS_LOG",
        description="One line per request: method, path, status, duration, SQL statement count and time, request id.",
    )
    metrics: bool = Field(
        True,
        alias="METRICS",
        description="Serve Prometheus metrics at `METRICS_PATH` on the API port (see [operations](operations.md)).",
    )
    metrics_path: str = Field(
        "/metrics",
        alias="METRICS_PATH",
        pattern=r"^/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$",
        description="Path of the metrics, outside the API's own paths (never in the OpenAPI document).",
    )
    shutdown_grace_seconds: float = Field(
        20.0,
        alias="SHUTDOWN_GRACE_SECONDS",
        ge=0,
        description="On SIGTERM, how long (seconds) in-flight requests may take before the server closes them.",
    )
    shutdown_drain_seconds: float = Field(
        0.0,
        alias="SHUTDOWN_DRAIN_SECONDS",
        ge=0,
        le=300,
        description="On SIGTERM, how long (seconds) `/health` answers 503 while requests are still served, before "
        "the graceful shutdown: set it above the balancer's health-check interval x its fall count (one process "
        "per container; with `WORKERS` > 1 there is no drain).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the environment (exact names, blanks unset); no dotenv or secret files."""
        return init_settings, EnvironmentSource(settings_cls)

    @model_validator(mode="before")
    @classmethod
    def _migrate_the_embedded_database(cls, values: Any) -> Any:
        """``MIGRATE_ON_START`` defaults to on without ``DATABASE_URL`` (the embedded database), else off."""
        if isinstance(values, dict) and not {"MIGRATE_ON_START", "migrate_on_start"} & values.keys():
            url = values.get("DATABASE_URL", values.get("database_url"))
            return {**values, "MIGRATE_ON_START": url is None}
        return values

    @field_validator("environment", "log_level", mode="before")
    @classmethod
    def _case(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        return value.lower() if info.field_name == "environment" else value.upper()

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("postgres", "postgresql"):
            raise ValueError("must be a postgres:// or postgresql:// URL")
        return value

    @field_validator("database_replica_urls")
    @classmethod
    def _postgres_urls(cls, value: str) -> str:
        for url in value.split(","):
            if url.strip() and urlsplit(url.strip()).scheme not in ("postgres", "postgresql"):
                raise ValueError("must be comma-separated postgres:// or postgresql:// URLs")
        return value

    @model_validator(mode="after")
    def _pool_bounds(self) -> Settings:
        if self.db_pool_min > self.db_pool_max:
            raise ValueError(f"DB_POOL_MIN ({self.db_pool_min}) must not exceed DB_POOL_MAX ({self.db_pool_max})")
        if self.password_hash_sign_in_reserve > self.password_hash_queue:
            raise ValueError(
                f"PASSWORD_HASH_SIGN_IN_RESERVE ({self.password_hash_sign_in_reserve}) must not exceed "
                f"PASSWORD_HASH_QUEUE ({self.password_hash_queue})"
            )
        if self.database_replica_max_lag <= self.database_replica_check_interval:
            raise ValueError(
                f"DATABASE_REPLICA_MAX_LAG ({self.database_replica_max_lag}) must exceed "
                f"DATABASE_REPLICA_CHECK_INTERVAL ({self.database_replica_check_interval}): lag is measured once per "
                "check"
            )
        return self

    @property
    def replicas(self) -> ReplicaSettings:
        return ReplicaSettings(
            urls=tuple(url.strip() for url in self.database_replica_urls.split(",") if url.strip()),
            max_lag=self.database_replica_max_lag,
            check_interval=self.database_replica_check_interval,
            timeout=self.database_replica_timeout,
        )

    @property
    def hashing_threads(self) -> int:
        """``PASSWORD_HASH_THREADS``, or this machine's cores shared among the worker processes."""
        return self.password_hash_threads or max(1, (os.cpu_count() or 1) // self.workers)

    @property
    def pool(self) -> PoolSettings:
        return PoolSettings(
            min_size=self.db_pool_min,
            max_size=self.db_pool_max,
            idle_lifetime=self.db_pool_idle_lifetime,
            connect_timeout=self.db_connect_timeout,
            acquire_timeout=self.db_acquire_timeout,
            command_timeout=self.db_command_timeout,
        )

    def check_serving(self) -> None:
        """SettingsError unless the settings are safe for serving requests (a real token secret in production)."""
        if self.environment == "production" and self.jwt_secret == DEV_JWT_SECRET:
            raise SettingsError("JWT_SECRET must be set to a secret value when APP_ENV=production")
        if self.environment == "production" and len(self.jwt_secret) < 32:
            raise SettingsError("JWT_SECRET must be at least 32 characters when APP_ENV=production")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, serving: bool = True) -> Settings:
        """Read and validate the settings from ``env`` (default: the process environment); raise SettingsError
        naming each malformed variable.

        ``serving=False`` (aerich's commands) skips the token secret checks: migrating needs no secret.
        """
        with reading(env):
            try:
                settings = cls()
            except ValidationError as exc:
                raise SettingsError("; ".join(_problems(exc))) from None
        if serving:
            settings.check_serving()
        return settings


def _problems(exc: ValidationError) -> Iterator[str]:
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:
            yield message
            continue
        name = str(error["loc"][0])
        shown = "" if name in SECRET_VARIABLES else f", got {error['input']!r}"
        yield f"{name}: {message}{shown}"


def configuration_table() -> str:
    """The Markdown table of every setting (docs/configuration.md), built from the fields above."""
    return settings_table(Settings)
