"""The asyncpg client behind Tortoise: bounded pool waits, statement counting and SQL logging.

Tortoise loads this module as its connection ``engine`` (see ``service.db.config.tortoise_config``). It is the stock
asyncpg client with three changes:

- the pool is an ``asyncpg.Pool`` whose ``acquire`` waits at most ``acquire_timeout`` seconds and then raises
  ``TimeoutError`` (a request gets a 503 instead of hanging);
- connections count every statement they send into the current ``QueryStats`` (per request, per test) and,
  when SQL logging is on, log the statement text and its duration (never its parameters, so no password hash or
  other value reaches a log);
- the reset query asyncpg sends on every release is dropped: the service keeps no session state on pooled
  connections (no LISTEN, SET or session advisory locks), and the reset would double the round trips.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import deque
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.pool import PoolAcquireContext
from tortoise.backends.asyncpg.client import AsyncpgDBClient

if TYPE_CHECKING:  # asyncpg's classes are generic over the record class in its stubs only
    _Connection = asyncpg.Connection[asyncpg.Record]
    _Pool = asyncpg.Pool[asyncpg.Record]
    _AcquireContext = PoolAcquireContext[asyncpg.Record]
else:
    _Connection = asyncpg.Connection
    _Pool = asyncpg.Pool
    _AcquireContext = PoolAcquireContext

sql_logger = logging.getLogger("service.sql")
migration_logger = logging.getLogger("service.migrations")
# pg_advisory_lock key held while migrations run: the ASCII bytes of "aerichmg" as a signed 64-bit integer.
MIGRATION_LOCK_KEY = int.from_bytes(b"aerichmg", "big", signed=True)


@dataclass(slots=True)
class QueryStats:
    """Statements sent and time spent in the database, for one request or one measured block."""

    count: int = 0
    seconds: float = 0.0
    parent: QueryStats | None = field(default=None, repr=False)

    def add(self, seconds: float) -> None:
        stats: QueryStats | None = self
        while stats is not None:
            stats.count += 1
            stats.seconds += seconds
            stats = stats.parent


_current_stats: ContextVar[QueryStats | None] = ContextVar("query_stats", default=None)


@contextmanager
def track_queries() -> Iterator[QueryStats]:
    """Count the statements sent inside the block (nested blocks also count into the enclosing ones)."""
    stats, token = start_tracking()
    try:
        yield stats
    finally:
        _current_stats.reset(token)


def start_tracking() -> tuple[QueryStats, Token[QueryStats | None]]:
    """``track_queries`` without the context manager, for the per-request wrapper: the counter, and the token that
    ``stop_tracking`` takes once the block ends."""
    stats = QueryStats(parent=_current_stats.get())
    return stats, _current_stats.set(stats)


def stop_tracking(token: Token[QueryStats | None]) -> None:
    _current_stats.reset(token)


def _observe(query: str, started: float) -> None:
    elapsed = time.perf_counter() - started
    stats = _current_stats.get()
    if stats is not None:
        stats.add(elapsed)
    if sql_logger.isEnabledFor(logging.INFO):
        sql_logger.info("%.2f ms  %s", elapsed * 1000, " ".join(query.split()))


class ObservedConnection(_Connection):
    """An asyncpg connection that reports each statement to ``_observed`` and skips the release reset."""

    def get_reset_query(self) -> str:
        return ""

    # try/finally rather than a context manager: this runs for every statement.
    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        started = time.perf_counter()
        try:
            return await super().execute(query, *args, timeout=timeout)
        finally:
            _observe(query, started)

    async def executemany(self, command: str, args: Any, *, timeout: float | None = None) -> None:
        started = time.perf_counter()
        try:
            await super().executemany(command, args, timeout=timeout)
        finally:
            _observe(command, started)

    async def fetch(
        self, query: str, *args: object, timeout: float | None = None, record_class: type[Any] | None = None
    ) -> list[Any]:
        started = time.perf_counter()
        try:
            return await super().fetch(query, *args, timeout=timeout, record_class=record_class)
        finally:
            _observe(query, started)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().fetchrow(query, *args, **kwargs)
        finally:
            _observe(query, started)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().fetchval(query, *args, **kwargs)
        finally:
            _observe(query, started)


class ConnectRefusedError(asyncpg.PostgresConnectionError):
    """PostgreSQL answered a new connection with an error: the database is unavailable for now (a 503).

    For example 55000 "database ... is not currently accepting connections" (``ALLOW_CONNECTIONS false``), which
    at any other time would be an error in a statement.
    """


async def connect_or_refused(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    """``asyncpg.connect`` for the pool, with a server's refusal raised as ``ConnectRefusedError``."""
    try:
        return await asyncpg.connect(*args, **kwargs)
    except asyncpg.PostgresError as exc:
        if isinstance(exc, asyncpg.PostgresConnectionError):
            raise
        raise ConnectRefusedError(f"PostgreSQL refused the connection: {exc.sqlstate} {exc}") from exc


class Deadline:
    """One bounded wait of the pool: a single timer for the whole of it, a turn's wait and asyncpg's acquire.

    While the caller waits in line for a turn (``waiter``), the timer fails that wait with ``TimeoutError``; once it
    has the turn, the timer cancels the caller's task, and ``timed_out`` tells the caller the cancellation was the
    deadline's, to be raised as ``TimeoutError`` (as ``asyncio.timeout`` does, with one timer handle and no context
    object per wait).
    """

    __slots__ = ("cancelling", "expired", "handle", "task", "turns", "waiter")

    def __init__(self, turns: Turns, timeout: float) -> None:
        task = asyncio.current_task()
        assert task is not None, "a bounded wait runs in a task"
        self.turns = turns
        self.task = task
        self.cancelling = task.cancelling()
        self.expired = False
        self.waiter: asyncio.Future[None] | None = None
        self.handle = asyncio.get_running_loop().call_later(timeout, self.expire)

    def expire(self) -> None:
        self.expired = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            self.turns.timed_out += 1
            waiter.set_exception(TimeoutError())
        else:
            self.task.cancel()

    def timed_out(self) -> bool:
        """Whether the ``CancelledError`` being handled is the deadline's own (then the caller raises TimeoutError)."""
        return self.expired and self.task.uncancel() <= self.cancelling

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        """Disarm the timer; the deadline's own cancellation leaves the block as ``TimeoutError``."""
        self.handle.cancel()
        if kind is not None and issubclass(kind, asyncio.CancelledError) and self.timed_out():
            raise TimeoutError from None


_UNBOUNDED: AbstractContextManager[None] = nullcontext()
"""The deadline of a wait without a timeout: none."""


class Turns:
    """At most ``size`` holders at a time; waiters get their turn in arrival order, and a wait may be bounded.

    A lean FIFO semaphore for the pool: a free turn is taken without a future; a wait is one future and, when
    bounded, one timer (``asyncio.timeout`` around ``asyncio.Semaphore.acquire`` costs about three times as much,
    and under load every request waits for a turn).
    """

    __slots__ = ("free", "timed_out", "waited", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.waited = 0  # takes that had to wait, and those that gave up (read by service.metrics)
        self.timed_out = 0

    async def take(self, timeout: float | None) -> None:
        """Take a turn, waiting behind earlier callers; ``TimeoutError`` after ``timeout`` seconds of waiting."""
        if self.free and not self.waiters:
            self.free -= 1
            return
        with _UNBOUNDED if timeout is None else Deadline(self, timeout) as deadline:
            await self.take_within(deadline)

    async def take_within(self, deadline: Deadline | None) -> None:
        """Take a turn, waiting behind earlier callers until ``deadline`` (if any) fails the wait."""
        if self.free and not self.waiters:
            self.free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        self.waited += 1
        if deadline is not None:
            deadline.waiter = waiter
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.give()  # granted, then cancelled before it could run: the turn goes to the next in line
            raise
        finally:
            if deadline is not None:
                deadline.waiter = None

    def give(self) -> None:
        """Return a turn: to the longest waiter still waiting, else to the free ones."""
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():  # a waiter that timed out or was cancelled has left the line
                waiter.set_result(None)
                return
        self.free += 1


class BoundedPool(_Pool):
    """A fair pool whose ``acquire`` gives up after ``acquire_timeout`` seconds (``TimeoutError``), whatever raised.

    - **Fair.** asyncpg hands a released connection to whichever task asks next, so under load a waiting request
      can lose its turn again and again (a long latency tail). Here a request takes a turn (``Turns``, a FIFO
      semaphore of the pool's size) before it takes a connection: connections go to waiting requests in arrival
      order.
    - **Bounded, whatever raised.** One timer (``Deadline``) bounds the whole acquire: the wait for a turn, then
      asyncpg's own acquire (no task per acquire, as asyncpg's ``wait_for`` would start). A turn goes back when a
      release ends, even one that raised or was cancelled while asyncpg still finishes it in the background (its
      release is shielded): the next caller then waits in asyncpg's queue, within its deadline.
    - **Released as asyncpg releases** (``Pool.release``), so its rules hold unchanged: transactions rolled back,
      listeners removed, expired, used-up, closed and cancelled connections replaced, the inactivity timer armed.
    """

    acquire_timeout: float | None = None
    connection_name = "default"

    def __init__(self, *, max_size: int, **kwargs: Any) -> None:
        super().__init__(max_size=max_size, **kwargs)  # Tortoise's client passes everything by keyword
        self.turns = Turns(max_size)
        self.holding: set[Any] = set()

    def acquire(self, *, timeout: float | None = None) -> _FairAcquire:
        return _FairAcquire(self, self.acquire_timeout if timeout is None else timeout)

    async def take(self, timeout: float | None) -> Any:
        """Wait, in arrival order, for this caller's turn, then take a connection with asyncpg's own acquire; at
        most ``timeout`` seconds in all (``TimeoutError``)."""
        turns = self.turns
        with _UNBOUNDED if timeout is None else Deadline(turns, timeout) as deadline:
            await turns.take_within(deadline)
            try:
                connection = await super().acquire()
            except BaseException:
                turns.give()
                raise
        self.holding.add(connection)
        return connection

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:
        try:
            await super().release(connection, timeout=timeout)
        finally:
            if connection in self.holding:
                self.holding.discard(connection)
                self.turns.give()


class _FairAcquire(_AcquireContext):
    """``pool.acquire()``, awaited or used with ``async with``: the pool's turn first, then asyncpg's own acquire,
    within one deadline."""

    def __init__(self, pool: BoundedPool, timeout: float | None) -> None:
        super().__init__(pool, None)
        self.fair_pool = pool
        self.turn_timeout = timeout

    async def __aenter__(self) -> Any:
        if self.connection is not None or self.done:
            raise asyncpg.InterfaceError("a connection is already acquired")
        self.connection = await self.fair_pool.take(self.turn_timeout)
        return self.connection

    def __await__(self) -> Generator[Any, None, Any]:
        return self.fair_pool.take(self.turn_timeout).__await__()


class ServiceDBClient(AsyncpgDBClient):
    """Tortoise's asyncpg client with the bounded, observed pool above.

    With ``migration_lock=True`` the client also holds ``pg_advisory_lock(MIGRATION_LOCK_KEY)`` on a connection of
    its own from the moment its pool opens until it closes. aerich's commands use such a client (aerich.ini
    points at ``service.db.config.TORTOISE_ORM``), and so does the service's start-up upgrade: concurrent upgrades
    run one after the other, and each sees what the previous one applied.
    """

    connection_class: Any = ObservedConnection

    def __init__(self, *, acquire_timeout: float | None = None, migration_lock: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # Tortoise makes its clients with keyword arguments only
        self.acquire_timeout = acquire_timeout
        self.migration_lock = migration_lock
        self._lock_connection: asyncpg.Connection | None = None

    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        if self.migration_lock and self._lock_connection is None:
            await self._take_migration_lock(kwargs)
        options: dict[str, Any] = {
            "max_queries": 50_000,
            "max_inactive_connection_lifetime": 300.0,
            "connect": connect_or_refused,
            **kwargs,
        }
        pool = BoundedPool(record_class=asyncpg.Record, **options)
        pool.acquire_timeout = self.acquire_timeout
        pool.connection_name = self.connection_name
        open_pools.add(pool)
        return await pool

    async def _take_migration_lock(self, pool_kwargs: dict[str, Any]) -> None:
        connect_keys = ("host", "port", "user", "password", "database", "server_settings", "timeout", "ssl")
        connection = await asyncpg.connect(**{k: pool_kwargs[k] for k in connect_keys if k in pool_kwargs})
        try:
            if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY):
                migration_logger.warning("another process is migrating this database; waiting for it to finish")
                # Polled, not a blocking pg_advisory_lock: a waiting statement is a transaction, which a CREATE
                # INDEX CONCURRENTLY of the migrating process would wait for (a deadlock PostgreSQL has to break).
                locked = False
                while not locked:
                    await asyncio.sleep(0.2)
                    locked = await connection.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY)
        except BaseException:
            await connection.close()
            raise
        self._lock_connection = connection

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self._lock_connection is not None:
                connection, self._lock_connection = self._lock_connection, None
                await connection.close()  # ends the session, which releases its advisory lock


open_pools: weakref.WeakSet[BoundedPool] = weakref.WeakSet()
"""The pools this process has opened (closed ones leave when collected; ``service.metrics`` reads them)."""

client_class = ServiceDBClient
