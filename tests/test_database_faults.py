"""PostgreSQL stops, comes back, or runs out of connections while the service runs: 503s, never hangs, recovery.

These tests run the real server (``python -m service serve``) against a PostgreSQL of their own that they stop
and start, so the outage is real: sockets refused, sessions terminated.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from tortoise.exceptions import OperationalError

from service import db
from service.db.client import ConnectRefusedError
from service.errors import database_unavailable
from service.settings import Settings
from tests.postgres import StoppablePostgres, create_database, drop_database
from tests.serving import serve

TIMEOUTS = {"DB_CONNECT_TIMEOUT": "2", "DB_ACQUIRE_TIMEOUT": "1", "DB_COMMAND_TIMEOUT": "2"}
BOUND = 10  # seconds: far above every configured timeout, far below "hanging"


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[StoppablePostgres]:
    with tempfile.TemporaryDirectory(prefix="posts-api-fault-pg-") as folder:
        server = StoppablePostgres(Path(folder))
        try:
            yield server
        finally:
            server.cleanup()


@pytest.fixture
async def own_database(own_postgres: StoppablePostgres, settings: Settings) -> AsyncIterator[str]:
    url = await create_database(own_postgres.uri, prefix="faults")
    await db.upgrade(settings, url)
    yield url
    await drop_database(own_postgres.uri, url)


async def get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.get(path)
    return response, time.monotonic() - started


async def test_an_outage_gives_503s_fast_and_the_service_recovers_by_itself(
    own_postgres: StoppablePostgres, own_database: str
) -> None:
    with serve(own_database, **TIMEOUTS) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
            assert (await client.get("/users")).status_code == 200
            own_postgres.stop()
            try:
                for path in ("/users", "/posts/1", "/tags", "/health"):
                    response, elapsed = await get(client, path)
                    assert response.status_code == 503, (path, response.text)
                    assert elapsed < BOUND, (path, elapsed)
                    if path == "/health":
                        assert response.json()["database"] == "unavailable"
                    else:
                        assert response.json()["status_code"] == 503
                        assert response.headers["retry-after"] == "1"
                signup = await client.post(
                    "/users", json={"name": "A", "email": "a@example.com", "password": "long enough"}
                )
                assert signup.status_code == 503
            finally:
                own_postgres.start()
            deadline = time.monotonic() + 30
            while (await client.get("/health")).status_code != 200:
                assert time.monotonic() < deadline, "the service did not recover"
                await asyncio.sleep(0.2)
            for _ in range(20):
                assert (await client.get("/users")).status_code == 200
            created = await client.post(
                "/users", json={"name": "A", "email": "a@example.com", "password": "long enough"}
            )
            assert created.status_code == 201, created.text
        assert served.process.poll() is None, "the service must survive the outage without a restart"


async def test_an_exhausted_pool_answers_503_after_the_acquire_timeout(own_database: str) -> None:
    """One pooled connection, held by a request stuck on a row lock: the next request waits 1 s, then 503."""
    with serve(
        own_database, **{**TIMEOUTS, "DB_POOL_MIN": "1", "DB_POOL_MAX": "1", "DB_COMMAND_TIMEOUT": "8"}
    ) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
            signup = await client.post(
                "/users", json={"name": "A", "email": "a@example.com", "password": "long enough"}
            )
            user_id = signup.json()["id"]
            token = (
                await client.post("/auth/token", data={"username": "a@example.com", "password": "long enough"})
            ).json()["access_token"]
            post = await client.post("/posts", json={"title": "t"}, headers={"Authorization": f"Bearer {token}"})
            blocker = await asyncpg.connect(own_database)
            try:
                transaction = blocker.transaction()
                await transaction.start()
                await blocker.execute("SELECT 1 FROM posts WHERE id = $1 FOR UPDATE", post.json()["id"])
                stuck = asyncio.create_task(
                    client.patch(
                        f"/posts/{post.json()['id']}",
                        json={"title": "edited"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                )
                await asyncio.sleep(0.5)  # the PATCH now holds the pool's only connection, waiting for the lock
                response, elapsed = await get(client, f"/users/{user_id}")
                assert response.status_code == 503, response.text
                assert elapsed < BOUND
                await transaction.rollback()
            finally:
                await blocker.close()
            assert (await stuck).status_code == 200
            assert (await client.get(f"/users/{user_id}")).status_code == 200


async def test_a_statement_stuck_past_the_command_timeout_is_a_503_and_rolls_back(own_database: str) -> None:
    with serve(own_database, **TIMEOUTS) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
            await client.post("/users", json={"name": "A", "email": "a@example.com", "password": "long enough"})
            token = (
                await client.post("/auth/token", data={"username": "a@example.com", "password": "long enough"})
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            post = (await client.post("/posts", json={"title": "before", "tags": ["x"]}, headers=headers)).json()
            blocker = await asyncpg.connect(own_database)
            try:
                async with blocker.transaction():
                    await blocker.execute("SELECT 1 FROM posts WHERE id = $1 FOR UPDATE", post["id"])
                    started = time.monotonic()
                    response = await client.patch(
                        f"/posts/{post['id']}", json={"title": "after", "tags": ["y"]}, headers=headers
                    )
                    assert response.status_code == 503, response.text
                    assert time.monotonic() - started < BOUND
            finally:
                await blocker.close()
            unchanged = (await client.get(f"/posts/{post['id']}")).json()
            assert (unchanged["title"], unchanged["tags"]) == ("before", ["x"])


REFUSALS = {
    # SQLSTATE 55000 at connect: "database ... is not currently accepting connections" (superusers included)
    "connections disallowed": ("ALLOW_CONNECTIONS false", "ALLOW_CONNECTIONS true"),
}
TERMINATE_OTHERS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
)


@pytest.mark.parametrize("refusal", list(REFUSALS))
async def test_a_database_that_refuses_new_connections_is_a_503_and_the_service_recovers(
    own_postgres: StoppablePostgres, own_database: str, refusal: str
) -> None:
    refuse, allow = REFUSALS[refusal]
    name = own_database.split("?", 1)[0].rsplit("/", 1)[1]
    with serve(own_database, **TIMEOUTS) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
            assert (await client.get("/users")).status_code == 200
            admin = await asyncpg.connect(own_postgres.uri)
            try:
                await admin.execute(f'ALTER DATABASE "{name}" WITH {refuse}')
                await admin.execute(TERMINATE_OTHERS, name)
                for path in ("/health", "/users", "/posts/1", "/tags", "/users/1"):
                    response, elapsed = await get(client, path)
                    assert response.status_code == 503, (refusal, path, response.text)
                    assert elapsed < BOUND, (path, elapsed)
                    if path == "/health":
                        assert response.json() == {"status": "degraded", "database": "unavailable"}
                    else:
                        assert response.json()["status_code"] == 503
            finally:
                await admin.execute(f'ALTER DATABASE "{name}" WITH {allow}')
                await admin.close()
            deadline = time.monotonic() + 30
            while (await client.get("/health")).status_code != 200:
                assert time.monotonic() < deadline, "the service did not recover"
                await asyncio.sleep(0.2)
            assert (await client.get("/users")).status_code == 200
        assert served.process.poll() is None


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (asyncpg.exceptions.TooManyConnectionsError("too many connections"), True),  # 53300
        (asyncpg.exceptions.OutOfMemoryError("out of memory"), True),  # 53200
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),  # 57P03
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),  # 57P01
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), True),  # 08003
        (ConnectRefusedError("55000 not currently accepting connections"), True),
        (asyncpg.exceptions.ObjectNotInPrerequisiteStateError("in a statement"), False),  # 55000, not at connect
        (asyncpg.exceptions.UniqueViolationError("duplicate"), False),  # 23505
        (asyncpg.exceptions.DataError("bad value"), False),  # 22000
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_every_kind_of_refusal_is_classified_in_one_place(error: Exception, unavailable: bool) -> None:
    assert database_unavailable(error) is unavailable
    wrapped = OperationalError("wrapped by Tortoise")
    wrapped.__cause__ = error
    assert database_unavailable(wrapped) is unavailable
