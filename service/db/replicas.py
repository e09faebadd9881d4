"""Read replicas: GET requests read from a healthy streaming replica, everything else uses the primary.

The routing is Tortoise's own mechanism (``routers`` in the config, see ``with_replicas``):

- ``route_reads``, an ASGI middleware, marks GET and HEAD requests. Every other request (and everything outside a
  request: commands, migrations) reads from the primary, so the read-back a write returns sees that write.
- ``ReplicaRouter.db_for_read`` names a replica only for a marked request, outside a transaction, and only a replica
  the monitor last found reachable and within ``DATABASE_REPLICA_MAX_LAG`` of the primary; the usable replicas take
  turns. Everything else, writes and ``SELECT ... FOR UPDATE`` included, goes to the primary (inside a transaction,
  to the transaction's connection).
- Each replica is a Tortoise connection of its own (``ReplicaDBClient``: the service's asyncpg client with its own
  pool, sized by the same ``DB_POOL_*`` settings). A read the replica fails (refused, gone, timed out, a recovery
  conflict) runs again on the primary and the replica is skipped until the monitor finds it healthy again.
- The token check reads the user from the primary (``primary_reads``): a token revoked by a password change is
  refused at once, never accepted by a replica that has not replayed the change yet.

The monitor (``monitoring``) checks every ``DATABASE_REPLICA_CHECK_INTERVAL`` seconds. Lag is measured against the
primary's WAL position: each check samples ``pg_current_wal_lsn()`` on the primary, and a replica that has replayed
up to the position the primary had at time ``t`` is at most ``now - t`` seconds behind. An idle primary therefore
counts as no lag (there is nothing to replay), and a replica cut off from a busy primary counts as lagging.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from pypika_tortoise.functions import Cast
from pypika_tortoise.terms import Case, Function, Term, ValueWrapper
from tortoise import connections
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient

from service.db.client import ServiceDBClient
from service.errors import database_unavailable
from service.settings import ReplicaSettings

if TYPE_CHECKING:
    from tortoise.models import Model

logger = logging.getLogger("service.replicas")

PRIMARY = "default"
"""The primary's Tortoise connection name."""
ENGINE = "service.db.replicas"
"""The Tortoise engine module of a replica's connection (its ``client_class`` is ``ReplicaDBClient``)."""
READ_METHODS = frozenset({"GET", "HEAD"})

ReplicaStatus = Literal["ok", "lagging", "unavailable"]

_reading: ContextVar[bool] = ContextVar("replica_reads", default=False)
_active: ReplicaSet | None = None


def replica_name(index: int) -> str:
    """The Tortoise connection name of the replica at ``index`` in ``DATABASE_REPLICA_URLS``."""
    return f"replica_{index + 1}"


def with_replicas(config: dict[str, Any], replicas: ReplicaSettings) -> dict[str, Any]:
    """``config`` (a Tortoise config whose ``default`` connection is the primary) with a connection per replica
    and the router; unchanged when there are no replicas.

    A replica's connection takes the primary's credentials (pool sizes and timeouts), the replica's address, and
    ``DATABASE_REPLICA_TIMEOUT`` as its connect and acquire timeouts: a replica that does not answer soon is
    skipped rather than waited for.
    """
    if not replicas.urls:
        return config
    from tortoise.backends.base.config_generator import expand_db_url

    primary = config["connections"][PRIMARY]["credentials"]
    added = {
        replica_name(index): {
            "engine": ENGINE,
            "credentials": {
                **primary,
                **expand_db_url(url)["credentials"],
                "timeout": replicas.timeout,
                "acquire_timeout": replicas.timeout,
            },
        }
        for index, url in enumerate(replicas.urls)
    }
    return {
        **config,
        "connections": {**config["connections"], **added},
        "routers": [f"{__name__}.ReplicaRouter"],
    }


@contextmanager
def replica_reads() -> Iterator[None]:
    """Let the reads inside the block (outside transactions) go to a replica."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


@contextmanager
def primary_reads() -> Iterator[None]:
    """Read from the primary inside the block, even in a GET request (a check that must not see stale rows)."""
    token = _reading.set(False)
    try:
        yield
    finally:
        _reading.reset(token)


def route_reads(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: the reads of GET and HEAD requests may go to a replica; other requests use the primary."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] in READ_METHODS:
            with replica_reads():
                await app(scope, receive, send)
        else:
            await app(scope, receive, send)

    return middleware


class ReplicaRouter:
    """The Tortoise router: a usable replica for a GET request's reads outside a transaction, else the primary."""

    def db_for_read(self, model: type[Model]) -> str:
        replicas = _active
        if replicas is None or not _reading.get() or isinstance(connections.get(PRIMARY), TransactionalDBClient):
            return PRIMARY
        return replicas.choose() or PRIMARY

    def db_for_write(self, model: type[Model]) -> str:
        return PRIMARY


@dataclass(slots=True)
class ReplicaState:
    """What the last check (or failed read) found about one replica."""

    name: str
    status: ReplicaStatus = "unavailable"
    lag_seconds: float | None = None
    reason: str = "not checked yet"


class ReplicaSet:
    """This process's replicas, the monitor's findings about them, and the router's choice among them.

    The findings are this process's own observations (each process checks for itself): nothing here needs to be
    shared between service processes.
    """

    def __init__(self, settings: ReplicaSettings) -> None:
        self.settings = settings
        self.states = [ReplicaState(replica_name(index)) for index in range(len(settings.urls))]
        self._by_name = {state.name: state for state in self.states}
        self._turns = itertools.count()
        # (monotonic time, primary WAL position in bytes), oldest first, kept for a little longer than the max lag.
        self._primary_positions: deque[tuple[float, int]] = deque()

    def choose(self) -> str | None:
        """The next usable replica in turn, or None when none is usable."""
        usable = [state.name for state in self.states if state.status == "ok"]
        if not usable:
            return None
        return usable[next(self._turns) % len(usable)]

    def mark_unavailable(self, name: str, reason: str) -> None:
        state = self._by_name[name]
        if state.status != "unavailable":
            logger.warning("replica %s skipped: %s", name, reason)
        state.status, state.lag_seconds, state.reason = "unavailable", None, reason

    async def check(self) -> None:
        """Sample the primary's WAL position, then check every replica at once."""
        try:
            async with asyncio.timeout(self.settings.timeout):
                position = await _primary_position(connections.get(PRIMARY))
        except Exception as exc:
            logger.warning("cannot read the primary's WAL position: %s", type(exc).__name__)
        else:
            now = time.monotonic()
            self._primary_positions.append((now, position))
            horizon = now - self.settings.max_lag - 2 * self.settings.check_interval
            while len(self._primary_positions) > 1 and self._primary_positions[0][0] < horizon:
                self._primary_positions.popleft()
        await asyncio.gather(*(self._check_one(state) for state in self.states))

    async def _check_one(self, state: ReplicaState) -> None:
        try:
            async with asyncio.timeout(self.settings.timeout):
                replayed = await _replayed_position(connections.get(state.name))
        except Exception as exc:
            self.mark_unavailable(state.name, "unreachable" if database_unavailable(exc) else type(exc).__name__)
            return
        if replayed is None:
            self.mark_unavailable(state.name, "not a standby (promoted, or not a replica)")
            return
        lag = self.lag(replayed)
        status: ReplicaStatus = "ok" if lag is not None and lag <= self.settings.max_lag else "lagging"
        if status != state.status:
            log = logger.info if status == "ok" else logger.warning
            log("replica %s is %s (lag %s s)", state.name, status, "unknown" if lag is None else f"{lag:.2f}")
        state.status, state.lag_seconds = status, lag
        state.reason = "" if status == "ok" else f"more than {self.settings.max_lag} s behind the primary"

    def lag(self, replayed: int) -> float | None:
        """Seconds the replica may be behind: since the latest sample of the primary's position the replica has
        replayed; None when it is behind every retained sample (behind by more than the retained window)."""
        for at, position in reversed(self._primary_positions):
            if position <= replayed:
                return max(0.0, time.monotonic() - at)
        return None

    async def watch(self) -> None:
        """Check every ``check_interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.settings.check_interval)
            try:
                await self.check()
            except Exception:
                logger.exception("replica check failed")


def _wal_bytes(position: str) -> Term:
    """``pg_wal_lsn_diff(<position>(), '0/0')::bigint``: a WAL position as a byte count."""
    return Cast(Function("pg_wal_lsn_diff", Function(position), ValueWrapper("0/0")), "BIGINT")


# Operational statements about replication, not the domain's data, written with Tortoise's query builder
# (the backend's ``query_class``) once at import.
_PRIMARY_POSITION = AsyncpgDBClient.query_class.select(_wal_bytes("pg_current_wal_lsn")).get_sql()
_REPLAYED_POSITION = AsyncpgDBClient.query_class.select(
    Case().when(Function("pg_is_in_recovery"), _wal_bytes("pg_last_wal_replay_lsn"))
).get_sql()


async def _primary_position(client: BaseDBAsyncClient) -> int:
    async with client.acquire_connection() as connection:
        position: int = await connection.fetchval(_PRIMARY_POSITION)
    return position


async def _replayed_position(client: BaseDBAsyncClient) -> int | None:
    """The WAL position the standby has replayed (bytes), or None when the server is not in recovery."""
    async with client.acquire_connection() as connection:
        position: int | None = await connection.fetchval(_REPLAYED_POSITION)
    return position


@asynccontextmanager
async def monitoring(settings: ReplicaSettings) -> AsyncIterator[None]:
    """Check the replicas once (so reads use them from the first request), then every ``check_interval`` seconds
    in the background, while the block runs; the router uses them only meanwhile."""
    global _active
    if not settings.urls:
        yield
        return
    replicas = ReplicaSet(settings)
    await replicas.check()
    _active = replicas
    task = asyncio.create_task(replicas.watch(), name="replica-monitor")
    try:
        yield
    finally:
        _active = None
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def replica_states() -> list[ReplicaState] | None:
    """The replicas as the monitor last found them; None when the service has no replicas."""
    return None if _active is None else list(_active.states)


class ReplicaDBClient(ServiceDBClient):
    """A replica's connection: the service's client, whose failed reads run again on the primary."""

    async def execute_query(self, query: str, values: list[Any] | None = None) -> tuple[int, list[Any]]:
        try:
            result: tuple[int, list[Any]] = await super().execute_query(query, values)
        except Exception as exc:
            self._fall_back(exc)
        else:
            return result
        answer: tuple[int, list[Any]] = await connections.get(PRIMARY).execute_query(query, values)
        return answer

    async def execute_query_dict(self, query: str, values: list[Any] | None = None) -> list[dict[str, Any]]:
        try:
            rows: list[dict[str, Any]] = await super().execute_query_dict(query, values)
        except Exception as exc:
            self._fall_back(exc)
        else:
            return rows
        answer: list[dict[str, Any]] = await connections.get(PRIMARY).execute_query_dict(query, values)
        return answer

    def _fall_back(self, exc: Exception) -> None:
        """Skip this replica when ``exc`` says it is unavailable; either way the read is the primary's to answer
        (run outside the ``except``, so a read that fails on the primary too is classified by its own error)."""
        if database_unavailable(exc) and _active is not None:
            _active.mark_unavailable(self.connection_name, f"a read failed ({type(exc).__name__})")
        else:
            logger.warning("a read failed on replica %s (%s); ran it on the primary", self.connection_name, exc)


client_class = ReplicaDBClient
