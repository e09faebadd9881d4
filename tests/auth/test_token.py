"""POST /auth/token and GET /users/me: the password flow and what makes a token stop working."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt

from service.models import User
from service.settings import Settings
from tests.conftest import PASSWORD, MakeUser
from tests.helpers import USER_KEYS, assert_error


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/auth/token", data={"username": email, "password": password})


async def test_login_returns_a_bearer_token_that_identifies_the_user(
    client: httpx.AsyncClient, make_user: MakeUser, app_settings: Settings
) -> None:
    user = await make_user(email="ada@example.com")
    response = await login(client, "ada@example.com")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == app_settings.jwt_ttl_seconds
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert set(me.json()) == USER_KEYS
    assert me.json()["id"] == user.id


async def test_login_email_is_case_insensitive_and_trimmed(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(email="grace@example.com")
    response = await login(client, "  Grace@EXAMPLE.com ")
    assert response.status_code == 200, response.text


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="ada@example.com")
    wrong = await login(client, "ada@example.com", "not the password")
    unknown = await login(client, "nobody@example.com")
    for response in (wrong, unknown):
        assert_error(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    assert wrong.json() == unknown.json()


async def test_login_validates_its_form(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/auth/token", data={"username": "a@example.com"}), 400, keys={"password"})
    assert_error(await client.post("/auth/token", data={}), 400, keys={"username", "password"})


async def test_login_takes_a_form_not_json(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(email="ada@example.com")
    response = await client.post("/auth/token", json={"username": "ada@example.com", "password": PASSWORD})
    assert_error(response, 415)


async def test_me_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/me")
    assert_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_malformed_forged_and_expired_tokens_are_401(
    client: httpx.AsyncClient, make_user: MakeUser, app_settings: Settings
) -> None:
    user = await make_user()
    now = int(time.time())
    expired = jwt.encode(
        {"sub": str(user.id), "ver": 0, "iat": now - 7200, "exp": now - 3600}, app_settings.jwt_secret, "HS256"
    )
    forged = jwt.encode(
        {"sub": str(user.id), "ver": 0, "iat": now, "exp": now + 3600},
        "a-different-secret-that-is-long-enough",
        "HS256",
    )
    unsigned = jwt.encode({"sub": str(user.id), "ver": 0, "iat": now, "exp": now + 3600}, None, "none")
    huge_id = jwt.encode({"sub": str(2**70), "ver": 0, "iat": now, "exp": now + 60}, app_settings.jwt_secret, "HS256")
    for header in (
        "Bearer not-a-jwt",
        f"Bearer {expired}",
        f"Bearer {forged}",
        f"Bearer {unsigned}",
        f"Bearer {huge_id}",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ):
        assert_error(await client.get("/users/me", headers={"Authorization": header}), 401)


async def test_token_of_a_deleted_user_is_401(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Callable[[User], dict[str, str]]
) -> None:
    user = await make_user()
    headers = token_for(user)
    assert (await client.get("/users/me", headers=headers)).status_code == 200
    await user.delete()
    response = await client.get("/users/me", headers=headers)
    assert response.json() == {"status_code": 401, "detail": "The account for this token no longer exists"}
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_token_issued_before_a_password_change_is_401(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Callable[[User], dict[str, str]]
) -> None:
    user = await make_user(email="ada@example.com")
    old = token_for(user)
    response = await client.patch(f"/users/{user.id}", json={"password": "a brand new secret"}, headers=old)
    assert response.status_code == 200, response.text
    stale = await client.get("/users/me", headers=old)
    assert stale.json() == {"status_code": 401, "detail": "The token is no longer valid; sign in again"}
    assert_error(await login(client, "ada@example.com"), 401)
    fresh = await login(client, "ada@example.com", "a brand new secret")
    assert fresh.status_code == 200
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {fresh.json()['access_token']}"})
    assert me.status_code == 200
