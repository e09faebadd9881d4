"""Sign-in hardening: three limits in PostgreSQL, atomic under parallel attempts, and no account-existence oracle."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from service.app import create_app
from service.models import User
from service.settings import Settings
from tests.conftest import PASSWORD, MakeUser
from tests.helpers import assert_error


def client_from(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60)


@pytest.fixture
async def elsewhere(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client at another address."""
    async with client_from(app, "203.0.113.9") as http:
        yield http


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every password verification the service runs (True for a real account's hash), in order."""
    import service.security as security

    calls: list[bool] = []
    real_verify: Callable[[str, str, bool], bool] = security._verify

    def counting(password_hash: str, password: str, real: bool) -> bool:
        calls.append(real)
        return real_verify(password_hash, password, real)

    monkeypatch.setattr(security, "_verify", counting)
    return calls


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/token", data={"username": email, "password": password})


async def counters(database_url: str) -> dict[str, int]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT key, failures FROM login_throttles")
    finally:
        await connection.close()
    return {row["key"]: row["failures"] for row in rows}


async def test_ten_failures_from_one_address_lock_that_address_out_not_the_owner_elsewhere(
    client: httpx.AsyncClient, elsewhere: httpx.AsyncClient, make_user: MakeUser, app_settings: Settings
) -> None:
    await make_user(email="ada@example.com")
    statuses = [(await attempt(client, "ada@example.com", "wrong")).status_code for _ in range(10)]
    limit = app_settings.login_max_failures
    assert statuses == [401] * limit + [429] * (10 - limit)
    locked = await attempt(client, "ada@example.com", PASSWORD)
    assert_error(locked, 429)
    assert 0 < int(locked.headers["retry-after"]) <= app_settings.login_window_seconds
    assert (await attempt(elsewhere, "ADA@example.com", PASSWORD)).status_code == 200


async def test_parallel_guesses_verify_no_more_passwords_than_the_limit(
    client: httpx.AsyncClient, make_user: MakeUser, app_settings: Settings, verifications: list[bool]
) -> None:
    """120 wrong passwords at once for one account from one address: the check and the count are one step."""
    await make_user(email="ada@example.com")
    responses = await asyncio.gather(*(attempt(client, "ada@example.com", f"wrong {n}") for n in range(120)))
    limit = app_settings.login_max_failures
    assert Counter(r.status_code for r in responses) == {401: limit, 429: 120 - limit}
    assert len(verifications) == limit
    assert_error(await attempt(client, "ada@example.com", PASSWORD), 429)  # the owner waits it out like anyone
    assert len(verifications) == limit


async def test_parallel_spray_from_one_address_verifies_at_most_its_limit(
    app: Any, make_user: MakeUser, app_settings: Settings, verifications: list[bool], database_url: str
) -> None:
    """150 wrong passwords at once for 150 accounts from one address: at most LOGIN_ADDRESS_MAX_FAILURES checked
    (some may be refused for hashing capacity instead: those are given back, never counted)."""
    limit = app_settings.login_address_max_failures
    assert limit < 150
    async with client_from(app, "198.51.100.7") as sprayer:
        responses = await asyncio.gather(*(attempt(sprayer, f"guess{n}@example.com", "wrong") for n in range(150)))
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {401, 429, 503}, statuses
    assert statuses[429] >= 150 - limit
    assert len(verifications) == statuses[401] <= limit
    assert (await counters(database_url))["ip:198.51.100.7"] == statuses[401]


async def test_an_account_ceiling_stops_guessing_spread_over_many_addresses(
    app: Any, app_settings: Settings, make_user: MakeUser, verifications: list[bool]
) -> None:
    ceiling = 8
    throttled = create_app(app_settings.model_copy(update={"login_account_max_failures": ceiling}))
    await make_user(email="ada@example.com")
    statuses: list[int] = []
    for n in range(4):  # four addresses, three guesses each: below the per-address limit of five
        async with client_from(throttled, f"198.51.100.{n + 1}") as guesser:
            statuses += [(await attempt(guesser, "ada@example.com", "wrong")).status_code for _ in range(3)]
    assert statuses == [401] * ceiling + [429] * (12 - ceiling)
    assert len(verifications) == ceiling
    async with client_from(throttled, "192.0.2.44") as owner:
        locked = await attempt(owner, "ada@example.com", PASSWORD)
    assert_error(locked, 429)
    assert 0 < int(locked.headers["retry-after"]) <= app_settings.login_account_window_seconds


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


async def test_a_successful_sign_in_clears_its_address_counter_and_gives_its_reservation_back(
    client: httpx.AsyncClient, make_user: MakeUser, app_settings: Settings, database_url: str
) -> None:
    await make_user(email="ada@example.com")
    below = app_settings.login_max_failures - 1
    for _ in range(below):
        assert_error(await attempt(client, "ada@example.com", "wrong"), 401)
    assert (await attempt(client, "ada@example.com", PASSWORD)).status_code == 200
    # the failures stay on the account's ceiling and the address's count; the success itself counts nowhere
    assert await counters(database_url) == {"email:ada@example.com": below, "ip:127.0.0.1": below}
    for _ in range(below):
        assert_error(await attempt(client, "ada@example.com", "wrong"), 401)
    assert (await attempt(client, "ada@example.com", PASSWORD)).status_code == 200


async def test_the_lock_ends_with_its_window_and_lives_in_the_database(
    client: httpx.AsyncClient, make_user: MakeUser, app_settings: Settings, database_url: str
) -> None:
    await make_user(email="ada@example.com")
    limit = app_settings.login_max_failures
    for _ in range(limit):
        await attempt(client, "ada@example.com", "wrong")
    assert_error(await attempt(client, "ada@example.com", PASSWORD), 429)
    assert await counters(database_url) == {
        "email:ada@example.com ip:127.0.0.1": limit,
        "email:ada@example.com": limit,  # far below the account's ceiling
        "ip:127.0.0.1": limit,  # far below the address's own limit
    }
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "UPDATE login_throttles SET window_started_at = now() - make_interval(secs => $1)",
            max(app_settings.login_window_seconds, app_settings.login_account_window_seconds) + 1,
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
