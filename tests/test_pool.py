"""The service's pool (service/db/client.py's BoundedPool): connections go to waiting requests in arrival order,
a wait is bounded whatever raised, and everything else is asyncpg's own pool.

asyncpg's pool lets a newcomer take a connection released to a waiter, which makes the latency tail under load
long; the order test fails on such a pool. The lifecycle scenarios (inactivity timer, expired, used-up, closed and
cancelled connections, open transactions, listeners, releases that raise) run against a stock asyncpg pool too,
and the two must behave alike."""

from __future__ import annotations

import asyncio
import itertools
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from service.db.client import MIGRATION_LOCK_KEY, BoundedPool, ObservedConnection, ServiceDBClient, Turns, open_pools
from service.db.config import tortoise_config
from service.settings import PoolSettings


async def open_pool(
    database_url: str,
    size: int,
    acquire_timeout: float | None = None,
    connection_class: type[asyncpg.Connection] = asyncpg.Connection,
    max_queries: int = 50_000,
    *,
    stock: bool = False,
    min_size: int | None = None,
    idle_lifetime: float = 300.0,
    reset: Callable[[Any], Awaitable[None]] | None = None,
    connect: Callable[..., Awaitable[Any]] | None = None,
) -> Any:
    """The service's pool, or with ``stock`` asyncpg's own with the same options."""
    pool = (asyncpg.Pool if stock else BoundedPool)(
        dsn=database_url,
        min_size=size if min_size is None else min_size,
        max_size=size,
        max_queries=max_queries,
        max_inactive_connection_lifetime=idle_lifetime,
        record_class=asyncpg.Record,
        connection_class=connection_class,
        loop=None,
        setup=None,
        init=None,
        reset=reset,
        connect=connect,
    )
    if not stock:
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
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.acquire(), 3)  # the pool's own 0.2 s, not this bound
        assert time.monotonic() - started < 2
        assert (pool.turns.timed_out, pool.turns.waited) == (1, 1)  # counted for the metrics
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
    assert (turns.waited, turns.timed_out) == (5, 1)  # what service.metrics reports


async def test_free_turns_are_taken_without_waiting() -> None:
    turns = Turns(2)
    await turns.take(0)
    await turns.take(0)
    assert (turns.free, turns.waited, turns.timed_out) == (0, 0, 0)
    for _ in range(2):
        with pytest.raises(TimeoutError):
            await turns.take(0.01)
    assert (turns.free, turns.waited, turns.timed_out, len(turns.waiters)) == (0, 2, 2, 2)
    turns.give()  # the timed-out waiters have left the line: the turn is free again
    assert (turns.free, len(turns.waiters)) == (1, 0)
    turns.give()
    assert turns.free == 2  # every turn given back is counted


async def test_a_wait_cancelled_by_its_caller_is_cancelled_not_timed_out(database_url: str) -> None:
    """The deadline turns only its own cancellation into TimeoutError: a caller cancelled while it waits for a turn
    is cancelled, and leaves the line without taking the turn."""
    pool = await open_pool(database_url, 1, acquire_timeout=5)
    try:
        held = await pool.acquire()
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert waiting.cancelled()
        assert pool.turns.timed_out == 0
        await pool.release(held)
        again = await asyncio.wait_for(pool.acquire(), 1)
        await pool.release(again)
        assert (pool.turns.free, len(pool.holding)) == (1, 0)
    finally:
        await pool.close()


async def test_a_turn_waited_for_then_a_hanging_connect_is_one_bounded_wait(database_url: str) -> None:
    """A caller that first waits in line, then gets the turn of a connection that has to be opened again (expired
    at its release) and whose connect hangs: one deadline bounds both waits."""
    connects = 0

    async def connect(*args: Any, **kwargs: Any) -> Any:
        nonlocal connects
        connects += 1
        if connects > 1:
            await asyncio.Event().wait()  # never opens
        return await asyncpg.connect(*args, **kwargs)

    pool = await open_pool(database_url, 1, acquire_timeout=0.5, min_size=0, connect=connect)
    try:
        held = await pool.acquire()
        started = time.monotonic()
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.1)  # in line for the turn
        await pool.expire_connections()
        await pool.release(held)  # closed at its release: the waiter's acquire has to connect
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(waiting, 3)
        assert 0.4 < time.monotonic() - started < 1.5
        assert (connects, pool.turns.free, len(pool.holding)) == (2, 1, 0)
    finally:
        await pool.close()


async def test_a_connect_that_hangs_is_bounded_by_the_same_deadline(database_url: str) -> None:
    """The deadline that bounds the wait for a turn also bounds asyncpg's own acquire once the turn is taken: a
    connection that does not open in time is a TimeoutError within the timeout, the turn and the pool are left as
    they were, and an acquire whose connect answers gets its connection."""
    opened = asyncio.Event()

    async def connect(*args: Any, **kwargs: Any) -> Any:
        await opened.wait()
        return await asyncpg.connect(*args, **kwargs)

    pool = await open_pool(database_url, 1, acquire_timeout=0.3, min_size=0, connect=connect)
    try:
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await pool.acquire()
            assert 0.25 < time.monotonic() - started < 1.3
            assert (pool.turns.free, len(pool.turns.waiters), len(pool.holding)) == (1, 0, 0)
        outer = asyncio.current_task()
        assert outer is not None
        assert outer.cancelling() == 0  # the deadline's cancellations were taken back
        opened.set()
        connection = await pool.acquire()
        assert await connection.fetchval("SELECT 1") == 1
        await pool.release(connection)
        assert pool.turns.free == 1
    finally:
        pool.terminate()


async def test_a_pool_without_an_acquire_timeout_waits_without_a_deadline(database_url: str) -> None:
    pool = await open_pool(database_url, 1)
    try:
        assert pool.acquire_timeout is None
        connection = await pool.acquire()
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.2)
        assert not waiting.done()  # no deadline: it waits as long as it takes
        await pool.release(connection)
        connection = await asyncio.wait_for(waiting, 2)
        assert await connection.fetchval("SELECT 1") == 1
        await pool.release(connection)
    finally:
        await pool.close()


async def test_acquire_as_a_context_with_its_own_timeout(database_url: str) -> None:
    """``async with pool.acquire()`` takes a turn and a connection and gives both back; entering the same context
    twice is refused as asyncpg refuses it; ``acquire(timeout=...)`` bounds that wait instead of the pool's."""
    pool = await open_pool(database_url, 1, acquire_timeout=3)
    try:
        context = pool.acquire()
        async with context as connection:
            assert await connection.fetchval("SELECT 1") == 1
            with pytest.raises(asyncpg.InterfaceError, match=r"^a connection is already acquired$"):
                await context.__aenter__()
            for attempt in (lambda: pool.acquire(timeout=0.1), pool.acquire(timeout=0.1).__aenter__):
                started = time.monotonic()
                with pytest.raises(TimeoutError):
                    await attempt()
                assert time.monotonic() - started < 1.5
        assert (pool.turns.free, len(pool.holding)) == (1, 0)
        async with pool.acquire() as again:
            assert await again.fetchval("SELECT 1") == 1
            assert pool.holding == {again}
    finally:
        await pool.close()


async def backend(connection: Any) -> int:
    return int(await connection.fetchval("SELECT pg_backend_pid()"))


async def idle_connections_are_closed(pool: Any) -> list[Any]:
    """The inactivity timer closes idle connections above the minimum; a later acquire opens one again."""
    first, second = await pool.acquire(timeout=2), await pool.acquire(timeout=2)
    await first.fetchval("SELECT 1")
    await second.fetchval("SELECT 1")
    await pool.release(first)
    await pool.release(second)
    sizes = [pool.get_size()]
    await asyncio.sleep(0.8)
    sizes.append(pool.get_size())
    again = await pool.acquire(timeout=2)
    answer = await again.fetchval("SELECT 1")
    await pool.release(again)
    return [*sizes, answer, pool.get_size()]


async def expired_connections_are_replaced(pool: Any) -> list[bool]:
    """``expire_connections``: an idle connection is replaced at its next acquire, a held one at its release."""
    connection = await pool.acquire(timeout=2)
    first = await backend(connection)
    await pool.release(connection)
    await pool.expire_connections()
    connection = await pool.acquire(timeout=2)
    second = await backend(connection)
    await pool.expire_connections()
    await pool.release(connection)
    connection = await pool.acquire(timeout=2)
    third = await backend(connection)
    await pool.release(connection)
    return [first != second, second != third]


async def used_up_connections_are_replaced(pool: Any) -> list[bool]:
    """``max_queries`` (3 here): a connection is closed at the release after its third statement."""
    seen = []
    for _ in range(4):
        connection = await pool.acquire(timeout=2)
        seen.append(await backend(connection))
        await pool.release(connection)
    return [seen[0] == seen[1] == seen[2], seen[2] != seen[3]]


async def closed_connections_are_replaced(pool: Any) -> list[Any]:
    connection = await pool.acquire(timeout=2)
    first = await backend(connection)
    connection.terminate()
    await pool.release(connection)
    connection = await pool.acquire(timeout=2)
    second = await backend(connection)
    answer = await connection.fetchval("SELECT 1")
    await pool.release(connection)
    return [first != second, answer]


async def cancelled_statements_are_finished_before_reuse(pool: Any) -> list[Any]:
    """A statement whose task was cancelled is cancelled on the server before its connection serves anyone else."""
    connection = await pool.acquire(timeout=2)
    sleeping = asyncio.create_task(connection.fetchval("SELECT pg_sleep(10)"))
    await asyncio.sleep(0.2)
    sleeping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeping
    started = time.monotonic()
    await pool.release(connection)
    connection = await pool.acquire(timeout=2)
    answer = await connection.fetchval("SELECT 1")
    await pool.release(connection)
    return [answer, time.monotonic() - started < 5]


async def open_transactions_are_rolled_back(pool: Any) -> list[Any]:
    connection = await pool.acquire(timeout=2)
    await connection.execute("CREATE TEMP TABLE IF NOT EXISTS kept (n int)")
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute("INSERT INTO kept VALUES (1)")
    session = await backend(connection)
    await pool.release(connection)
    connection = await pool.acquire(timeout=2)
    same = await backend(connection) == session  # the service's connections keep their session (no reset query)
    rows = await connection.fetchval("SELECT count(*) FROM kept")
    in_transaction = connection.is_in_transaction()
    await pool.release(connection)
    return [same, rows, in_transaction]


async def listeners_are_removed(pool: Any) -> list[Any]:
    """A listener left on a connection is dropped at its release: the next holder's notifications reach nobody."""
    heard: list[str] = []
    connection = await pool.acquire(timeout=2)
    await connection.add_listener("pool_test", lambda *args: heard.append(args[-1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # asyncpg warns about the listener left behind
        await pool.release(connection)
    connection = await pool.acquire(timeout=2)
    await connection.execute("NOTIFY pool_test, 'after release'")
    await asyncio.sleep(0.2)
    await pool.release(connection)
    return [heard]


class Reset:
    """A ``reset=`` callback that raises, or hangs until let go, when told to."""

    def __init__(self) -> None:
        self.fail = False
        self.hang = False
        self.let_go = asyncio.Event()

    async def __call__(self, connection: Any) -> None:
        if self.fail:
            self.fail = False
            raise RuntimeError("reset failed")
        if self.hang:
            await self.let_go.wait()

    async def release_and_ask(self, pool: Any) -> Any:
        """Let a hung reset finish, then ask the pool's next connection a question; its answer."""
        self.hang = False
        self.let_go.set()
        connection = await pool.acquire(timeout=2)
        answer = await connection.fetchval("SELECT 1")
        await pool.release(connection)
        return answer


async def a_failed_reset_gives_a_new_connection(pool: Any, reset: Reset) -> list[Any]:
    connection = await pool.acquire(timeout=2)
    first = await backend(connection)
    reset.fail = True
    with pytest.raises(RuntimeError, match="reset failed"):
        await pool.release(connection)
    started = time.monotonic()
    connection = await pool.acquire(timeout=1)
    second = await backend(connection)
    await pool.release(connection)
    return [first != second, time.monotonic() - started < 1.5]


async def a_hung_release_leaves_the_next_wait_bounded(pool: Any, reset: Reset) -> list[Any]:
    """A release cancelled while asyncpg still resets the connection (in the background: it is shielded) gives the
    turn back; the next acquire waits no longer than its timeout, and gets the connection once the reset ends."""
    connection = await pool.acquire(timeout=2)
    reset.hang = True
    releasing = asyncio.create_task(pool.release(connection))
    await asyncio.sleep(0.05)
    releasing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await releasing
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await pool.acquire(timeout=0.3)
    waited = time.monotonic() - started
    answer = await reset.release_and_ask(pool)
    return [0.25 < waited < 1.3, answer]


async def a_release_with_a_timeout_is_bounded_by_it(pool: Any, reset: Reset) -> list[Any]:
    """``release(connection, timeout=...)`` bounds the reset by that timeout (asyncpg's own rule): a reset that
    hangs is given up on in time, and the pool has a connection for the next acquire."""
    connection = await pool.acquire(timeout=2)
    reset.hang = True
    started = time.monotonic()
    try:
        await pool.release(connection, timeout=0.2)
        outcome = "released"
    except TimeoutError:
        outcome = "TimeoutError"
    waited = time.monotonic() - started
    answer = await reset.release_and_ask(pool)
    return [outcome, waited < 1.5, answer]


SCENARIOS: list[tuple[Callable[..., Awaitable[list[Any]]], dict[str, Any], list[Any]]] = [
    (idle_connections_are_closed, {"size": 2, "min_size": 0, "idle_lifetime": 0.3}, [2, 0, 1, 1]),
    (expired_connections_are_replaced, {"size": 1}, [True, True]),
    (used_up_connections_are_replaced, {"size": 1, "max_queries": 3}, [True, True]),
    (closed_connections_are_replaced, {"size": 1}, [True, 1]),
    (cancelled_statements_are_finished_before_reuse, {"size": 1}, [1, True]),
    (open_transactions_are_rolled_back, {"size": 1}, [True, 0, False]),
    (listeners_are_removed, {"size": 1}, [[]]),
    (a_failed_reset_gives_a_new_connection, {"size": 1, "reset": Reset}, [True, True]),
    (a_hung_release_leaves_the_next_wait_bounded, {"size": 1, "reset": Reset}, [True, 1]),
    (a_release_with_a_timeout_is_bounded_by_it, {"size": 1, "reset": Reset}, ["TimeoutError", True, 1]),
]


@pytest.mark.parametrize(("scenario", "options", "expected"), SCENARIOS, ids=[s.__name__ for s, _, _ in SCENARIOS])
async def test_the_pool_keeps_asyncpgs_lifecycle(
    database_url: str, scenario: Callable[..., Awaitable[list[Any]]], options: dict[str, Any], expected: list[Any]
) -> None:
    """Each scenario runs on the service's pool and on a stock asyncpg pool with the same options and the service's
    connection class: both give the expected observations."""
    observed = {}
    for stock in (False, True):
        settings = dict(options)
        extra = []
        if settings.pop("reset", None) is not None:
            reset = Reset()
            settings["reset"] = reset
            extra.append(reset)
        pool = await open_pool(
            database_url, connection_class=ObservedConnection, acquire_timeout=5, stock=stock, **settings
        )
        try:
            observed["stock" if stock else "service"] = await asyncio.wait_for(scenario(pool, *extra), 20)
        finally:
            pool.terminate()
    assert observed == {"service": expected, "stock": expected}


@pytest.mark.parametrize("migration_lock", [False, True])
async def test_the_service_client_opens_the_pool_its_config_describes(database_url: str, migration_lock: bool) -> None:
    """The client Tortoise makes from the service's config (``service.db.config``): a ``BoundedPool`` whose waits
    are bounded by the configured acquire timeout, named after its connection, with the configured size and idle
    lifetime (asyncpg's 300 s when none is given) and asyncpg's 50,000 queries per connection; it holds the
    migration lock while it is open only when asked to (a client made without the option takes none)."""
    settings = PoolSettings(min_size=1, max_size=3, idle_lifetime=42.0, acquire_timeout=1.25)
    config = tortoise_config(database_url, settings, migration_lock=migration_lock)
    credentials = dict(config["connections"]["default"]["credentials"])
    if not migration_lock:
        del credentials["migration_lock"], credentials["max_inactive_connection_lifetime"]
    client = ServiceDBClient(connection_name="probe", **credentials)
    before = set(open_pools)
    await client.create_connection(with_db=True)
    other = await asyncpg.connect(database_url)
    try:
        (pool,) = set(open_pools) - before
        assert type(pool) is BoundedPool
        assert (pool.acquire_timeout, pool.connection_name, pool.get_max_size()) == (1.25, "probe", 3)
        assert pool._max_queries == 50_000
        assert pool._max_inactive_connection_lifetime == (42.0 if migration_lock else 300.0)
        async with client.acquire_connection() as connection:
            assert await connection.fetchval("SELECT current_database()") == await other.fetchval(
                "SELECT current_database()"
            )
        lock_free = await other.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY)
        assert lock_free is not migration_lock
    finally:
        await other.close()  # ends its session: a lock it took goes with it
        await client.close()
