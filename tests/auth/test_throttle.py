"""Sign-in hardening: per-account and per-address throttling in PostgreSQL, and no account-existence oracle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from service.models import User
from service.settings import Settings
from tests.conftest import PASSWORD, MakeUser
from tests.helpers import assert_error


def client_from(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def elsewhere(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client at another address."""
    async with client_from(app, "203.0.113.9") as http:
        yield http


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/token", data={"username": email, "password": password})


async def test_an_account_is_locked_after_too_many_failures_even_with_the_right_password(
    client: httpx.AsyncClient, elsewhere: httpx.AsyncClient, make_user: MakeUser, app_settings: Settings
) -> None:
    await make_user(email="ada@example.com")
    for _ in range(app_settings.login_max_failures):
        assert_error(await attempt(client, "ada@example.com", "wrong"), 401)
    locked = await attempt(client, "ada@example.com", PASSWORD)
    assert_error(locked, 429)
    assert 0 < int(locked.headers["retry-after"]) <= app_settings.login_window_seconds
    assert_error(await attempt(elsewhere, "ADA@example.com", PASSWORD), 429)


async def test_twenty_users_behind_one_address_each_mistyping_once_all_sign_in(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """One office behind a NAT: typos of different people do not add up to a lockout for everyone."""
    emails = [f"colleague{n}@example.com" for n in range(20)]
    for email in emails:
        await make_user(email=email)
    for email in emails:
        assert_error(await attempt(client, email, "mistyped"), 401)
        response = await attempt(client, email, PASSWORD)
        assert response.status_code == 200, response.text


async def test_a_locked_account_does_not_lock_others_at_the_same_address(
    client: httpx.AsyncClient, make_user: MakeUser, app_settings: Settings
) -> None:
    await make_user(email="ada@example.com")
    await make_user(email="grace@example.com")
    for _ in range(app_settings.login_max_failures):
        assert_error(await attempt(client, "ada@example.com", "wrong"), 401)
    assert_error(await attempt(client, "ada@example.com", "wrong"), 429)  # the 6th try on the account
    assert (await attempt(client, "grace@example.com", PASSWORD)).status_code == 200


async def test_an_address_is_locked_after_a_spray_across_many_accounts(
    app: Any, elsewhere: httpx.AsyncClient, make_user: MakeUser, app_settings: Settings
) -> None:
    await make_user(email="grace@example.com")
    limit = app_settings.login_address_max_failures
    assert limit > app_settings.login_max_failures
    async with client_from(app, "198.51.100.7") as sprayer:
        for n in range(limit):
            assert_error(await attempt(sprayer, f"guess{n}@example.com", "wrong"), 401)
        locked = await attempt(sprayer, "grace@example.com", PASSWORD)
        assert_error(locked, 429)
        assert 0 < int(locked.headers["retry-after"]) <= app_settings.login_address_window_seconds
    assert (await attempt(elsewhere, "grace@example.com", PASSWORD)).status_code == 200


async def test_a_successful_sign_in_clears_the_accounts_failures(
    client: httpx.AsyncClient, elsewhere: httpx.AsyncClient, make_user: MakeUser, app_settings: Settings
) -> None:
    await make_user(email="ada@example.com")
    below = app_settings.login_max_failures - 1
    for _ in range(below):
        assert_error(await attempt(elsewhere, "ada@example.com", "wrong"), 401)
    assert (await attempt(client, "ada@example.com", PASSWORD)).status_code == 200
    for _ in range(below):
        assert_error(await attempt(client, "ada@example.com", "wrong"), 401)
    assert (await attempt(client, "ada@example.com", PASSWORD)).status_code == 200


async def test_the_lock_ends_with_its_window_and_lives_in_the_database(
    client: httpx.AsyncClient, make_user: MakeUser, app_settings: Settings, database_url: str
) -> None:
    await make_user(email="ada@example.com")
    for _ in range(app_settings.login_max_failures):
        await attempt(client, "ada@example.com", "wrong")
    assert_error(await attempt(client, "ada@example.com", PASSWORD), 429)
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT key, failures FROM login_throttles ORDER BY key")
        assert {row["key"]: row["failures"] for row in rows} == {
            "email:ada@example.com": app_settings.login_max_failures,
            "ip:127.0.0.1": app_settings.login_max_failures,  # counted, far below the address's own limit
        }
        await connection.execute(
            "UPDATE login_throttles SET window_started_at = now() - make_interval(secs => $1)",
            app_settings.login_window_seconds + 1,
        )
    finally:
        await connection.close()
    assert (await attempt(client, "ada@example.com", PASSWORD)).status_code == 200


async def test_unknown_emails_cost_a_password_verification_too(
    client: httpx.AsyncClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same work whether or not the account exists, so timing does not tell which emails have accounts."""
    import service.security as security

    calls: list[bool] = []
    real_verify: Callable[[str, str, bool], bool] = security._verify

    def counting(password_hash: str, password: str, real: bool) -> bool:
        calls.append(password_hash.startswith("$argon2id$"))
        return real_verify(password_hash, password, real)

    monkeypatch.setattr(security, "_verify", counting)
    await make_user(email="ada@example.com")
    assert_error(await attempt(client, "nobody@example.com", "whatever"), 401)
    assert_error(await attempt(client, "ada@example.com", "whatever"), 401)
    assert calls == [True, True]


async def test_passwords_are_never_stored_or_returned(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", json={"name": "A", "email": "a@example.com", "password": "plain text pw"})
    assert "plain text pw" not in response.text
    user = await User.get(email="a@example.com")
    assert "plain text pw" not in user.password_hash
