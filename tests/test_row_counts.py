"""The trigger-kept totals (migration 3) stay exact through every kind of write, also concurrent ones."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import httpx
import pytest

from service.db import RETRIES, retry_on_conflict
from service.models import Role, User
from tests.conftest import MakePost, MakeUser

Headers = Callable[[User], dict[str, str]]


async def kept_and_real(database_url: str) -> tuple[dict[str, int], dict[str, int]]:
    connection = await asyncpg.connect(database_url)
    try:
        kept = {row["name"]: row["n"] for row in await connection.fetch("SELECT name, n FROM row_counts")}
        real = {
            "users": await connection.fetchval("SELECT count(*) FROM users"),
            "users:admin": await connection.fetchval("SELECT count(*) FROM users WHERE role = 'admin'"),
            "users:member": await connection.fetchval("SELECT count(*) FROM users WHERE role = 'member'"),
            "posts": await connection.fetchval("SELECT count(*) FROM posts"),
        }
    finally:
        await connection.close()
    return {name: kept.get(name, 0) for name in real}, real


async def test_totals_follow_inserts_role_changes_and_cascading_deletes(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_post: MakePost,
    token_for: Headers,
    database_url: str,
) -> None:
    admin = await make_user(role=Role.ADMIN)
    members = [await make_user() for _ in range(3)]
    for member in members:
        await make_post(member, tags=["x"])
        await make_post(member)
    signup = {"name": "N", "email": "n@example.com", "password": "long enough", "posts": [{"title": "a"}] * 4}
    assert (await client.post("/users", json=signup)).status_code == 201
    promoted = await client.patch(f"/users/{members[0].id}", json={"role": "admin"}, headers=token_for(admin))
    assert promoted.status_code == 200
    assert (await client.delete(f"/users/{members[1].id}", headers=token_for(admin))).status_code == 204
    kept, real = await kept_and_real(database_url)
    assert kept == real == {"users": 4, "users:admin": 2, "users:member": 2, "posts": 8}
    page = (await client.get("/posts", params={"limit": 1})).json()
    assert page["total"] == 8
    assert (await client.get("/users", params={"role": "admin"})).json()["total"] == 2


async def test_totals_stay_exact_under_concurrent_signups_and_deletes(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Headers, database_url: str
) -> None:
    """Sign-ups with posts lock the user counters, then the post counter; deleting a user with posts locks them the
    other way round (the cascade runs first). PostgreSQL breaks such deadlocks; the service retries the victim."""
    admin = await make_user(role=Role.ADMIN)
    doomed = [await make_user() for _ in range(8)]
    for user in doomed:
        await make_post(user)
    signups = [
        client.post(
            "/users",
            json={"name": f"S{n}", "email": f"s{n}@example.com", "password": "long enough", "posts": [{"title": "p"}]},
        )
        for n in range(8)
    ]
    deletes = [client.delete(f"/users/{user.id}", headers=token_for(admin)) for user in doomed]
    responses = await asyncio.gather(*[request for pair in zip(signups, deletes, strict=True) for request in pair])
    assert sorted(response.status_code for response in responses) == [201] * 8 + [204] * 8
    kept, real = await kept_and_real(database_url)
    assert kept == real == {"users": 9, "users:admin": 1, "users:member": 8, "posts": 8}


async def test_a_deadlock_victim_is_retried_then_reported_as_503(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:

    calls: list[int] = []

    @retry_on_conflict
    async def flaky(fail_times: int) -> str:
        calls.append(1)
        if len(calls) <= fail_times:
            raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
        return "done"

    assert await flaky(RETRIES - 1) == "done"
    assert len(calls) == RETRIES
    calls.clear()
    with pytest.raises(asyncpg.exceptions.DeadlockDetectedError):
        await flaky(RETRIES)
    assert len(calls) == RETRIES

    async def always_deadlocked(*args: object, **kwargs: object) -> None:
        raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")

    user = await make_user()
    monkeypatch.setattr("service.posts.queries.add_tags", always_deadlocked)
    response = await client.post("/posts", json={"title": "t", "tags": ["a"]}, headers=token_for(user))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
