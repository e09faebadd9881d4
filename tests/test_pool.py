"""The service's pool (service/db/client.py's BoundedPool): connections go to waiting requests in arrival order,
and a wait is bounded. asyncpg's own pool lets a newcomer take a connection released to a waiter, which makes
the latency tail under load long; these tests fail on such a pool."""

from __future__ import annotations

import asyncio
import inspect
import itertools
from typing import Any

import asyncpg
import asyncpg.pool
import pytest
from asyncpg.pool import PoolConnectionHolder

from service.db.client import BoundedPool, ObservedConnection, Turns


async def open_pool(
    database_url: str,
    size: int,
    acquire_timeout: float | None = None,
    connection_class: type[asyncpg.Connection] = asyncpg.Connection,
    max_queries: int = 50_000,
) -> BoundedPool:
    pool = BoundedPool(
        database_url,
        min_size=size,
        max_size=size,
        max_queries=max_queries,
        max_inactive_connection_lifetime=300.0,
        record_class=asyncpg.Record,
        connection_class=connection_class,
        loop=None,
        setup=None,
        init=None,
        reset=None,
    )
    pool.acquire_timeout = acquire_timeout
    await pool
    return pool


async def test_connections_are_granted_in_the_order_they_were_asked_for(database_url: str) -> None:
    """30 tasks share 2 connections, each asking again right after it releases: no request overtakes another.

    (asyncpg's own pool, in the same loop, grants a few hundred of these 900 requests ahead of earlier ones.)
    """
    pool = await open_pool(database_url, 2, acquire_timeout=30)
    try:
        tickets = itertools.count()
        granted: list[int] = []

        async def worker() -> None:
            for _ in range(30):
                ticket = next(tickets)
                connection = await pool.acquire()
                granted.append(ticket)
                assert await connection.fetchval("SELECT 1") == 1
                await pool.release(connection)
                await asyncio.sleep(0)

        await asyncio.gather(*(worker() for _ in range(30)))
        assert len(granted) == 900
        assert granted == sorted(granted)
    finally:
        await pool.close()


async def test_a_wait_for_a_connection_is_bounded_and_gives_its_turn_back(database_url: str) -> None:
    pool = await open_pool(database_url, 1, acquire_timeout=0.2)
    try:
        held = await pool.acquire()
        with pytest.raises(TimeoutError):
            await pool.acquire()
        await pool.release(held)
        again = await asyncio.wait_for(pool.acquire(), 1)  # the timed-out waiter left no turn taken
        assert await again.fetchval("SELECT 1") == 1
        await pool.release(again)
        await pool.release(again)  # releasing twice gives back one turn, not two
        first = await pool.acquire()
        with pytest.raises(TimeoutError):
            await pool.acquire()
        await pool.release(first)
    finally:
        await pool.close()


async def test_turns_are_given_in_arrival_order_and_never_lost() -> None:
    """The pool's FIFO turns (``Turns``), without a database: waiters are served in order; a waiter that times out
    or is cancelled leaves the line without taking a turn; a waiter granted a turn and cancelled before it could
    run hands the turn to the next one. At the end every turn is free again."""
    turns = Turns(1)
    await turns.take(None)  # held by "us"
    served: list[str] = []

    async def wait(name: str, timeout: float | None = None) -> None:
        await turns.take(timeout)
        served.append(name)

    first = asyncio.create_task(wait("first"))
    timing_out = asyncio.create_task(wait("timing out", timeout=0.01))
    cancelled = asyncio.create_task(wait("cancelled"))
    granted_then_cancelled = asyncio.create_task(wait("granted then cancelled"))
    last = asyncio.create_task(wait("last"))
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):
        await timing_out
    cancelled.cancel()
    await asyncio.sleep(0)
    assert len([waiter for waiter in turns.waiters if not waiter.done()]) == 3

    turns.give()  # ours, to "first"
    await first
    turns.give()  # "first"'s, to the next still waiting: "granted then cancelled"...
    granted_then_cancelled.cancel()  # ... which is cancelled before it runs: the turn must reach "last"
    with pytest.raises(asyncio.CancelledError):
        await granted_then_cancelled
    await asyncio.wait_for(last, 1)
    assert served == ["first", "last"]
    assert cancelled.cancelled()
    turns.give()  # "last"'s
    assert (turns.free, len(turns.waiters)) == (1, 0)


async def test_a_clean_connection_is_released_at_once_and_anything_else_as_asyncpg_releases_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the service's connections (no reset query), a release after a statement needs no task: the connection
    is back in the pool before ``release`` returns control, and the caller's handle to it is dead. A connection in
    a transaction or one used up (``max_queries``) goes asyncpg's way: rolled back, or closed and replaced."""
    shielded: list[object] = []
    shield = asyncio.shield

    def counting_shield(awaitable: Any) -> Any:
        shielded.append(awaitable)
        return shield(awaitable)

    monkeypatch.setattr(asyncio, "shield", counting_shield)
    pool = await open_pool(database_url, 1, acquire_timeout=1, connection_class=ObservedConnection, max_queries=4)
    try:
        connection = await pool.acquire()
        await connection.execute("CREATE TEMP TABLE IF NOT EXISTS kept (n int)")
        await pool.release(connection)
        assert shielded == []  # released at once
        assert pool._queue.qsize() == 1
        with pytest.raises(asyncpg.InterfaceError):
            await connection.fetchval("SELECT 1")  # the handle is detached, as asyncpg's release leaves it

        connection = await pool.acquire()
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("INSERT INTO kept VALUES (1)")
        await pool.release(connection)  # still in the transaction: asyncpg rolls it back
        assert len(shielded) == 1
        connection = await pool.acquire()
        assert await connection.fetchval("SELECT count(*) FROM kept") == 0
        assert not connection.is_in_transaction()
        await pool.release(connection)  # its fourth statement: used up, so asyncpg closes it

        assert len(shielded) == 2
        connection = await pool.acquire()
        assert await connection.fetchval("SELECT to_regclass('pg_temp.kept')") is None  # a new session
        connection.terminate()  # closed under the pool's feet: asyncpg returns it to the pool as it closes
        await pool.release(connection)
        connection = await pool.acquire()  # and replaces it
        assert await connection.fetchval("SELECT 1") == 1
        await pool.release(connection)
    finally:
        await pool.close()


def test_the_private_parts_of_asyncpg_the_fast_release_reads_still_exist() -> None:
    """``BoundedPool._release_now`` mirrors asyncpg's release (asyncpg is pinned to 0.32.x for it): a release
    that renames any of these fails here by name."""
    holder_methods = ("_release", "_setup_inactive_callback")
    assert all(callable(getattr(PoolConnectionHolder, name, None)) for name in holder_methods)
    assert all(callable(getattr(asyncpg.Connection, name, None)) for name in ("_on_release", "get_reset_query"))
    source = inspect.getsource(asyncpg.pool.PoolConnectionHolder.release) + inspect.getsource(asyncpg.Connection._reset)
    for name in (
        "_in_use",
        "_max_queries",
        "queries_count",
        "_generation",
        "_is_cancelling",
        "_pool._reset",
        "_listeners.clear",
        "_log_listeners.clear",
        "is_in_transaction",
        "_top_xact",
        "self._release()",
        "self._setup_inactive_callback()",
    ):
        assert name in source, name
