"""Read replicas on real servers: a primary and two streaming replicas (``pg_basebackup -R``) on this machine, the
service as a real process, and the servers' own statistics (pg_stat_user_tables) to see where statements ran."""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service import db
from service.settings import ReplicaSettings, Settings, SettingsError
from tests.postgres import create_database
from tests.replication import (
    ReplicatedPostgres,
    database_urls,
    fetchval,
    reads_after,
    sessions_ended,
    table_inserts,
    table_reads,
    wait_for_replay,
)
from tests.serving import Served, serve
from tests.test_metrics import parse, value

FAST_CHECKS = {"DATABASE_REPLICA_CHECK_INTERVAL": "0.2", "DATABASE_REPLICA_MAX_LAG": "1"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[ReplicatedPostgres]:
    with tempfile.TemporaryDirectory(prefix="posts-api-replicas-") as folder:
        servers = ReplicatedPostgres(Path(folder), count=2)
        try:
            yield servers
        finally:
            servers.cleanup()


@pytest.fixture(scope="module")
async def urls(cluster: ReplicatedPostgres) -> tuple[str, list[str]]:
    """A migrated database on the primary, and its URL on each replica once they have replayed it."""
    primary = await create_database(cluster.primary.uri, prefix="replicated")
    await db.upgrade(Settings.from_env({"APP_ENV": "test"}, serving=False), primary)
    name = primary.split("?", 1)[0].rsplit("/", 1)[1]
    _, replicas = database_urls(cluster, name)
    await wait_for_replay(primary, replicas)
    return primary, replicas


async def _author(base_url: str) -> dict[str, str]:
    """Sign up a user through the API and return its Authorization header."""
    email = f"writer{time.monotonic_ns()}@example.com"
    async with httpx.AsyncClient(base_url=base_url) as http:
        created = await http.post("/users", json={"name": "Writer", "email": email, "password": "long enough pw"})
        assert created.status_code == 201, created.text
        token = await http.post("/auth/token", data={"username": email, "password": "long enough pw"})
        assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def _final_counts(urls: list[str], table: str) -> list[tuple[int, int]]:
    """Each server's (scans, inserts) of ``table`` once every service session has ended (final statistics)."""
    await sessions_ended(urls)
    return [(await table_reads(url, table), await table_inserts(url, table)) for url in urls]


async def _health(base_url: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/health")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def _wait_for_replica_status(base_url: str, status: str, index: int = 0, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        replicas = (await _health(base_url))["replicas"]
        assert isinstance(replicas, list)
        if replicas[index]["status"] == status:
            return
        assert time.monotonic() < deadline, f"replica {index + 1} did not become {status}: {replicas}"
        await asyncio.sleep(0.1)


@pytest.fixture
def both_replicas(urls: tuple[str, list[str]]) -> Iterator[Served]:
    """The service with both replicas, for one test (test_reads_run_... needs every service session gone)."""
    primary, replicas = urls
    with serve(primary, DATABASE_REPLICA_URLS=",".join(replicas), **FAST_CHECKS) as served:
        yield served


async def test_reads_run_on_the_replicas_and_writes_on_the_primary(urls: tuple[str, list[str]]) -> None:
    """Each phase runs in a service process of its own; the servers' statistics are read once its sessions ended."""
    primary, replicas = urls
    servers = [primary, *replicas]
    environment = {"DATABASE_REPLICA_URLS": ",".join(replicas), **FAST_CHECKS}
    before = await _final_counts(servers, "posts")
    with serve(primary, **environment) as served:
        headers = await _author(served.base_url)
        async with httpx.AsyncClient(base_url=served.base_url, headers=headers) as http:
            written = [await http.post("/posts", json={"title": f"Post {n}", "tags": ["replicated"]}) for n in range(5)]
    assert [response.status_code for response in written] == [201] * 5
    assert [response.json()["title"] for response in written] == [f"Post {n}" for n in range(5)]
    after_writes = await _final_counts(servers, "posts")
    assert after_writes[0][1] == before[0][1] + 5, "the inserts did not run on the primary"
    assert after_writes[1:] == before[1:], "a write (or its read-back) ran on a replica"

    await wait_for_replay(primary, replicas)
    post_id = written[0].json()["id"]
    with serve(primary, **environment) as served:
        async with httpx.AsyncClient(base_url=served.base_url) as http:
            reads = [await http.get(f"/posts/{post_id}") for _ in range(20)]
        health = await _health(served.base_url)
    assert {response.status_code for response in reads} == {200}
    assert all(response.json() == written[0].json() for response in reads)
    after_reads = await _final_counts(servers, "posts")
    assert after_reads[0] == after_writes[0], "a GET's read ran on the primary"
    on_replicas = [now[0] - then[0] for now, then in zip(after_reads[1:], after_writes[1:], strict=True)]
    assert sum(on_replicas) >= 20
    assert min(on_replicas) >= 5, f"the replicas did not share the reads: {on_replicas}"
    assert [now[1] for now in after_reads[1:]] == [0, 0]  # replay is not counted as inserts on a standby
    assert health["status"] == "ok"
    assert health["database"] == "ok"
    assert [(r["name"], r["status"]) for r in health["replicas"]] == [("replica_1", "ok"), ("replica_2", "ok")]


async def test_a_write_is_served_by_a_replica_once_replayed(both_replicas: Served, urls: tuple[str, list[str]]) -> None:
    primary, replicas = urls
    headers = await _author(both_replicas.base_url)
    async with httpx.AsyncClient(base_url=both_replicas.base_url, headers=headers) as http:
        created = await http.post("/posts", json={"title": "Fresh", "body": "just written", "tags": ["new"]})
        assert created.status_code == 201
        await wait_for_replay(primary, replicas)
        before = [await table_reads(url, "posts") for url in replicas]
        fetched = await http.get(f"/posts/{created.json()['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created.json()
    deadline = time.monotonic() + 20
    while [await table_reads(url, "posts") for url in replicas] == before:
        assert time.monotonic() < deadline, "no replica served the read"
        await asyncio.sleep(0.2)


@pytest.fixture
def first_replica(cluster: ReplicatedPostgres, urls: tuple[str, list[str]]) -> Iterator[Served]:
    """The service with replica 1 only; the replica is running again after the test."""
    primary, replicas = urls
    try:
        with serve(primary, DATABASE_REPLICA_URLS=replicas[0], **FAST_CHECKS) as served:
            yield served
    finally:
        cluster.replicas[0].start()


async def _read_continuously(base_url: str, path: str, seconds: float) -> list[int]:
    statuses: list[int] = []
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        while time.monotonic() < deadline:
            started = time.monotonic()
            response = await http.get(path)
            statuses.append(response.status_code)
            assert time.monotonic() - started < 2, "a read waited for the stopped replica"
    return statuses


async def test_a_stopped_replica_sends_reads_to_the_primary_until_it_returns(
    cluster: ReplicatedPostgres, first_replica: Served, urls: tuple[str, list[str]]
) -> None:
    primary, replicas = urls
    base = first_replica.base_url
    headers = await _author(base)
    async with httpx.AsyncClient(base_url=base, headers=headers) as http:
        post = (await http.post("/posts", json={"title": "Survives"})).json()
    await wait_for_replay(primary, replicas)
    path = f"/posts/{post['id']}"

    primary_before = await table_reads(primary, "posts")
    reader = asyncio.create_task(_read_continuously(base, path, seconds=3))
    await asyncio.sleep(0.5)
    await asyncio.to_thread(cluster.replicas[0].stop)
    statuses = await reader
    assert set(statuses) == {200}, statuses
    await _wait_for_replica_status(base, "unavailable")
    assert set(await _read_continuously(base, path, seconds=1)) == {200}
    await reads_after(primary, "posts", primary_before)  # the primary served the reads

    await asyncio.to_thread(cluster.replicas[0].start)
    await _wait_for_replica_status(base, "ok")
    replica_before = await table_reads(replicas[0], "posts")
    assert set(await _read_continuously(base, path, seconds=1)) == {200}
    await reads_after(replicas[0], "posts", replica_before)  # reads are back on the replica


async def test_a_lagging_replica_is_skipped_until_it_catches_up(
    first_replica: Served, urls: tuple[str, list[str]]
) -> None:
    primary, replicas = urls
    base = first_replica.base_url
    headers = await _author(base)
    await wait_for_replay(primary, replicas)
    await fetchval(replicas[0], "SELECT pg_wal_replay_pause()")
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers) as http:
            created = await http.post("/posts", json={"title": "Not replayed yet"})
            assert created.status_code == 201
            await _wait_for_replica_status(base, "lagging")
            fetched = await http.get(f"/posts/{created.json()['id']}")
        assert fetched.status_code == 200  # from the primary: the paused replica does not have the row
        assert fetched.json() == created.json()
        assert await fetchval(replicas[0], "SELECT count(*) FROM posts WHERE id = $1", created.json()["id"]) == 0
    finally:
        await fetchval(replicas[0], "SELECT pg_wal_replay_resume()")
    await _wait_for_replica_status(base, "ok")


async def test_an_unreachable_replica_is_skipped_from_the_start(urls: tuple[str, list[str]]) -> None:
    primary, replicas = urls
    nowhere = "postgres://posts:posts@127.0.0.1:1/posts"
    with serve(primary, DATABASE_REPLICA_URLS=f"{nowhere},{replicas[1]}", **FAST_CHECKS) as served:
        health = await _health(served.base_url)
        assert [(r["name"], r["status"]) for r in health["replicas"]] == [
            ("replica_1", "unavailable"),
            ("replica_2", "ok"),
        ]
        assert set(await _read_continuously(served.base_url, "/posts", seconds=1)) == {200}


async def test_the_metrics_report_each_replica_and_its_pool(urls: tuple[str, list[str]]) -> None:
    primary, replicas = urls
    nowhere = "postgres://posts:posts@127.0.0.1:1/posts"
    with serve(primary, DATABASE_REPLICA_URLS=f"{nowhere},{replicas[1]}", **FAST_CHECKS) as served:
        await _wait_for_replica_status(served.base_url, "ok", index=1)
        assert set(await _read_continuously(served.base_url, "/posts", seconds=0.5)) == {200}
        async with httpx.AsyncClient(base_url=served.base_url) as http:
            samples = parse((await http.get("/metrics")).text)
    statuses, lag = "posts_api_db_replica_status", "posts_api_db_replica_lag_seconds"
    pool = "posts_api_db_pool_connections"
    assert value(samples, statuses, replica="replica_1", status="unavailable") == 1
    assert value(samples, statuses, replica="replica_1", status="ok") == 0
    assert value(samples, statuses, replica="replica_2", status="ok") == 1
    assert value(samples, statuses, replica="replica_2", status="unavailable") == 0
    assert math.isnan(value(samples, lag, replica="replica_1"))
    assert 0 <= value(samples, lag, replica="replica_2") <= float(FAST_CHECKS["DATABASE_REPLICA_MAX_LAG"])
    default_max = Settings.model_fields["db_pool_max"].default
    assert value(samples, pool, database="replica_2", state="max") == default_max
    assert value(samples, pool, database="replica_2", state="open") >= 1
    assert value(samples, pool, database="default", state="max") == default_max


def test_replica_settings() -> None:
    assert Settings.from_env({}).replicas == ReplicaSettings()
    settings = Settings.from_env({"DATABASE_REPLICA_URLS": " postgres://a/x , postgresql://b/x ,"})
    assert settings.replicas.urls == ("postgres://a/x", "postgresql://b/x")
    with pytest.raises(SettingsError, match="DATABASE_REPLICA_URLS"):
        Settings.from_env({"DATABASE_REPLICA_URLS": "mysql://a/x"})
    with pytest.raises(SettingsError, match="DATABASE_REPLICA_MAX_LAG"):
        Settings.from_env({"DATABASE_REPLICA_MAX_LAG": "0.5", "DATABASE_REPLICA_CHECK_INTERVAL": "1"})


async def test_the_router_keeps_transactions_and_other_methods_on_the_primary(
    app: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router's choice, with a replica marked usable: only a GET's reads outside a transaction leave the primary."""
    from tortoise.transactions import in_transaction

    from service.db import replicas
    from service.models import Post

    replica_set = replicas.ReplicaSet(ReplicaSettings(urls=("postgres://a/x", "postgres://b/x")))
    for state in replica_set.states:
        state.status = "ok"
    monkeypatch.setattr(replicas, "_active", replica_set)
    router = replicas.ReplicaRouter()
    assert router.db_for_read(Post) == "default"  # not in a GET request
    with replicas.replica_reads():
        assert [router.db_for_read(Post) for _ in range(4)] == ["replica_1", "replica_2", "replica_1", "replica_2"]
        assert router.db_for_write(Post) == "default"
        async with in_transaction("default"):
            assert router.db_for_read(Post) == "default"
        with replicas.primary_reads():
            assert router.db_for_read(Post) == "default"
        replica_set.mark_unavailable("replica_1", "test")
        assert {router.db_for_read(Post) for _ in range(4)} == {"replica_2"}
        replica_set.states[1].status = "lagging"
        assert router.db_for_read(Post) == "default"
