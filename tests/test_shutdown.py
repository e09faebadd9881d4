"""SIGTERM: stop accepting, finish what is in flight (committed or rolled back whole), close the pool, exit 0."""

from __future__ import annotations

import asyncio
import signal
import time

import asyncpg
import httpx

from tests.serving import Served, serve


async def a_post_and_its_token(client: httpx.AsyncClient, email: str) -> tuple[int, dict[str, str]]:
    await client.post("/users", json={"name": "A", "email": email, "password": "long enough"})
    token = (await client.post("/auth/token", data={"username": email, "password": "long enough"})).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    post = await client.post("/posts", json={"title": "before", "tags": ["old"]}, headers=headers)
    return post.json()["id"], headers


async def wait_for_exit(served: Served, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while served.process.poll() is None:
        assert time.monotonic() < deadline, "the server did not exit in time"
        await asyncio.sleep(0.05)
    return served.process.returncode


async def test_in_flight_requests_finish_and_new_ones_are_refused(database_url: str, app: object) -> None:
    with serve(database_url, SHUTDOWN_GRACE_SECONDS="10", DB_COMMAND_TIMEOUT="10") as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
            post_id, headers = await a_post_and_its_token(client, "inflight@example.com")
            blocker = await asyncpg.connect(database_url)
            try:
                transaction = blocker.transaction()
                await transaction.start()
                await blocker.execute("SELECT 1 FROM posts WHERE id = $1 FOR UPDATE", post_id)
                in_flight = asyncio.create_task(
                    client.patch(f"/posts/{post_id}", json={"title": "after", "tags": ["new"]}, headers=headers)
                )
                await asyncio.sleep(0.5)
                served.process.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                async with httpx.AsyncClient(base_url=served.base_url, timeout=5) as late:
                    refused = False
                    try:
                        await late.get("/health")
                    except httpx.TransportError:
                        refused = True
                    assert refused, "a new connection was accepted after SIGTERM"
                await transaction.rollback()
            finally:
                await blocker.close()
            response = await in_flight
            assert response.status_code == 200, response.text
            assert (response.json()["title"], response.json()["tags"]) == ("after", ["new"])
        assert await wait_for_exit(served, 15) == 0
        log = served.log()
        assert "Traceback" not in log

    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT title FROM posts WHERE id = $1", post_id) == "after"
    finally:
        await connection.close()


async def test_a_request_outliving_the_grace_period_is_rolled_back_whole(database_url: str, app: object) -> None:
    with serve(database_url, SHUTDOWN_GRACE_SECONDS="1", DB_COMMAND_TIMEOUT="30") as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
            post_id, headers = await a_post_and_its_token(client, "slow@example.com")
            blocker = await asyncpg.connect(database_url)
            try:
                async with blocker.transaction():
                    # Lock the tag table's rows the PATCH will need after it has already updated the post row.
                    await blocker.execute("LOCK TABLE post_tags IN ACCESS EXCLUSIVE MODE")
                    in_flight = asyncio.create_task(
                        client.patch(f"/posts/{post_id}", json={"title": "half", "tags": ["new"]}, headers=headers)
                    )
                    await asyncio.sleep(0.5)
                    started = time.monotonic()
                    served.process.send_signal(signal.SIGTERM)
                    assert await wait_for_exit(served, 15) == 0
                    assert time.monotonic() - started < 12
                    outcome = await asyncio.gather(in_flight, return_exceptions=True)
                    assert isinstance(outcome[0], httpx.TransportError) or outcome[0].status_code >= 500
            finally:
                await blocker.close()

    connection = await asyncpg.connect(database_url)
    try:
        title = await connection.fetchval("SELECT title FROM posts WHERE id = $1", post_id)
        tags = await connection.fetch(
            "SELECT t.name FROM post_tags l JOIN tags t ON t.id = l.tag_id WHERE l.post_id = $1", post_id
        )
    finally:
        await connection.close()
    assert (title, [row["name"] for row in tags]) == ("before", ["old"])


async def test_with_a_drain_phase_health_fails_first_while_requests_are_still_served(
    database_url: str, app: object
) -> None:
    with serve(database_url, SHUTDOWN_DRAIN_SECONDS="2") as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as client:
            assert (await client.get("/health")).status_code == 200
            served.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            health = await client.get("/health")
            assert health.status_code == 503
            assert health.json() == {"status": "draining", "database": "ok"}
            async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as newcomer:
                assert (await newcomer.get("/posts")).status_code == 200  # new connections are still accepted
            assert served.process.poll() is None
        started = time.monotonic()
        assert await wait_for_exit(served, 15) == 0
        assert time.monotonic() - started > 1.0, "the drain phase ended early"
