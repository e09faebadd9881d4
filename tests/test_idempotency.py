"""Safe POST retries: an Idempotency-Key replays the first success, refuses another body (422) and a concurrent
repeat (409), frees itself after a failure, and is scoped to its caller."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from service.models import User
from tests.conftest import MakeUser
from tests.helpers import assert_error

Headers = Callable[[User], dict[str, str]]
SIGNUP = {"name": "Ada", "email": "ada@example.com", "password": "analytical engine", "profile": {"bio": "hi"}}


async def rows(database_url: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


async def test_a_retried_sign_up_gets_the_first_answer_and_creates_one_user(
    client: httpx.AsyncClient, database_url: str
) -> None:
    key = {"Idempotency-Key": "signup-7f3c"}
    first = await client.post("/users", json=SIGNUP, headers=key)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    again = await client.post("/users", json=SIGNUP, headers=key)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert [row["n"] for row in await rows(database_url, "SELECT count(*) AS n FROM users")] == [1]
    stored = await rows(database_url, "SELECT owner, key, fingerprint, body FROM idempotency_keys")
    assert [(row["owner"], row["key"]) for row in stored] == [("anonymous", "signup-7f3c")]
    assert "analytical engine" not in str([dict(row) for row in stored])  # no password, in any form
    without_key = await client.post("/users", json=SIGNUP)
    assert_error(without_key, 409)  # without a key, a repeat is a new request: the email is taken


async def test_the_same_key_with_another_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient, database_url: str
) -> None:
    key = {"Idempotency-Key": "k1"}
    assert (await client.post("/users", json=SIGNUP, headers=key)).status_code == 201
    other = await client.post("/users", json={**SIGNUP, "email": "grace@example.com"}, headers=key)
    body = assert_error(other, 422)
    assert "different request" in body["detail"]
    other_password = await client.post("/users", json={**SIGNUP, "password": "another passphrase"}, headers=key)
    assert_error(other_password, 422)
    assert [row["n"] for row in await rows(database_url, "SELECT count(*) AS n FROM users")] == [1]


async def test_a_repeat_while_the_first_runs_is_409_and_only_one_post_is_written(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers, database_url: str
) -> None:
    author = await make_user()
    headers = {**token_for(author), "Idempotency-Key": "post-once"}
    body = {"title": "Once", "tags": [f"t{n}" for n in range(10)]}
    responses = await asyncio.gather(*(client.post("/posts", json=body, headers=headers) for _ in range(8)))
    statuses = Counter(response.status_code for response in responses)
    assert statuses[201] >= 1
    assert set(statuses) <= {201, 409}
    assert all(
        response.json()["detail"].startswith("A request with this Idempotency-Key is still being processed")
        for response in responses
        if response.status_code == 409
    )
    created = {response.json()["id"] for response in responses if response.status_code == 201}
    assert len(created) == 1  # the replays name the one post
    assert [row["n"] for row in await rows(database_url, "SELECT count(*) AS n FROM posts")] == [1]


async def test_keys_belong_to_their_caller(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers, database_url: str
) -> None:
    ada, grace = await make_user(), await make_user()
    body = {"title": "Same words"}
    first = await client.post("/posts", json=body, headers={**token_for(ada), "Idempotency-Key": "shared"})
    second = await client.post("/posts", json=body, headers={**token_for(grace), "Idempotency-Key": "shared"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert "idempotent-replayed" not in second.headers
    assert (first.json()["author_id"], second.json()["author_id"]) == (ada.id, grace.id)
    owners = await rows(database_url, "SELECT owner FROM idempotency_keys ORDER BY owner")
    assert [row["owner"] for row in owners] == sorted([f"user:{ada.id}", f"user:{grace.id}"])


async def test_a_failed_first_request_frees_its_key(client: httpx.AsyncClient, database_url: str) -> None:
    key = {"Idempotency-Key": "retry-me"}
    assert_error(await client.post("/users", json={**SIGNUP, "password": "short"}, headers=key), 400)
    assert await rows(database_url, "SELECT id FROM idempotency_keys") == []
    assert (await client.post("/users", json=SIGNUP, headers=key)).status_code == 201


async def test_an_expired_key_or_an_abandoned_claim_is_taken_over(client: httpx.AsyncClient, database_url: str) -> None:
    key = {"Idempotency-Key": "old"}
    assert (await client.post("/users", json=SIGNUP, headers=key)).status_code == 201
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
        other = {**SIGNUP, "email": "grace@example.com"}
        assert (await client.post("/users", json=other, headers=key)).status_code == 201  # a new request now
        await connection.execute(
            "UPDATE idempotency_keys SET status_code = NULL, body = NULL, created_at = now() - interval '2 minutes'"
        )
        third = {**SIGNUP, "email": "third@example.com"}
        assert (await client.post("/users", json=third, headers=key)).status_code == 201  # its process had died
    finally:
        await connection.close()


@pytest.mark.parametrize("value", ["", " leading", "trailing ", "x" * 256, "tab\there", "é"])
async def test_a_malformed_key_is_a_400_naming_the_header(client: httpx.AsyncClient, value: str) -> None:
    response = await client.post("/users", json=SIGNUP, headers={"Idempotency-Key": value.encode("utf-8")})
    body: dict[str, Any] = assert_error(response, 400)
    assert body["extra"] == [
        {
            "key": "Idempotency-Key",
            "message": "must be 1 to 255 printable ASCII characters, without spaces at either end",
        }
    ]


async def test_the_longest_and_oddest_valid_keys_work(client: httpx.AsyncClient) -> None:
    for n, value in enumerate(["~" * 255, "a b", "!"]):
        signup = {**SIGNUP, "email": f"odd{n}@example.com"}
        assert (await client.post("/users", json=signup, headers={"Idempotency-Key": value})).status_code == 201


async def test_a_repeat_of_a_request_still_running_is_409(
    client: httpx.AsyncClient, app_settings: Any, database_url: str
) -> None:
    from service.idempotency import fingerprint

    content = json.dumps(SIGNUP).encode()
    claimed = fingerprint(app_settings.jwt_secret, "POST", "/users", content)
    connection = await asyncpg.connect(database_url)
    try:  # the first request's claim, as its process holds it while the request runs
        await connection.execute(
            "INSERT INTO idempotency_keys (owner, key, fingerprint, created_at, expires_at) "
            "VALUES ('anonymous', 'running', $1, now(), now() + interval '1 day')",
            claimed,
        )
    finally:
        await connection.close()
    headers = {"Idempotency-Key": "running", "content-type": "application/json"}
    body = assert_error(await client.post("/users", content=content, headers=headers), 409)
    assert "still being processed" in body["detail"]
    assert_error(await client.post("/users", content=content.replace(b"Ada", b"Eve"), headers=headers), 422)
