"""The search migrations (5, 6, 7) run under read and write traffic without stopping it.

A database at migration 4 with ``POSTS`` posts serves the previous release's statements (pages of posts newest
first, a post by id, inserts and title updates, none of which knows the new column) from several connections
while the service's own upgrade (``service.db.upgrade``: the advisory lock, lock-timeout retries) applies the
migrations. A long transaction holding a lock on ``posts`` when the upgrade starts makes the ALTER of migration 5
give up (lock_timeout) and be retried, instead of queueing every statement behind it. Every statement must
succeed and none may take a second; afterwards every post has its vector and the GIN index is valid.
``python -m bench.migration`` runs the same scenario through the real service over HTTP on 100,000 posts.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
import pytest

from service import db
from service.settings import Settings
from tests.migrations import cli
from tests.migrations.conftest import NewDatabase

POSTS = 20_000
CONNECTIONS = 4
ONLINE_SINCE = 5
"""The migrations written to run under traffic (the rules of docs/migrations.md): 5-7 (search), 8 on."""


async def seed(url: str, posts: int) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO users (name, email, password_hash, role, token_version, created_at, updated_at)"
            " VALUES ('Ada', 'ada@example.com', 'x', 'member', 0, now(), now())"
        )
        await connection.execute(
            "INSERT INTO posts (title, body, author_id, created_at, updated_at)"
            " SELECT 'Post ' || n, 'runs and walks ' || n, 1, now() - n * interval '1 second', now()"
            " FROM generate_series(1, $1) n",
            posts,
        )
        await connection.execute("ANALYZE posts")
    finally:
        await connection.close()


class Traffic:
    """Connections sending the previous release's statements until stopped; each statement timed."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.stopped = asyncio.Event()

    async def client(self, url: str, number: int) -> None:
        connection = await asyncpg.connect(url)
        try:
            step = 0
            while not self.stopped.is_set():
                step += 1
                statement, args = [
                    ("SELECT id, title FROM posts ORDER BY created_at DESC, id DESC LIMIT 20", ()),
                    ("SELECT id, title, body FROM posts WHERE id = $1", (step * 7 % POSTS + 1,)),
                    (
                        "INSERT INTO posts (title, body, author_id, created_at, updated_at)"
                        " VALUES ($1, 'written during the migration', 1, now(), now())",
                        (f"new {number}.{step}",),
                    ),
                    (
                        "UPDATE posts SET title = $1, updated_at = now() WHERE id = $2",
                        (f"renamed {step}", step % 50 + 1),
                    ),
                ][step % 4]
                started = time.perf_counter()
                try:
                    await connection.execute(statement, *args)
                except Exception as exc:  # every failure is reported, none may happen
                    self.failures.append(f"{statement[:40]}: {exc}")
                self.latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.005)
        finally:
            await connection.close()


async def hold_a_lock(url: str, seconds: float, holding: asyncio.Event) -> None:
    """A long transaction that read posts (ACCESS SHARE until it ends), as a slow report would."""
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.fetchval("SELECT count(*) FROM posts")
            holding.set()
            await asyncio.sleep(seconds)
    finally:
        await connection.close()


async def test_the_search_migrations_never_stop_reads_and_writes(
    new_database: NewDatabase, migration_files: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    url = await new_database()
    online = [name for name in migration_files if int(name.split("_", 1)[0]) >= ONLINE_SINCE]
    await cli.upgrade(url)
    for _ in online:
        await cli.downgrade(url)
    await seed(url, POSTS)
    traffic = Traffic()
    clients = [asyncio.create_task(traffic.client(url, n)) for n in range(CONNECTIONS)]
    holding = asyncio.Event()
    blocker = asyncio.create_task(hold_a_lock(url, 1.5, holding))
    await holding.wait()
    caplog.set_level(logging.WARNING, logger="service.migrations")
    started = time.perf_counter()
    applied = await db.upgrade(Settings.from_env({"APP_ENV": "test"}, serving=False), url)
    took = time.perf_counter() - started
    await asyncio.sleep(0.2)
    traffic.stopped.set()
    await asyncio.gather(*clients, blocker)

    assert applied == online
    retries = [r.getMessage() for r in caplog.records if "gave up waiting for a lock" in r.getMessage()]
    assert retries, "the long transaction should have made migration 5 give up and retry"
    assert traffic.failures == []
    assert len(traffic.latencies) > 100
    slowest = max(traffic.latencies)
    print(f"upgrade {took:.2f} s, {len(traffic.latencies)} statements, slowest {slowest * 1000:.0f} ms")
    assert slowest < 1.0, f"a statement waited {slowest:.2f} s"
    connection = await asyncpg.connect(url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM posts WHERE search_vector IS NULL") == 0
        assert await connection.fetchval(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_posts_search_vector'::regclass"
        )
    finally:
        await connection.close()
